"""``avsa-probe``: how well a checkpoint's embeddings classify a labelled folder (the audio
downstream tasks of the paper, Sec. V-D/E), by stratified k-fold cross-validation.

Protocol:

- **inputs**: LABELS.csv with columns ``file,label`` (paths relative to the data folder). Each
  file is embedded at clip level with :func:`avsa_learn.embed.embed_file` (1 s windows without
  overlap, averaged; ambiX audio turned into the checkpoint's format/feature for a crop at the
  look direction, azimuth counter-clockwise from the front, elevation up). Unreadable files are
  skipped and reported. ``modality`` ``video`` uses video embeddings, ``fusion`` the
  concatenation audio ‖ video (early fusion, Table V).
- **folds**: :func:`stratified_folds`: every class is spread over the k folds as evenly as
  possible (sizes differ by at most one), the order shuffled by ``seed`` only.
- **linear probe** (encoder frozen, the paper's "linear classification layer"): per fold, the
  embeddings are standardised with the training part's mean and standard deviation and an
  L2-regularised multinomial logistic regression (``C`` = 1, lbfgs) is fitted.
- **fine-tuning** (``--finetune``): per fold, a copy of the pretrained audio encoder plus a new
  ``Linear(D, classes)`` are trained with Adam (``lr`` for the encoder, 10 × ``lr`` for the
  head) on the 1 s windows of the training files, each labelled with its file's label; a test
  file's prediction is the argmax of its windows' mean logits.
- **accuracy**: the mean of the k fold accuracies with a 95 % confidence interval from the
  t-distribution with k − 1 degrees of freedom (mean ± t·s/√k, s the fold accuracies' sample
  standard deviation; clipped to [0, 1]). The folds share training data, so this is the usual
  approximate interval. Also reported: the pooled accuracy of all out-of-fold predictions with
  its Wilson score interval (n = number of files), the per-class accuracy (recall of each
  class over the pooled predictions), the confusion matrix and the chance level 1 / classes.

Example::

    >>> r = probe_embeddings(X, y, folds=5, seed=0)      # doctest: +SKIP
    >>> r["accuracy"], r["ci95"]                         # doctest: +SKIP
    (0.9, [0.85, 0.95])

    avsa-probe runs/a/last.pt --data eigenscape/ --labels eigenscape/labels.csv --json r.json
"""
import argparse
import copy
import csv
import json
import logging
import sys
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODALITIES = ("audio", "video", "fusion")
#: Two-sided 95 % standard normal quantile (Wilson interval).
Z95 = 1.959963984540054


class ProbeError(ValueError):
    """A probe that cannot be run as asked (too few samples per class, bad labels file...)."""


def _check_labels(y, folds):
    """(classes, integer labels) of ``y``; raises :class:`ProbeError` when a stratified
    ``folds``-fold split is impossible."""
    if isinstance(folds, bool) or int(folds) != folds or folds < 2:
        raise ProbeError(f"folds must be an integer >= 2, got {folds!r}")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ProbeError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
    classes, yi, counts = np.unique(y, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise ProbeError(f"need at least 2 classes, got {len(classes)} ({classes.tolist()})")
    small = [f"{c!s} ({n})" for c, n in zip(classes, counts) if n < folds]
    if small:
        raise ProbeError(f"every class needs at least folds={folds} samples; too few: "
                         + ", ".join(small))
    return classes, yi


def stratified_folds(y, folds=5, seed=0):
    """Test indices of each of ``folds`` stratified folds (list of sorted int arrays that
    partition ``range(len(y))``): each class's samples are spread over the folds as evenly as
    possible, in an order that depends on ``seed`` only (sklearn's StratifiedKFold, shuffled).
    """
    from sklearn.model_selection import StratifiedKFold

    _, yi = _check_labels(y, folds)
    skf = StratifiedKFold(n_splits=int(folds), shuffle=True, random_state=int(seed))
    return [np.sort(test) for _, test in skf.split(np.zeros(len(yi)), yi)]


def t_interval(values, confidence=0.95):
    """(mean, low, high): the t-distribution confidence interval of the mean of ``values``
    (k >= 2 numbers), mean ± t_{(1+c)/2, k-1} · s / √k with s the sample standard deviation.

    >>> [round(v, 4) for v in t_interval([0.8, 0.9, 1.0])]
    [0.9, 0.6516, 1.1484]
    """
    from scipy.stats import t

    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) < 2:
        raise ProbeError(f"a t-interval needs at least 2 values, got {v.shape}")
    mean = float(v.mean())
    half = float(t.ppf((1 + confidence) / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half


def wilson_interval(k, n, z=Z95):
    """(low, high): the Wilson score interval of a proportion of ``k`` successes in ``n``.

    >>> [round(v, 4) for v in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    if n < 1 or not 0 <= k <= n:
        raise ProbeError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def summarize(classes, yi, pred, splits, method, seed):
    """The result dict of a cross-validated classification (see the module docstring):
    ``classes`` (n_classes,), true and predicted class indices ``yi``/``pred`` (n,), the
    test indices of each fold ``splits``."""
    fold_acc = [float(np.mean(pred[s] == yi[s])) for s in splits]
    mean, lo, hi = t_interval(fold_acc)
    n, correct = len(yi), int(np.sum(pred == yi))
    k = len(classes)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (yi, pred), 1)
    names = [str(c) for c in classes]
    per_class = {name: {"n": int(confusion[i].sum()),
                        "accuracy": float(confusion[i, i] / confusion[i].sum())}
                 for i, name in enumerate(names)}
    return {"method": method, "folds": len(splits), "seed": int(seed), "n_samples": n,
            "n_classes": k, "classes": names, "accuracy": mean,
            "ci95": [max(0.0, lo), min(1.0, hi)], "fold_accuracies": fold_acc,
            "pooled_accuracy": correct / n, "pooled_ci95": list(wilson_interval(correct, n)),
            "chance": 1.0 / k, "majority": float(confusion.sum(1).max() / n),
            "per_class": per_class, "confusion": confusion.tolist(),
            "predictions": [names[p] for p in pred]}


def probe_embeddings(X, y, folds=5, seed=0, C=1.0):
    """Linear probe of embeddings ``X`` (n, D) with labels ``y`` (n,) by stratified k-fold
    cross-validation: per fold a standardisation + logistic regression fitted on the training
    part. Returns the dict of :func:`summarize` (``accuracy``, ``ci95``, ``fold_accuracies``,
    ``pooled_accuracy``, ``pooled_ci95``, ``per_class``, ``confusion``, ``chance``...).

    >>> r = probe_embeddings(np.r_[np.zeros((5, 2)), np.ones((5, 2))], [0] * 5 + [1] * 5)
    >>> r["accuracy"]
    1.0
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=np.float64)
    classes, yi = _check_labels(y, folds)
    if X.ndim != 2 or len(X) != len(yi):
        raise ProbeError(f"X must be (n, D) with n = {len(yi)} labels, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ProbeError("X holds NaN or inf")
    splits = stratified_folds(yi, folds, seed)
    pred = np.empty(len(yi), dtype=int)
    for test in splits:
        train = np.setdiff1d(np.arange(len(yi)), test)
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
        clf.fit(X[train], yi[train])
        pred[test] = clf.predict(X[test])
    return summarize(classes, yi, pred, splits, "linear", seed)


def finetune_probe(encoder, windows, y, folds=5, seed=0, epochs=10, lr=1e-4, batch_size=32,
                   device="cpu", progress=False):
    """Fine-tuning by stratified k-fold cross-validation (see the module docstring).

    ``encoder``: the pretrained audio encoder (``model.encoders.audio_encoder``; copied per
    fold, never modified); ``windows``: per file, its window inputs (K_i, C, F, M); ``y`` (n,)
    labels. Deterministic in ``seed`` on CPU. Returns the dict of :func:`summarize`.
    """
    import torch
    from torch import nn
    from tqdm import tqdm

    classes, yi = _check_labels(y, folds)
    if len(windows) != len(yi):
        raise ProbeError(f"{len(windows)} files of windows but {len(yi)} labels")
    splits = stratified_folds(yi, folds, seed)
    tensors = [torch.as_tensor(np.asarray(w), dtype=torch.float32) for w in windows]
    pred = np.empty(len(yi), dtype=int)
    bar = tqdm(total=len(splits) * epochs, desc="fine-tuning", disable=not progress,
               file=sys.stderr)
    for f, test in enumerate(splits):
        train = np.setdiff1d(np.arange(len(yi)), test)
        xs = torch.cat([tensors[i] for i in train])
        ys = torch.cat([torch.full((len(tensors[i]),), int(yi[i])) for i in train])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed) * 1000 + f)
            enc = copy.deepcopy(encoder).to(device).train().requires_grad_(True)
            head = nn.Linear(enc.out_dim, len(classes)).to(device)
            opt = torch.optim.Adam([{"params": enc.parameters(), "lr": lr},
                                    {"params": head.parameters(), "lr": 10 * lr}])
            gen = torch.Generator().manual_seed(int(seed) * 1000 + f)
            for _ in range(epochs):
                order = torch.randperm(len(xs), generator=gen)
                for b in range(0, len(order), batch_size):
                    idx = order[b:b + batch_size]
                    if len(idx) < 2:  # BatchNorm needs two samples in training mode
                        continue
                    loss = nn.functional.cross_entropy(head(enc(xs[idx].to(device))),
                                                       ys[idx].to(device))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                bar.update()
            enc.eval()
            with torch.no_grad():
                for i in test:
                    logits = head(enc(tensors[i].to(device))).mean(0)
                    pred[i] = int(logits.argmax())
    bar.close()
    return summarize(classes, yi, pred, splits, "finetune", seed)


def read_labels(path, data_dir):
    """[(name, path, label)] from a CSV with columns ``file,label`` (``file`` relative to
    ``data_dir``). Raises :class:`ProbeError` naming the file for a missing column or an
    empty label."""
    path = Path(path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ProbeError(f"{path}: needs the columns file,label; missing "
                             f"{', '.join(sorted(missing))} (found {reader.fieldnames})")
        rows = []
        for line, row in enumerate(reader, start=2):
            name, label = (row["file"] or "").strip(), (row["label"] or "").strip()
            if not name or not label:
                raise ProbeError(f"{path}, line {line}: empty file or label")
            rows.append((name, Path(data_dir) / name, label))
    if not rows:
        raise ProbeError(f"{path}: no labelled files")
    return rows


def format_result(r):
    """A short text report of a result dict."""
    lines = [f"{'linear probe' if r['method'] == 'linear' else 'fine-tuning'}, {r['folds']}-fold "
             f"stratified CV (seed {r['seed']}), {r['n_samples']} files, {r['n_classes']} "
             f"classes (chance {r['chance']:.3f})",
             f"accuracy {r['accuracy']:.3f} (95% CI over folds {r['ci95'][0]:.3f}-"
             f"{r['ci95'][1]:.3f}); pooled {r['pooled_accuracy']:.3f} (Wilson 95% "
             f"{r['pooled_ci95'][0]:.3f}-{r['pooled_ci95'][1]:.3f})",
             f"{'class':<24}{'n':>6}{'accuracy':>10}"]
    lines += [f"{name:<24}{v['n']:>6}{v['accuracy']:>10.3f}" for name, v in r["per_class"].items()]
    return "\n".join(lines)


def build_parser():
    from avsa_learn.embed import add_input_arguments

    p = argparse.ArgumentParser(
        prog="avsa-probe", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Classify a labelled folder with a checkpoint's embeddings by stratified "
                    "k-fold cross-validation: a linear probe on frozen, standardised clip "
                    "embeddings (logistic regression), or --finetune the audio encoder with a "
                    "linear head. Reports the mean fold accuracy with a 95% t-interval, the "
                    "pooled accuracy with a Wilson interval and per-class accuracies.",
        epilog="LABELS.csv: a header line file,label then one line per file (path relative to "
               "--data).\n\nexamples:\n"
               "  avsa-probe runs/a/last.pt --data scenes/ --labels scenes/labels.csv\n"
               "  avsa-probe runs/a/last.pt --data scenes/ --labels labels.csv --folds 10 "
               "--json -\n"
               "  avsa-probe runs/a/last.pt --data scenes/ --labels labels.csv --finetune "
               "--epochs 20\n"
               "exit status: 0 done, 1 the probe could not be run (checkpoint, too few files "
               "per class), 2 usage errors.")
    p.add_argument("checkpoint", help="a .pt file written by avsa-train")
    p.add_argument("--data", required=True, metavar="DIR", help="folder of the labelled files")
    p.add_argument("--labels", required=True, metavar="CSV", help="file,label CSV")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds and fine-tuning")
    p.add_argument("--modality", choices=MODALITIES, default="audio",
                   help="audio embeddings (default), video embeddings, or their concatenation "
                        "(fusion); video needs video files")
    p.add_argument("--finetune", action="store_true",
                   help="fine-tune the audio encoder + a linear head per fold instead")
    p.add_argument("--epochs", type=int, default=10, help="fine-tuning epochs (default 10)")
    p.add_argument("--lr", type=float, default=1e-4,
                   help="fine-tuning learning rate of the encoder (head: 10x; default 1e-4)")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON ('-': stdout, the "
                                                  "text report then goes to stderr)")
    add_input_arguments(p)
    return p


def _embed_labelled(model, cfg, items, args, device):
    """(features (n, D) or per-file windows, labels, names, skipped) of the labelled files."""
    from tqdm import tqdm

    from avsa_learn.embed import (FILE_ERRORS, audio_features, embed_files, load_scene,
                                  window_length, window_starts)

    az, el = float(np.deg2rad(args.azimuth)), float(np.deg2rad(args.elevation))
    if args.finetune:
        feats, labels, names, skipped = [], [], [], []
        win = window_length(cfg.data)
        for name, path, label in tqdm(items, desc="windows", unit="file",
                                      disable=args.no_progress, file=sys.stderr):
            try:
                x, _ = load_scene(path, cfg.data, args.layout)
                feats.append(audio_features(x, window_starts(x.shape[1], win, win), cfg.data,
                                            az, el))
            except FILE_ERRORS as err:
                skipped.append((name, f"{type(err).__name__}: {err}"))
                continue
            labels.append(label)
            names.append(name)
        return feats, labels, names, skipped
    res = embed_files(model, cfg, [p for _, p, _ in items], progress=not args.no_progress,
                      azimuth=az, elevation=el, video=args.modality != "audio",
                      layout=args.layout, batch_size=args.batch_size, device=device)
    by_path = {str(p): (name, label) for name, p, label in items}
    skipped = [(by_path[p][0], err) for p, err in res.skipped]
    rows, labels, names = [], [], []
    for name, path, label in items:
        if str(path) in res.per_file:
            rows.append(res.per_file[str(path)][0])
            labels.append(label)
            names.append(name)
    parts = {"audio": [res.audio], "video": [res.video], "fusion": [res.audio, res.video]}
    X = np.concatenate([a[rows] for a in parts[args.modality]], axis=1)
    return X, labels, names, skipped


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if not Path(args.data).is_dir():
        parser.error(f"--data {args.data}: not a folder")
    if not Path(args.labels).is_file():
        parser.error(f"--labels {args.labels}: no such file")
    if args.finetune and args.modality != "audio":
        parser.error("--finetune fine-tunes the audio encoder: use it with --modality audio")
    if args.epochs < 1 or args.batch_size < 2 or not args.lr > 0:
        parser.error("--epochs must be >= 1, --batch-size >= 2 and --lr > 0")
    from avsa_learn.embed import setup_model

    try:
        items = read_labels(args.labels, args.data)
        _check_labels(np.array([label for _, _, label in items]), args.folds)  # fail early
        model, cfg, device = setup_model(args.checkpoint, args.device)
        X, labels, names, skipped = _embed_labelled(model, cfg, items, args, device)
        for name, err in skipped:
            print(f"avsa-probe: skipped {name}: {err}", file=sys.stderr)
        if args.finetune:
            result = finetune_probe(model.encoders.audio_encoder, X, labels, args.folds,
                                    args.seed, args.epochs, args.lr, args.batch_size, device,
                                    progress=not args.no_progress)
        else:
            result = probe_embeddings(X, labels, args.folds, args.seed)
    except (ProbeError, RuntimeError, OSError) as err:
        print(f"avsa-probe: error: {err}", file=sys.stderr)
        return 1
    result.update(checkpoint=str(args.checkpoint), modality=args.modality,
                  azimuth_deg=args.azimuth, elevation_deg=args.elevation, files=names,
                  skipped=[{"file": n, "error": e} for n, e in skipped])
    text = format_result(result)
    if args.json == "-":
        print(json.dumps(result, indent=2))
        print(text, file=sys.stderr)
    else:
        print(text)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
