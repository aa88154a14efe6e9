"""``avsa-eval``: the AVC and AVSA tasks of [17] on frozen features.

Protocol (the reference's, with its test-set bug fixed):

1. The backbones are frozen. Every labelled *pair* is one clip drawn by
   ``AVSADataset.sample`` (4 crops, each with its own crop audio, no augmentation):
   - **AVC**: half the pairs (an exact, seeded half) take their audio from another clip of the
     same split and of another video (``audio_from=j``); label 1 = mismatched;
   - **AVSA**: half the pairs have the scene audio rotated by a yaw with
     ``eval.min_yaw_deg`` <= |yaw| <= 180° (uniform, random sign) before the per-crop
     processing (``audio_yaw``); label 1 = rotated. The reference draws yaw ~ U(-π, π), which
     also labels tiny, invisible rotations "rotated"; 45° exceeds the half field of view of the
     widest crop (38°), so a rotated sound always leaves its crop.
2. Features (video 512 ‖ audio 512 per crop) are computed once for the train and test pairs,
   z-scored with train statistics, and a classifier dropout 0.5 → Linear(1024, 512) → ReLU →
   Linear(512, 2) is trained on the train crops (Adam, ``eval.epochs``, ``eval.batch_size``,
   ``eval.avc_lr`` / ``eval.avsa_lr``).
3. Test accuracy: logits averaged over the 4 crops of a pair, then argmax. The chance level is
   the majority-class fraction of the test labels (0.5 by construction).

Every pair, crop, partner clip and yaw comes from ``np.random.default_rng([eval.seed, task,
split, clip, draw])`` and the classifier from ``torch.Generator`` seeded by ``eval.seed``: two
evaluations of one checkpoint give identical numbers.

Example::

    avsa-eval runs/a/last.pt --json runs/a/eval.json
    avsa-eval runs/a/last.pt --data my/index.jsonl --set eval.test_draws=4
"""
import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from avsa_learn.config import ConfigError, TrainConfig, resolve_config

TASKS = ("avc", "avsa")
# Data settings that shape the model's inputs: they must match the checkpoint's.
INPUT_KEYS = ("audio_format", "feature", "n_mels", "audio_seconds", "sample_rate", "n_frames",
              "fps", "crop_size")


class EvaluationError(ValueError):
    """An evaluation that cannot be run as asked (mismatched config, too little data)."""


def check_compatible(trained, requested):
    """Raise :class:`EvaluationError` when ``requested`` (a TrainConfig) feeds the model other
    inputs than it was trained on (``trained``)."""
    bad = [f"data.{k}: checkpoint {getattr(trained.data, k)!r}, requested "
           f"{getattr(requested.data, k)!r}" for k in INPUT_KEYS
           if getattr(trained.data, k) != getattr(requested.data, k)]
    if bad:
        raise EvaluationError("the evaluation data do not match the checkpoint's inputs ("
                              + "; ".join(bad) + "); evaluate with the training settings")


def draw_pairs(dataset, task, split, seed, min_yaw_deg, draws=1):
    """The labelled pairs of a split: list of dicts (clip, draw seed, audio_yaw, audio_from,
    label), exactly balanced when their number is even. Depends on the arguments only."""
    records = dataset.records
    n = len(records) * draws
    if n == 0:
        return []
    t, s = TASKS.index(task), ("train", "test").index(split)
    labels = np.random.default_rng([seed, t, s]).permutation(n) % 2
    pairs = []
    for k in range(n):
        i, d = divmod(k, draws)
        rng = np.random.default_rng([seed, t, s, i, d])
        pair = {"clip": i, "seed": [seed, t, s, i, d, 1], "audio_yaw": 0.0, "audio_from": None,
                "label": int(labels[k])}
        if labels[k] and task == "avc":
            others = [j for j, r in enumerate(records) if r.video_id != records[i].video_id]
            if not others:
                raise EvaluationError(f"{split} split: every clip is from one video, AVC "
                                      "mismatches need clips of another video")
            pair["audio_from"] = int(others[rng.integers(len(others))])
        elif labels[k]:
            lo = np.deg2rad(min_yaw_deg)
            pair["audio_yaw"] = float(rng.choice([-1.0, 1.0]) * rng.uniform(lo, np.pi))
        pairs.append(pair)
    return pairs


class _Pairs(Dataset):
    """Items of labelled pairs: entry n = (split name, pair dict) of ``datasets[split]``."""

    def __init__(self, datasets, entries):
        self.datasets, self.entries = datasets, entries

    def __len__(self):
        return len(self.entries)

    def __getitem__(self, n):
        split, p = self.entries[n]
        item = self.datasets[split].sample(p["clip"], np.random.default_rng(p["seed"]),
                                           audio_yaw=p["audio_yaw"], audio_from=p["audio_from"])
        if item is None:
            return None
        return {"video": item["video"], "audio": item["audio"], "entry": n}


@torch.no_grad()
def extract_features(model, datasets, entries, batch_size=16, num_workers=0, device="cpu",
                     progress=False):
    """Frozen features of labelled pairs in one pass (each clip decoded once per worker):
    ``entries`` = [(split, pair)] → (float32 (P, K, 2D) video ‖ audio features, kept entry
    indices (P,)). Undecodable clips are dropped (logged by the dataset)."""
    from avsa_learn.data.datasets import collate_skip_bad
    from avsa_learn.trainer import WORKER_CONTEXT

    model.eval()
    device = torch.device(device)
    loader = DataLoader(_Pairs(datasets, entries), batch_size=batch_size,
                        num_workers=num_workers, collate_fn=collate_skip_bad,
                        multiprocessing_context=WORKER_CONTEXT if num_workers else None)
    feats, kept = [], []
    for batch in tqdm(loader, desc="eval features", leave=False, disable=not progress):
        if batch is None:
            continue
        v, a = model(batch["video"].to(device), batch["audio"].to(device))
        feats.append(torch.cat([v, a], -1).float().cpu())
        kept.append(batch["entry"])
    if not feats:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.cat(feats), torch.cat(kept)


def make_classifier(in_dim, hidden=512, dropout=0.5):
    """dropout → Linear(in_dim, hidden) → ReLU → Linear(hidden, 2) ([17]: 1024 → 512 → 2)."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.ReLU(),
                         nn.Linear(hidden, 2))


def train_classifier(x, y, ecfg, lr, seed):
    """Fit the classifier on per-crop features ``x`` (N, K, F) with pair labels ``y`` (N,);
    returns (classifier, mean, std) with the z-scoring statistics."""
    g = torch.Generator().manual_seed(seed)
    flat = x.reshape(-1, x.shape[-1])
    mean, std = flat.mean(0), flat.std(0) + 1e-6
    flat = (flat - mean) / std
    labels = y.repeat_interleave(x.shape[1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clf = make_classifier(flat.shape[1], ecfg.hidden, ecfg.dropout)
        opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=ecfg.weight_decay)
        clf.train()
        for _ in range(ecfg.epochs):
            order = torch.randperm(len(flat), generator=g)
            for b in range(0, len(flat), ecfg.batch_size):
                idx = order[b:b + ecfg.batch_size]
                loss = nn.functional.cross_entropy(clf(flat[idx]), labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    clf.eval()
    return clf, mean, std


@torch.no_grad()
def predict(clf, mean, std, x):
    """Pair predictions (N,): argmax of the logits averaged over the K crops."""
    logits = clf((x - mean) / std)  # (N, K, 2)
    return logits.mean(1).argmax(-1)


def evaluate_model(model, cfg, records, objects=None, tasks=TASKS, device="cpu", progress=False):
    """Run the AVC/AVSA evaluation of ``model`` (an AudioVisualModel) on the train/test splits of
    ``records``; returns a dict of fractions and counts (see module doc)."""
    from avsa_learn.data.datasets import AVSADataset

    e = cfg.eval
    sets = {s: AVSADataset(records, cfg.data, split=s, train=False, seed=e.seed, objects=objects,
                           skip_bad=True) for s in ("train", "test")}
    for s, ds in sets.items():
        if len(ds) < 2:
            raise EvaluationError(f"the {s} split has {len(ds)} clips; the evaluation needs at "
                                  "least 2 per split")
    groups, entries = {}, []
    for task in tasks:
        for s, ds in sets.items():
            pairs = draw_pairs(ds, task, s, e.seed, e.min_yaw_deg,
                               e.train_draws if s == "train" else e.test_draws)
            groups[task, s] = range(len(entries), len(entries) + len(pairs))
            entries += [(s, p) for p in pairs]
    with torch.random.fork_rng(devices=[]):
        x, kept = extract_features(model.to(device), sets, entries, e.feature_batch_size,
                                   cfg.runtime.num_workers, device, progress)
    kept = kept.tolist()
    out = {"seed": e.seed, "min_yaw_deg": e.min_yaw_deg}
    for task in tasks:
        data = {}
        for s in sets:
            rows = [r for r, n in enumerate(kept) if n in groups[task, s]]
            if not rows:
                raise EvaluationError(f"{task}: no {s} pair could be decoded")
            y = torch.tensor([entries[kept[r]][1]["label"] for r in rows], dtype=torch.long)
            data[s] = (x[rows], y)
        lr = e.avc_lr if task == "avc" else e.avsa_lr
        clf, mean, std = train_classifier(*data["train"], e, lr, e.seed)
        xt, y = data["test"]
        out[f"{task}_accuracy"] = (predict(clf, mean, std, xt) == y).float().mean().item()
        out[f"{task}_chance"] = max(y.float().mean().item(), 1 - y.float().mean().item())
        out[f"{task}_train_pairs"] = len(data["train"][1])
        out[f"{task}_test_pairs"] = len(y)
    return out


def format_table(result):
    """A small text table of the accuracies beside their chance levels."""
    lines = [f"{'task':<6}{'accuracy':>10}{'chance':>9}{'test pairs':>12}"]
    for task in TASKS:
        if f"{task}_accuracy" in result:
            lines.append(f"{task.upper():<6}{result[task + '_accuracy']:>10.3f}"
                         f"{result[task + '_chance']:>9.3f}{result[task + '_test_pairs']:>12d}")
    return "\n".join(lines)


def evaluation_config(ckpt_config, overrides=(), extra=None):
    """The checkpoint's config with evaluation overrides applied; input settings must match."""
    cfg = resolve_config(None, None, overrides, extra, base=ckpt_config)
    check_compatible(TrainConfig.from_dict(ckpt_config), cfg)
    return cfg


def evaluate_checkpoint(path, overrides=(), extra=None, tasks=TASKS, progress=False):
    """Load a checkpoint and evaluate it; returns the result dict (with ``checkpoint``)."""
    from avsa_learn.distributed import pick_device
    from avsa_learn.pretrained import load_pretrained
    from avsa_learn.trainer import load_data

    model, trained = load_pretrained(path)
    cfg = evaluation_config(trained.to_dict(), overrides, extra)
    index, records, objects = load_data(cfg)
    device = pick_device(cfg.runtime.device)
    result = evaluate_model(model, cfg, records, objects, tasks, device, progress)
    result.update(checkpoint=str(path), index=str(index))
    return result


def build_parser():
    p = argparse.ArgumentParser(
        prog="avsa-eval", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Evaluate a checkpoint on the AVC and AVSA tasks of [17]: frozen features, "
                    "a small classifier trained on the train split, accuracy on the test split "
                    "(a fixed, seeded test set) beside the chance level.",
        epilog="examples:\n"
               "  avsa-eval runs/a/last.pt\n"
               "  avsa-eval runs/a/last.pt --data data/yt360/index.jsonl --json eval.json\n"
               "  avsa-eval runs/a/last.pt --tasks avsa --set eval.min_yaw_deg=90\n"
               "The data settings that shape the inputs (audio format, feature, mel bands, "
               "frames, crop size...) must match the checkpoint's.")
    p.add_argument("checkpoint", help="a .pt file written by avsa-train")
    p.add_argument("--data", metavar="INDEX", help="clip index (JSONL); default: the "
                   "checkpoint's training index (or its synthetic data set)")
    p.add_argument("--detections", help="'ground-truth' or a detection cache (avsa-detect) for "
                   "object/quadrants crops")
    p.add_argument("--crop-strategy", choices=("random", "object", "quadrants", "audio"))
    p.add_argument("--audio-format", choices=("ambi", "mono", "stereo"),
                   help="must match the checkpoint")
    p.add_argument("--feature", choices=("logmel", "foa-iv", "icf"), help="must match the "
                   "checkpoint")
    p.add_argument("--tasks", default="avc,avsa", help="comma-separated: avc, avsa")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. eval.seed=7, eval.test_draws=4, "
                        "runtime.num_workers=2 (repeatable)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def flags_to_dict(args):
    """The dedicated data flags of avsa-train/avsa-eval as a nested config dict."""
    data = {k: v for k, v in (("index", getattr(args, "data", None)),
                              ("detections", args.detections),
                              ("crop_strategy", args.crop_strategy),
                              ("audio_format", args.audio_format),
                              ("feature", args.feature)) if v is not None}
    return {"data": data} if data else None


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    if not tasks or any(t not in TASKS for t in tasks):
        print(f"avsa-eval: --tasks must list avc and/or avsa, got {args.tasks!r}", file=sys.stderr)
        return 2
    try:
        result = evaluate_checkpoint(args.checkpoint, args.overrides, flags_to_dict(args), tasks,
                                     progress=not args.no_progress)
    except (ConfigError, EvaluationError, RuntimeError, OSError) as e:
        print(f"avsa-eval: error: {e}", file=sys.stderr)
        return 1
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
