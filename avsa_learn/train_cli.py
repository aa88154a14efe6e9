"""``avsa-train``: AVC then AVSA contrastive training, then the AVC/AVSA evaluation.

With no arguments it generates the synthetic data set once (``$AVSA_CACHE`` or
``~/.cache/avsa_learn``), trains the CPU-sized configuration and prints the test accuracies
beside their chance levels. See ``avsa-train --help`` and docs/training.md.
"""
import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from avsa_learn.config import PRESETS, ConfigError, TrainConfig, config_diff, resolve_config

log = logging.getLogger("avsa_learn.train")

EPILOG = """\
config resolution (later wins): built-in defaults (paper values) -> --preset (cpu unless given)
-> --config FILE (.toml/.json/.yaml, sections data, model, loss, optim, schedule, eval, synth,
runtime) -> --set section.key=value -> the dedicated flags (--data, --detections, ...).
Batch sizes are per process; under torchrun the global batch is nproc x batch.

outputs in --out: last.pt (checkpoint: every schedule.checkpoint_every steps and each epoch),
config.json, metrics.csv, tensorboard/, curves.png, eval.json.

examples:
  avsa-train                                   # hard synthetic scenes, CPU config (~9 min on 2 cores)
  avsa-train --out runs/a --set schedule.avc_epochs=4 --set optim.lr=3e-3
  avsa-train --out runs/a --resume             # continue runs/a/last.pt exactly
  avsa-train --preset paper --data yt360/index.jsonl --detections yt360/detections.jsonl \\
             --crop-strategy quadrants --feature foa-iv --out runs/paper
  torchrun --nproc_per_node=4 -m avsa_learn.train_cli --preset paper --data INDEX --out runs/p
  torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 --rdzv_backend=c10d \\
           --rdzv_endpoint=HOST:29400 -m avsa_learn.train_cli --preset paper --data INDEX --out D
  avsa-train --config my.toml --print-config   # show the resolved configuration and exit
"""


def build_parser():
    p = argparse.ArgumentParser(
        prog="avsa-train", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Self-supervised audio-visual correspondence (AVC) then spatial alignment "
                    "(AVSA) learning on 360° video with first-order Ambisonics; evaluates the "
                    "result on the AVC and AVSA tasks at the end.")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="cpu (default): small encoders, 48 px crops, 4 frames, fits 2 CPU cores; "
                        "paper: R(2+1)D-18 + 9-layer audio CNN, 112 px, 8 frames, batch 112 AVC "
                        "/ 28x4 AVSA, Adam 1e-4, 50+50 epochs, AMP + channels_last on CUDA")
    p.add_argument("--config", metavar="FILE", help="TOML/JSON/YAML config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one field, e.g. optim.lr=1e-3, data.crop_size=64, "
                        "schedule.avc_epochs=5 (repeatable; values parsed as JSON when possible)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/avsa-DATE-TIME; "
                   "required under torchrun)")
    p.add_argument("--resume", nargs="?", const="", metavar="CKPT",
                   help="continue from CKPT (default: OUT/last.pt; OUT defaults to CKPT's "
                        "folder): same weights, optimiser, scheduler, RNG and data order, so a "
                        "killed run ends as if never stopped; starts fresh if OUT has no "
                        "checkpoint yet (handy in job scripts)")
    p.add_argument("--data", metavar="INDEX", help="clip index JSONL (avsa-index / avsa-synth); "
                   "default: the synthetic data set")
    p.add_argument("--detections", metavar="SPEC", help="synthetic data: 'simulated[:miss=,fp=,jitter=,seed=]' "
                   "(a detector simulated on the ground truth: the cpu preset) or 'ground-truth' "
                   "(the oracle); real data: a detection cache from avsa-detect; for "
                   "--crop-strategy object/quadrants")
    p.add_argument("--audio-format", choices=("ambi", "mono", "stereo"))
    p.add_argument("--feature", choices=("logmel", "foa-iv", "icf"),
                   help="foa-iv needs ambi, icf needs stereo")
    p.add_argument("--crop-strategy", choices=("random", "object", "quadrants", "audio"))
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation at the end")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved configuration as JSON and exit")
    return p


def _resolve(args):
    from avsa_learn.evaluate import flags_to_dict

    extra = flags_to_dict(args)
    if args.no_eval:
        extra = {**(extra or {}), "eval": {"after_training": False}}
    return resolve_config(args.preset or "cpu", args.config, args.overrides, extra)


def _out_dir(args):
    if args.out:
        return Path(args.out)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("--out is required under torchrun (every process must agree on it)")
    return Path("runs") / time.strftime("avsa-%Y%m%d-%H%M%S")


def _resume_config(args, cfg, path):
    """The config to resume with: the checkpoint's, unless the command line differs in what
    shapes the model or data (runtime and eval settings may change)."""
    from avsa_learn.checkpoint import load_checkpoint

    saved = load_checkpoint(path)["config"]
    given = args.preset or args.config or args.overrides or any(
        getattr(args, k) for k in ("data", "detections", "audio_format", "feature",
                                   "crop_strategy"))
    if not given:
        return TrainConfig.from_dict(saved)
    diff = config_diff(saved, cfg)
    if diff:
        raise ConfigError(f"{path} was trained with another configuration; resume with the same "
                          "settings (or none) or use a new --out:\n  " + "\n  ".join(diff))
    return cfg


def run(args):
    """Train (and evaluate); returns the evaluation dict or None."""
    from avsa_learn import distributed as D
    from avsa_learn.data.datasets import AVCDataset, AVSADataset
    from avsa_learn.evaluate import evaluate_model, format_table
    from avsa_learn.trainer import Trainer, TrainingError, load_data

    t0 = time.perf_counter()
    cfg = _resolve(args)
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        return None
    if args.resume is not None and not args.out:
        if not args.resume:
            raise ConfigError("--resume needs --out DIR (the run to continue) or a checkpoint path")
        args.out = str(Path(args.resume).parent)
    out = _out_dir(args)
    resume = None
    if args.resume is not None:
        resume = Path(args.resume) if args.resume else out / "last.pt"
        if resume.is_file():
            cfg = _resume_config(args, cfg, resume)
        elif args.resume:
            raise TrainingError(f"--resume: checkpoint not found: {resume}")
        else:
            log.warning("--resume: %s has no checkpoint yet; starting from scratch", out)
            resume = None
    ctx = D.setup(cfg.runtime.device, cfg.runtime.threads)
    try:
        index, records, objects = load_data(cfg, ctx)
        train = [r for r in records if r.split == "train"]
        if not train:
            raise TrainingError(f"{index}: no clip has split 'train' ({len(records)} clips)")
        seed = cfg.runtime.seed
        datasets = {"avc": AVCDataset(records, cfg.data, "train", True, seed, objects),
                    "avsa": AVSADataset(records, cfg.data, "train", True, seed, objects)}
        if ctx.is_main:
            out.mkdir(parents=True, exist_ok=True)
            cfg.save(out / "config.json")
            print(f"avsa-train: {len(train)} training clips from {index}; output in {out}",
                  file=sys.stderr)
        model = Trainer(cfg, datasets, out, ctx).fit(resume=resume)
        result = None
        if cfg.eval.after_training and ctx.is_main:
            result = evaluate_model(model, cfg, records, objects, device=ctx.device,
                                    progress=cfg.runtime.progress)
            result.update(checkpoint=str(out / "last.pt"), index=str(index),
                          wall_seconds=round(time.perf_counter() - t0, 1))
            (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
            print(format_table(result))
        if ctx.is_main:
            print(f"avsa-train: done in {time.perf_counter() - t0:.1f} s; checkpoint "
                  f"{out / 'last.pt'}", file=sys.stderr)
        D.barrier(ctx)
        return result
    finally:
        D.cleanup(ctx)


def main(argv=None):
    from avsa_learn.checkpoint import CheckpointError
    from avsa_learn.evaluate import EvaluationError
    from avsa_learn.trainer import TrainingError

    args = build_parser().parse_args(argv)
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(level=logging.WARNING,
                        format=f"%(levelname)s [rank {rank}] %(name)s: %(message)s")
    try:
        run(args)
    except (ConfigError, TrainingError, CheckpointError, EvaluationError) as e:
        print(f"avsa-train: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
