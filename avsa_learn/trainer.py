"""The training loop: AVC epochs, then AVSA epochs with new heads (the curriculum of [17]).

:class:`Trainer` takes a :class:`~avsa_learn.config.TrainConfig`, the two training datasets
(``{"avc": AVCDataset, "avsa": AVSADataset}``, or anything yielding the same item dicts) and an
output folder. It writes ``last.pt`` (atomic, every ``schedule.checkpoint_every`` steps and at
each epoch end; rank 0 only), ``metrics.csv``, TensorBoard events and ``curves.png``.
``fit(resume=path)`` continues a run exactly: same weights, optimiser, scheduler, RNG and data
order (a run killed with SIGKILL and resumed ends with the weights of an uninterrupted run).

Example::

    >>> trainer = Trainer(cfg, {"avc": avc_ds, "avsa": avsa_ds}, "runs/a")   # doctest: +SKIP
    >>> model = trainer.fit()                                                # doctest: +SKIP
"""
import logging
import math
import os
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from avsa_learn import distributed as D
from avsa_learn.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from avsa_learn.data.datasets import collate_skip_bad
from avsa_learn.logging_utils import MetricLogger
from avsa_learn.losses import avc_loss, avsa_loss
from avsa_learn.models import build_model

log = logging.getLogger(__name__)


#: How DataLoader workers start. Not "fork": a fork copies the locks that the parent's other
#: threads (OpenMP pools, TensorBoard's writer, tqdm) hold at that instant, and a worker forked
#: for the second stage can wait on one forever; spatialfoa's numba kernels also refuse to run
#: in a child forked after GNU OpenMP was used (docs/datasets.md).
WORKER_CONTEXT = "forkserver"


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, empty data...); the message says what to do."""


def synthetic_root(cfg):
    """Folder of the default synthetic data: ``synth.root``, else ``$AVSA_CACHE/synthetic``, else
    ``~/.cache/avsa_learn/synthetic``; one subfolder per (num_clips, seed, difficulty)."""
    root = cfg.synth.root or os.path.join(
        os.environ.get("AVSA_CACHE", os.path.expanduser("~/.cache/avsa_learn")), "synthetic")
    return Path(root) / f"n{cfg.synth.num_clips}-seed{cfg.synth.seed}-{cfg.synth.difficulty}"


def load_data(cfg, ctx=None):
    """(index path, records, object provider or None) for ``cfg.data``. An empty ``data.index``
    means the synthetic data set (``cfg.synth``), generated once (by rank 0 under torchrun),
    of which the clips passing Eq. 13 are kept when ``synth.validity`` is "pass"."""
    from avsa_learn.data.index import load_index, select_validity

    ctx = ctx or D.DistContext()
    index = cfg.data.index
    synthetic = not index
    if synthetic:
        from avsa_learn.data.synth import ensure_synthetic_dataset

        def make():
            return ensure_synthetic_dataset(synthetic_root(cfg), cfg.synth.num_clips,
                                            cfg.synth.seed, difficulty=cfg.synth.difficulty)
        if ctx.is_main:
            index = make()
        D.barrier(ctx)
        if not ctx.is_main:
            index = make()
    if not Path(index).is_file():
        raise TrainingError(f"clip index not found: {index}")
    records = load_index(index)
    if synthetic and cfg.synth.validity == "pass":
        records = select_validity(records, "pass")
    if not records:
        raise TrainingError(f"{index}: the clip index is empty (or no clip passes Eq. 13)")
    objects = None
    spec = cfg.data.detections
    if (spec == "ground-truth" or spec.startswith("simulated")) and not any(
            r.gt_path for r in records):
        raise TrainingError(f"{index}: data.detections={spec!r} needs synthetic clips with "
                            "ground truth (gt_path); pass --detections CACHE (avsa-detect) or "
                            "--detections '' (no objects)")
    if cfg.data.detections:
        from avsa_learn.detect import make_object_provider

        objects = make_object_provider(cfg.data.detections, records)
    return Path(index), records, objects


def amp_dtype(mode, device):
    """autocast dtype for ``runtime.amp`` on ``device`` (None: full precision; CPU: always)."""
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[mode]


def lr_factor(schedule, warmup, total):
    """Multiplier of the base lr at step s: constant, or linear warm-up then cosine to 0."""
    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
    return factor


class Trainer:
    """Curriculum training of an :class:`~avsa_learn.models.AudioVisualModel` (see module doc)."""

    def __init__(self, cfg, datasets, out_dir, ctx=None):
        self.cfg, self.datasets, self.out = cfg, datasets, Path(out_dir)
        self.ctx = ctx or D.DistContext()
        torch.manual_seed(cfg.runtime.seed)
        self.model = build_model(cfg).to(self.ctx.device)
        cuda = self.ctx.device.type == "cuda"
        if cuda and cfg.runtime.channels_last:
            self.model.encoders.set_channels_last()
        torch.backends.cudnn.benchmark = cuda
        self.amp = amp_dtype(cfg.runtime.amp, self.ctx.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        self.progress = {"stage": 0, "epoch": 0, "batch": 0, "step": 0}
        self.ckpt_path = self.out / "last.pt"
        self.logger = None

    def stages(self):
        """[(name, epochs, batch size per process)] of the curriculum (stages with 0 epochs out)."""
        s = self.cfg.schedule
        return [st for st in (("avc", s.avc_epochs, s.avc_batch_size),
                              ("avsa", s.avsa_epochs, s.avsa_batch_size)) if st[1] > 0]

    def _first_epoch(self, idx):
        """Global epoch number of epoch 0 of stage ``idx`` (seeds the data order)."""
        return sum(st[1] for st in self.stages()[:idx])

    def _setup_stage(self, idx):
        name, epochs, bs = self.stages()[idx]
        cfg, ctx, ds = self.cfg, self.ctx, self.datasets[name]
        self.stage_name = name
        module = self.model.stage(name)
        self.net = D.wrap(module, ctx)
        o = cfg.optim
        self.optimizer = torch.optim.Adam(module.parameters(), lr=o.lr, betas=tuple(o.betas),
                                          weight_decay=o.weight_decay)
        videos = [r.video_id for r in ds.records] if hasattr(ds, "records") else range(len(ds))
        self.sampler = D.ClipSampler(videos, bs, ctx.world_size, ctx.rank, cfg.runtime.seed,
                                     cfg.schedule.steps_per_epoch, cfg.schedule.clips_per_video)
        self.n_batches = self.sampler.batches_per_epoch()
        if self.n_batches == 0:
            raise TrainingError(
                f"{name}: the training split has {len(ds)} clips, not enough for one batch of "
                f"{bs} clips x {ctx.world_size} processes (distinct videos per batch); add data "
                f"or lower schedule.{name}_batch_size")
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_factor(o.lr_schedule, o.warmup_steps, epochs * self.n_batches))
        workers = cfg.runtime.num_workers
        self.loader_gen = torch.Generator()  # keeps DataLoader seeding off the global RNG
        self.loader = DataLoader(D.EpochDataset(ds), batch_size=bs, sampler=self.sampler,
                                 num_workers=workers, collate_fn=collate_skip_bad,
                                 persistent_workers=workers > 0, generator=self.loader_gen,
                                 multiprocessing_context=WORKER_CONTEXT if workers else None,
                                 pin_memory=ctx.device.type == "cuda")

    def state(self):
        """The checkpoint dict (see avsa_learn.checkpoint)."""
        return {"config": self.cfg.to_dict(), "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "rng": rng_state(),
                "progress": dict(self.progress), "optimizer_stage": self.stage_name,
                "sampler": {"seed": self.sampler.seed, "epoch": self.sampler.epoch,
                            "start_batch": self.progress["batch"]},
                "world_size": self.ctx.world_size}

    def save(self):
        """Checkpoint (collective: every rank calls it; rank 0 writes)."""
        D.sync_buffers(self.model, self.ctx)
        if self.ctx.is_main:
            save_checkpoint(self.ckpt_path, self.state())

    def fit(self, resume=None):
        """Train every stage; ``resume`` = a checkpoint path to continue from. Returns the model."""
        ckpt = load_checkpoint(resume) if resume else None  # CPU: RNG states must stay there
        if ckpt is not None:
            self.model.load_state_dict(ckpt["model"])
            self.progress = {k: ckpt["progress"][k] for k in self.progress}
            if ckpt.get("world_size", 1) != self.ctx.world_size:
                log.warning("resuming a %d-process run on %d processes: the data order differs",
                            ckpt.get("world_size", 1), self.ctx.world_size)
        self.logger = MetricLogger(self.out, self.ctx.is_main, self.cfg.runtime.tensorboard,
                                   resume_step=self.progress["step"] if ckpt else None)
        try:
            for idx in range(self.progress["stage"], len(self.stages())):
                self._setup_stage(idx)
                if ckpt is not None:
                    if ckpt["optimizer_stage"] == self.stage_name:  # else saved at a stage end
                        self.optimizer.load_state_dict(ckpt["optimizer"])
                        self.scheduler.load_state_dict(ckpt["scheduler"])
                    self.scaler.load_state_dict(ckpt["scaler"])
                    set_rng_state(ckpt["rng"])
                    ckpt = None
                epochs = self.stages()[idx][1]
                for epoch in range(self.progress["epoch"], epochs):
                    self._run_epoch(idx, epoch)
                    last = epoch + 1 == epochs
                    self.progress.update(stage=idx + int(last), epoch=0 if last else epoch + 1,
                                         batch=0)
                    self.save()
        finally:
            self.logger.close()  # metrics, TensorBoard and curves.png also after an error
        return self.model

    def _run_epoch(self, idx, epoch):
        name, epochs, bs = self.stages()[idx]
        self.sampler.set_epoch(self._first_epoch(idx) + epoch)
        self.sampler.start_batch = self.progress["batch"]
        self.loader_gen.manual_seed(self.cfg.runtime.seed * 100003 + self.sampler.epoch)
        self.net.train()
        rt, ctx = self.cfg.runtime, self.ctx
        bar = tqdm(total=self.n_batches, initial=self.progress["batch"], leave=False,
                   desc=f"{name} {epoch + 1}/{epochs}", disable=not (ctx.is_main and rt.progress))
        meter, t0 = [], time.perf_counter()
        for batch in self.loader:
            n = 0 if batch is None else len(batch["clip_index"])
            if n < bs:
                log.warning("%s step %d: %d of %d clips could not be decoded and were skipped",
                            name, self.progress["step"], bs - n, bs)
            self.progress["batch"] += 1
            bar.update()
            if not D.all_true(n >= 2, ctx):  # contrastive steps need >= 2 clips on every rank
                continue
            meter.append(self._step(name, batch) + (n,))
            step = self.progress["step"] = self.progress["step"] + 1
            if step % rt.log_every == 0:
                self._log(name, meter, time.perf_counter() - t0)
                meter, t0 = [], time.perf_counter()
            every = self.cfg.schedule.checkpoint_every
            if every and step % every == 0:
                self.save()
        if meter:
            self._log(name, meter, time.perf_counter() - t0)
        bar.close()

    def _step(self, name, batch):
        dev, t = self.ctx.device, self.cfg.loss.temperature
        video = batch["video"].to(dev, non_blocking=True)
        audio = batch["audio"].to(dev, non_blocking=True)
        with torch.autocast(dev.type, dtype=self.amp, enabled=self.amp is not None):
            out = self.net(video, audio)
        gather = self.cfg.loss.gather_negatives and self.ctx.distributed
        if gather:  # the global batch as negatives; gradients through the local slice
            out = (tuple(D.gather_with_local_grad(o, self.ctx) for o in out) if name == "avc"
                   else {k: D.gather_with_local_grad(o, self.ctx) for k, o in out.items()})
        if name == "avc":
            loss, acc = avc_loss(*out, temperature=t)
        else:
            loss, acc = avsa_loss(out, temperature=t, negatives=self.cfg.loss.avsa_negatives)
        if not D.all_true(bool(torch.isfinite(loss)), self.ctx):
            raise TrainingError(
                f"{name}: the loss became {loss.item()} at step {self.progress['step']} (on some "
                f"process); the last good checkpoint {self.ckpt_path} was kept. Lower optim.lr, "
                f"set optim.grad_clip, or check the data; then restart or --resume")
        self.optimizer.zero_grad(set_to_none=True)
        # DDP averages gradients over processes; the gathered loss is already the global one
        self.scaler.scale(loss * self.ctx.world_size if gather else loss).backward()
        if self.cfg.optim.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.item(), acc.item()

    def _log(self, name, meter, seconds):
        loss, acc = (sum(m[i] for m in meter) / len(meter) for i in (0, 1))
        rate = sum(m[2] for m in meter) / max(seconds, 1e-9)
        loss, acc, rate = D.all_mean([loss, acc, rate], self.ctx)
        self.logger.log(step=self.progress["step"], epoch=self.sampler.epoch, stage=name,
                        loss=round(loss, 6), acc=round(acc, 6),
                        lr=self.optimizer.param_groups[0]["lr"],
                        samples_per_s=round(rate * self.ctx.world_size, 2))
