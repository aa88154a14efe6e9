"""``avsa-eval``: the AVC and AVSA tasks of [17] on frozen features, with floors beside them.

One fixed protocol for every compared model (the same test clips, crops, windows and
rotations, whatever the model was trained with); the object-crop protocol is reported apart:

1. **Views.** Each clip of a split is drawn ``draws`` times (test: enough draws for
   ``eval.min_test_pairs`` pairs per task, at least ``eval.test_draws``; train:
   ``eval.train_draws``). A view = one time window and 4 crops (``AVSADataset.sample``, no
   augmentation) with the main protocol's crops ``eval.crop_strategy`` (``random``, as [17]) or,
   for the object protocol, ``eval.object_crops`` (``quadrants``: one crop per azimuth quadrant,
   on a detected object when there is one; needs ``data.detections``).
2. **Pairs, twinned.** Every view gives one aligned pair (its own audio, label 0) and, per task,
   one altered pair (label 1) with the *same* video crops, so labels are exactly balanced and
   the video features cannot tell the two apart:
   - **AVC**: the audio of a clip of another video of the split (same window offset);
   - **AVSA** (>= ``eval.min_yaw_deg``): the scene audio yawed by ``eval.min_yaw_deg`` <= |yaw|
     <= 180° (uniform, random sign) before the per-crop processing; 45° exceeds the half field
     of view of the widest crop (38°), so a rotated sound always leaves its crop;
   - **AVSA full circle** ([17]'s yaw ~ U(-180°, 180°)), reported per |yaw| bin (0-45, 45-90,
     90-135, 135-180) and on extra test pairs rotated by exactly 180° (``eval.mirror_pairs``):
     a front-back and left-right mirror to which per-channel log-mel is blind (signs of X, Y
     flip, magnitudes stay) and FOA-IV is not.
3. **Features**, extracted once per distinct item and reused by every score below: the trained
   backbones (video 512 ‖ audio 512 per crop), the *untrained* network (``build_model`` after
   ``torch.manual_seed(runtime.seed)``, as training starts) and, with
   ``eval.transformer_features``, the A2V/V2A transformer outputs ``V2A(v) ‖ A2V(a)`` over the 4
   crops (the reference's main evaluation; random for a model without AVSA training).
4. **Classifier** ([17]): z-scored crops, dropout 0.5 → Linear → ReLU → Linear(2), Adam,
   ``eval.epochs``, ``eval.batch_size``, ``eval.avc_lr`` / ``eval.avsa_lr``, trained on the train
   views; test accuracy = argmax of the logits averaged over the 4 crops; 95 % Wilson interval.
5. **Floors** beside every score, on the same pairs: the untrained network; an *audio-only* and a
   *video-only* classifier (the trained features of one modality). A model has learnt the task
   when it beats the highest floor.

Every view, partner clip and yaw comes from ``np.random.default_rng([eval.seed, split, clip,
draw])`` and every classifier from ``eval.seed``: two evaluations of one checkpoint give identical
numbers; two checkpoints are scored on identical pairs.

Example::

    avsa-eval runs/a/last.pt --json runs/a/eval.json
    avsa-eval runs/a/last.pt --data my/index.jsonl --set eval.min_test_pairs=4000
"""
import argparse
import dataclasses
import json
import logging
import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from avsa_learn.config import ConfigError, TrainConfig, resolve_config
from avsa_learn.eval_scores import accuracy_score, modality_floors, predict, yaw_bin_scores

TASKS = ("avc", "avsa")
SPLITS = ("train", "test")
FLOORS = ("untrained", "audio_only", "video_only")
# Data settings that shape the model's inputs: they must match the checkpoint's.
INPUT_KEYS = ("audio_format", "feature", "n_mels", "audio_seconds", "sample_rate", "n_frames",
              "fps", "crop_size")

log = logging.getLogger(__name__)


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


def draws_for_pairs(n_clips, min_pairs, draws):
    """Draws per test clip: at least ``draws``, and enough for ``min_pairs`` pairs per task
    (each view gives an aligned and an altered pair)."""
    return max(int(draws), math.ceil(int(min_pairs) / max(1, 2 * n_clips)))


def draw_views(records, split, seed, min_yaw_deg, draws=1):
    """The views of a split: list of dicts (clip, draw, seed, audio_from, yaw, yaw_full) for
    ``draws`` draws of each clip, a function of the arguments only. ``audio_from``: a clip of
    another video (None when the split has one video); ``yaw``: min_yaw_deg <= |yaw| <= 180°,
    random sign; ``yaw_full`` ~ U(-180°, 180°); radians."""
    videos = np.array([r.video_id for r in records], dtype=object)
    s = SPLITS.index(split)
    lo = np.deg2rad(min_yaw_deg)
    views = []
    for i in range(len(records)):
        others = np.flatnonzero(videos != videos[i])
        for d in range(draws):
            rng = np.random.default_rng([seed, s, i, d])
            src = int(others[rng.integers(len(others))]) if len(others) else None
            yaw = float(rng.choice([-1.0, 1.0]) * rng.uniform(lo, np.pi))
            views.append({"clip": i, "draw": d, "seed": [seed, s, i, d, 1], "audio_from": src,
                          "yaw": yaw, "yaw_full": float(rng.uniform(-np.pi, np.pi))})
    return views


#: The audio of each variant of a view: (audio_yaw, audio_from) from the view dict.
VARIANTS = {
    "aligned": lambda v: (0.0, None),
    "avc": lambda v: (0.0, v["audio_from"]),
    "avsa": lambda v: (v["yaw"], None),
    "avsa_full": lambda v: (v["yaw_full"], None),
    "mirror": lambda v: (np.pi, None),
}


class _ViewItems(Dataset):
    """Item n of ``jobs`` [(dataset key, view, variants)]: the view's video crops once and the
    audio of each variant: {"video" (K, 3, T, S, S), "audio" (V, K, C, F, M), "job": n}."""

    def __init__(self, datasets, jobs):
        self.datasets, self.jobs = datasets, jobs

    def __len__(self):
        return len(self.jobs)

    def __getitem__(self, n):
        key, view, variants = self.jobs[n]
        video, audio = None, []
        for name in variants:
            yaw, src = VARIANTS[name](view)
            item = self.datasets[key].sample(view["clip"], np.random.default_rng(view["seed"]),
                                             audio_yaw=yaw, audio_from=src,
                                             with_video=video is None)  # the same crops each time
            if item is None:
                return None
            video = item["video"] if video is None else video
            audio.append(item["audio"])
        return {"video": video, "audio": torch.stack(audio), "job": n}


def _collate(items):
    items = [it for it in items if it is not None]
    if not items:
        return None
    return {"video": torch.stack([it["video"] for it in items]),
            "audio": torch.cat([it["audio"] for it in items]),
            "n_variants": [len(it["audio"]) for it in items], "job": [it["job"] for it in items]}


@torch.no_grad()
def extract_view_features(models, datasets, jobs, batch_size=16, num_workers=0, device="cpu",
                          progress=False, transformer=False):
    """Frozen features of every job's view in one pass (video crops encoded once per view):
    ``models`` {name: AudioVisualModel} → {job index: {model name: {"video": (K, D),
    variant: (K, D) audio}}}; with ``transformer`` also {"transformer": {"video": V2A(v), variant:
    A2V(a)}} of the first model. Undecodable views are left out (logged by the dataset)."""
    from avsa_learn.trainer import WORKER_CONTEXT

    device = torch.device(device)
    for m in models.values():
        m.to(device).eval()
    first = next(iter(models))
    loader = DataLoader(_ViewItems(datasets, jobs), batch_size=batch_size,
                        num_workers=num_workers, collate_fn=_collate,
                        multiprocessing_context=WORKER_CONTEXT if num_workers else None)
    out = {}
    for batch in tqdm(loader, desc="eval features", leave=False, disable=not progress):
        if batch is None:
            continue
        video, audio = batch["video"].to(device), batch["audio"].to(device)
        b, k = video.shape[:2]
        per_model = {}
        for name, m in models.items():
            v = m.encoders.encode_video(video.flatten(0, 1)).reshape(b, k, -1)
            a = m.encoders.encode_audio(audio.flatten(0, 1)).reshape(len(audio), k, -1)
            per_model[name] = (v, a)
            if transformer and name == first:
                per_model["transformer"] = (m.avsa.v2a(v), m.avsa.a2v(a))
        start = 0
        for r, (n, nv) in enumerate(zip(batch["job"], batch["n_variants"])):
            out[n] = {}
            for name, (v, a) in per_model.items():
                d = {"video": v[r].float().cpu()}
                for j, var in enumerate(jobs[n][2]):
                    d[var] = a[start + j].float().cpu()
                out[n][name] = d
            start += nv
    return out


def _pairs(feats, job_ids, variant, model):
    """(x (2n, K, 2D), y (2n,), kept job ids): aligned then altered pair of each kept view."""
    kept = [n for n in job_ids if n in feats]
    if not kept:
        return None
    xs = [torch.cat([feats[n][model]["video"], feats[n][model][var]], -1)
          for var in ("aligned", variant) for n in kept]
    y = torch.tensor([0] * len(kept) + [1] * len(kept))
    return torch.stack(xs), y, kept


def _score_task(feats, groups, variant, ecfg, lr, dim, kinds):
    """The block of one (protocol, task): the trained score, its floors and the transformer
    score; "pred", "kept" of the trained classifier are kept for the per-bin report."""
    train = _pairs(feats, groups["train"], variant, "trained")
    test = _pairs(feats, groups["test"], variant, "trained")
    if train is None or test is None:
        raise EvaluationError(f"{variant}: no {'train' if train is None else 'test'} view could "
                              "be decoded")
    seed = ecfg.seed
    main = accuracy_score(train[:2], test[:2], ecfg, lr, seed)
    block = {k: main[k] for k in ("accuracy", "ci95", "n")}
    block.update(train_pairs=len(train[1]), chance=0.5, pred=main["pred"], kept=test[2],
                 classifier=main["classifier"])
    if "untrained" in kinds:
        block["floors"] = {"untrained": _strip(accuracy_score(
            _pairs(feats, groups["train"], variant, "untrained")[:2],
            _pairs(feats, groups["test"], variant, "untrained")[:2], ecfg, lr, seed))}
        block["floors"].update(modality_floors(train[:2], test[:2], dim, ecfg, lr, seed))
    if "transformer" in kinds:
        block["transformer"] = _strip(accuracy_score(
            _pairs(feats, groups["train"], variant, "transformer")[:2],
            _pairs(feats, groups["test"], variant, "transformer")[:2], ecfg, lr, seed))
    return block


def _strip(score):
    return {k: score[k] for k in ("accuracy", "ci95", "n")}


def untrained_model(cfg):
    """The network exactly as training starts it (``torch.manual_seed(runtime.seed)``, then
    ``build_model``); the global RNG is left as it was."""
    from avsa_learn.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.runtime.seed)
        return build_model(cfg)


def _protocols(cfg, objects):
    """[(name, crop strategy)] of the protocols to run: the main one and, when an object
    provider is there, the object-crop one."""
    e = cfg.eval
    out = [("main", e.crop_strategy)]
    if e.object_crops and objects is not None and e.object_crops != e.crop_strategy:
        out.append(("object", e.object_crops))
    return out


def evaluate_model(model, cfg, records, objects=None, tasks=TASKS, device="cpu", progress=False):
    """Run the evaluation of ``model`` (an AudioVisualModel) on the train/test splits of
    ``records``; returns the result dict (see the module doc and docs/training.md)."""
    from avsa_learn.data.datasets import AVSADataset

    e = cfg.eval
    protocols = _protocols(cfg, objects)
    sets, reader = {}, None
    for proto, crops in protocols:
        data = dataclasses.replace(cfg.data, crop_strategy=crops)
        for s in SPLITS:
            ds = AVSADataset(records, data, split=s, train=False, seed=e.seed, objects=objects,
                             skip_bad=True)
            if len(ds) < 2:
                raise EvaluationError(f"the {s} split has {len(ds)} clips; the evaluation needs "
                                      "at least 2 per split")
            if hasattr(ds, "_reader"):      # one decoded-clip cache for all protocols
                reader = reader or ds._reader
                ds._reader = reader
            sets[proto, s] = ds
    n_test = len(sets["main", "test"])
    draws = {"train": e.train_draws,
             "test": draws_for_pairs(n_test, e.min_test_pairs, e.test_draws)}
    views = {s: draw_views(sets["main", s].records, s, e.seed, e.min_yaw_deg, draws[s])
             for s in SPLITS}
    if "avc" in tasks:
        for s in SPLITS:
            if views[s] and views[s][0]["audio_from"] is None:
                raise EvaluationError(f"{s} split: every clip is from one video, AVC "
                                      "mismatches need clips of another video")
    jobs, groups = [], {}
    for s in SPLITS:
        for proto, _ in protocols:
            variants = ["aligned"] + [t for t in tasks]
            if proto == "main" and "avsa" in tasks and e.full_circle:
                variants.append("avsa_full")
                if s == "test" and e.mirror_pairs:
                    variants.append("mirror")
            groups[proto, s] = range(len(jobs), len(jobs) + len(views[s]))
            jobs += [((proto, s), v, variants) for v in views[s]]
    # clip-major order: the jobs of one clip follow each other (decoded once per worker)
    order = sorted(range(len(jobs)), key=lambda n: (jobs[n][0][1], jobs[n][1]["clip"], n))
    rank = {n: r for r, n in enumerate(order)}
    jobs = [jobs[n] for n in order]
    groups = {k: [rank[n] for n in g] for k, g in groups.items()}

    models = {"trained": model}
    kinds = []
    if e.floors:
        models["untrained"] = untrained_model(cfg)
        kinds.append("untrained")
    if e.transformer_features:
        kinds.append("transformer")
    with torch.random.fork_rng(devices=[]):
        feats = extract_view_features(models, sets, jobs, e.feature_batch_size,
                                      cfg.runtime.num_workers, device, progress,
                                      transformer="transformer" in kinds)
    dim = model.feature_dim

    scores = {}
    for proto, crops in protocols:
        g = {s: groups[proto, s] for s in SPLITS}
        block = {"crop_strategy": crops}
        names = list(tasks) + (["avsa_full"] if proto == "main" and "avsa" in tasks
                               and e.full_circle else [])
        for name in names:
            lr = e.avc_lr if name == "avc" else e.avsa_lr
            block[name] = _score_task(feats, g, name, e, lr, dim, kinds)
        if "avsa_full" in block:
            block["avsa_full"]["bins"] = _bins(feats, jobs, block["avsa_full"])
        for name in names:
            for k in ("pred", "kept", "classifier"):
                block[name].pop(k)
        scores[proto] = block
    return _result(scores, cfg, tasks, views, draws, n_test)


def _bins(feats, jobs, block):
    """Per-|yaw| report of the full-circle AVSA protocol (with the exact-180° pairs)."""
    kept = block["kept"]
    yaw = [0.0] * len(kept) + [jobs[n][1]["yaw_full"] for n in kept]
    label = torch.tensor([0] * len(kept) + [1] * len(kept))
    mirror = None
    mirror_ids = [n for n in kept if "mirror" in feats[n]["trained"]]
    if mirror_ids:
        clf, mean, std = block["classifier"]
        x = torch.stack([torch.cat([feats[n]["trained"]["video"], feats[n]["trained"]["mirror"]],
                                   -1) for n in mirror_ids])
        mirror = predict(clf, mean, std, x)
    return yaw_bin_scores(block["pred"], label, yaw, mirror)


def _result(scores, cfg, tasks, views, draws, n_test):
    """eval.json: the main protocol's scores at top level (``avc_accuracy``, ``floors`` ...), every
    protocol in ``scores``, and the protocol statement."""
    e = cfg.eval
    main = scores["main"]
    out = {"seed": e.seed, "min_yaw_deg": e.min_yaw_deg,
           "protocol": {"crop_strategy": e.crop_strategy,
                        "object_crops": scores.get("object", {}).get("crop_strategy"),
                        "test_clips": n_test, "test_draws": draws["test"],
                        "test_views": len(views["test"]), "train_draws": draws["train"],
                        "train_views": len(views["train"]),
                        "pairs": "twinned: each view gives an aligned and an altered pair",
                        "classifier": {"epochs": e.epochs, "batch_size": e.batch_size,
                                       "avc_lr": e.avc_lr, "avsa_lr": e.avsa_lr,
                                       "hidden": e.hidden}},
           "n_test_pairs": {t: main[t]["n"] for t in tasks}}
    for t in tasks:
        out[f"{t}_accuracy"] = main[t]["accuracy"]
        out[f"{t}_ci95"] = main[t]["ci95"]
        out[f"{t}_chance"] = 0.5
        out[f"{t}_train_pairs"] = main[t]["train_pairs"]
        out[f"{t}_test_pairs"] = main[t]["n"]
    if all("floors" in main[t] for t in tasks):
        out["floors"] = {f: {t: main[t]["floors"][f]["accuracy"] for t in tasks} for f in FLOORS}
        out["floors_ci95"] = {f: {t: main[t]["floors"][f]["ci95"] for t in tasks}
                              for f in FLOORS}
    if all("transformer" in main[t] for t in tasks):
        out["transformer"] = {t: main[t]["transformer"]["accuracy"] for t in tasks}
    out["scores"] = scores
    return out


def _cell(score):
    if score is None or score.get("accuracy") is None:
        return f"{'-':>21}"
    lo, hi = score["ci95"]
    return f"{score['accuracy']:>7.3f} [{lo:.3f},{hi:.3f}]"


TASK_NAMES = {"avc": "AVC", "avsa": "AVSA>={yaw:g}", "avsa_full": "AVSA full"}


def format_table(result):
    """Text table: per protocol and task the accuracy, its floors and the transformer score,
    each with its 95 % Wilson interval; then the full-circle AVSA accuracy per |yaw| bin."""
    p = result["protocol"]
    lines = [f"evaluation protocol (the same for every model): {p['test_clips']} test clips x "
             f"{p['test_draws']} draws = {p['test_views']} views, each an aligned and an altered "
             f"pair with the same crops; eval.seed {result['seed']}; chance 0.5; [95% Wilson]",
             f"{'task':<11}{'crops':<11}{'pairs':>6} {'trained':>21} {'untrained':>21} "
             f"{'audio only':>21} {'video only':>21} {'transformer':>21}"]
    for proto, block in result["scores"].items():
        for name in ("avc", "avsa", "avsa_full"):
            if name not in block:
                continue
            s = block[name]
            fl = s.get("floors", {})
            label = TASK_NAMES[name].format(yaw=result["min_yaw_deg"])
            lines.append(f"{label:<11}{block['crop_strategy']:<11}{s['n']:>6} {_cell(s)} "
                         f"{_cell(fl.get('untrained'))} {_cell(fl.get('audio_only'))} "
                         f"{_cell(fl.get('video_only'))} {_cell(s.get('transformer'))}")
    full = result["scores"]["main"].get("avsa_full")
    if full and "bins" in full:
        spec = full["bins"][0]
        lines.append(f"AVSA full circle per |yaw| bin ({p['crop_strategy']} crops): share called "
                     f"'rotated', and balanced accuracy with the {spec['n']} unrotated pairs "
                     f"(called 'unrotated': {spec['specificity']:.3f})")
        for row in full["bins"][1:]:
            if row["n"]:
                lo, hi = row["recall_ci95"]
                lines.append(f"  |yaw| {row['bin']:<13}{row['n']:>5} pairs  rotated "
                             f"{row['recall']:.3f} [{lo:.3f},{hi:.3f}]  balanced "
                             f"{row['balanced_accuracy']:.3f}")
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
               "  avsa-eval runs/a/last.pt --set eval.min_test_pairs=4000 --set eval.floors=false\n"
               "The data settings that shape the inputs (audio format, feature, mel bands, "
               "frames, crop size...) must match the checkpoint's.")
    p.add_argument("checkpoint", help="a .pt file written by avsa-train")
    p.add_argument("--data", metavar="INDEX", help="clip index (JSONL); default: the "
                   "checkpoint's training index (or its synthetic data set)")
    p.add_argument("--detections", help="'simulated[:...]' or 'ground-truth' (synthetic "
                   "data), or a detection cache (avsa-detect), for object/quadrants crops")
    p.add_argument("--crop-strategy", choices=("random", "object", "quadrants", "audio"),
                   help="crops of the main protocol (eval.crop_strategy, default random: the "
                        "same for every model)")
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
        extra = flags_to_dict(args) or {}
        if extra.get("data", {}).pop("crop_strategy", None):
            extra["eval"] = {"crop_strategy": args.crop_strategy}
        result = evaluate_checkpoint(args.checkpoint, args.overrides, extra, tasks,
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
