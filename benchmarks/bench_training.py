"""Training throughput of the CPU configuration: model step vs data loading, per step.

Run: ``python -m pytest benchmarks/bench_training.py --benchmark-enable --benchmark-only -q``.
The ``paper`` tests compare the paper preset's model step with the loader per item (data from the
prepared YouTube-like copy of conftest.py).
Every figure is put in ``extra_info`` (steps/s, samples/s, and the data/model time ratio measured
in the same run, which says whether the DataLoader or the model bounds a step). The data
benchmarks use a small synthetic data set generated once into ``$AVSA_CACHE`` (or
``~/.cache/avsa_learn``), with the frame cache warm, as in training after the first epoch.
"""
import pytest
import torch

from avsa_learn.config import resolve_config
from avsa_learn.losses import avc_loss, avsa_loss
from avsa_learn.models import build_model

CFG = resolve_config("cpu")
TIMES = {}


def _batch(stage, cfg=CFG, size=None):
    """Random (video, audio) of one batch of ``cfg`` (``size`` items, default the schedule's)."""
    d, s = cfg.data, cfg.schedule
    g = torch.Generator().manual_seed(0)
    size = size or (s.avc_batch_size if stage == "avc" else s.avsa_batch_size)
    lead = (size,) if stage == "avc" else (size, 4)
    return (torch.randn(*lead, 3, d.n_frames, d.crop_size, d.crop_size, generator=g),
            torch.randn(*lead, d.audio_channels, d.audio_frames, d.n_mels, generator=g))


def _train_step(model, stage, video, audio):
    """A callable: forward + loss + backward + Adam step of ``model``'s ``stage``."""
    net = model.stage(stage)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def step():
        out = net(video, audio)
        loss = avc_loss(*out)[0] if stage == "avc" else avsa_loss(out)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def _seeded_model(cfg):
    torch.manual_seed(0)
    return build_model(cfg)


@pytest.fixture(scope="module")
def model():
    return _seeded_model(CFG)


@pytest.mark.parametrize("stage", ["avc", "avsa"])
def test_model_step(benchmark, model, stage):
    """Forward + loss + backward + Adam step on one batch of the CPU config."""
    video, audio = _batch(stage)
    benchmark.pedantic(_train_step(model, stage, video, audio), rounds=5, warmup_rounds=1)
    t = benchmark.stats.stats.mean
    TIMES[("model", stage)] = t
    benchmark.extra_info.update(steps_per_s=round(1 / t, 2),
                                samples_per_s=round(len(video) / t, 1),
                                crops_per_s=round(video[..., 0, 0, 0, 0].numel() / t, 1))


@pytest.fixture(scope="module")
def records():
    import os
    from pathlib import Path

    from avsa_learn.data.index import load_index
    from avsa_learn.data.synth import ensure_synthetic_dataset

    root = Path(os.environ.get("AVSA_CACHE", Path.home() / ".cache" / "avsa_learn"))
    return load_index(ensure_synthetic_dataset(root / "bench-synthetic", 24, seed=0,
                                               progress=False))


@pytest.mark.parametrize("stage", ["avc", "avsa"])
def test_data_step(benchmark, records, stage):
    """Building one batch of items in the main process (what one DataLoader worker does per
    step), frame cache warm; ratio = data time / model time of the same step."""
    from avsa_learn.data.datasets import AVCDataset, AVSADataset, collate_skip_bad

    cls = AVCDataset if stage == "avc" else AVSADataset
    ds = cls(records, CFG.data, "train", True, seed=0)
    bs = CFG.schedule.avc_batch_size if stage == "avc" else CFG.schedule.avsa_batch_size
    for i in range(len(ds)):  # warm the frame cache
        ds[i]
    counter = iter(range(10 ** 9))

    def load():
        return collate_skip_bad([ds[next(counter) % len(ds)] for _ in range(bs)])

    benchmark.pedantic(load, rounds=3, warmup_rounds=0)
    t = benchmark.stats.stats.mean
    info = {"items_per_s": round(bs / t, 1), "seconds_per_step": round(t, 3)}
    if ("model", stage) in TIMES:
        info["data_over_model"] = round(t / TIMES[("model", stage)], 2)
    benchmark.extra_info.update(info)


def test_feature_extraction(benchmark, model):
    """Frozen-feature extraction (evaluation): crops per second through both encoders."""
    video, audio = _batch("avsa")
    model.eval()

    def run():
        with torch.no_grad():
            return model(video, audio)

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    benchmark.extra_info.update(crops_per_s=round(video.shape[0] * 4 / benchmark.stats.stats.mean,
                                                  1))


# --- the paper preset on CPU: model time vs data time per item ---------------------------------
PAPER = resolve_config("paper")
PAPER_BATCH = {"avc": 2, "avsa": 1}   # a tiny batch: per-item figures are what is compared
PAPER_TIMES = {}


@pytest.fixture(scope="module")
def paper_model():
    return _seeded_model(PAPER)


@pytest.mark.parametrize("stage", ["avc", "avsa"])
def test_paper_model_step(benchmark, paper_model, stage):
    """R(2+1)D-18 + audio CNN of the ``paper`` preset: forward + loss + backward + Adam step on
    a tiny batch (112 px crops, 8 frames, 128 mel bands), torch's default threads, fp32."""
    video, audio = _batch(stage, PAPER, PAPER_BATCH[stage])
    benchmark.group = "paper preset, per item"
    benchmark.pedantic(_train_step(paper_model, stage, video, audio), rounds=2, warmup_rounds=1)
    per_item = benchmark.stats.stats.mean / PAPER_BATCH[stage]
    PAPER_TIMES[("model", stage)] = per_item
    benchmark.extra_info.update(seconds_per_item=round(per_item, 3),
                                threads=torch.get_num_threads())


@pytest.mark.parametrize("stage", ["avc", "avsa"])
def test_paper_data_item(benchmark, sources, stage):
    """One ``paper`` item from the prepared YouTube-like copy (conftest ``sources``) on one
    thread (what one DataLoader worker does); ratio = data time / model time per item."""
    import numba

    from avsa_learn.data.datasets import AVCDataset, AVSADataset

    cls = AVCDataset if stage == "avc" else AVSADataset
    n = 6
    ds = cls([sources["prepared"]] * n, PAPER.data, split=None, train=True, seed=0)
    epochs = iter(range(1, 10 ** 6))
    threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)

    def load():
        ds.set_epoch(next(epochs))
        return [ds[i] for i in range(n)]

    try:
        benchmark.group = "paper preset, per item"
        benchmark.pedantic(load, rounds=2, warmup_rounds=1)
    finally:
        torch.set_num_threads(threads[0])
        numba.set_num_threads(threads[1])
    per_item = benchmark.stats.stats.mean / n
    info = {"seconds_per_item": round(per_item, 4), "items_per_s_per_core": round(1 / per_item, 1)}
    if ("model", stage) in PAPER_TIMES:
        info["data_over_model"] = round(per_item / PAPER_TIMES[("model", stage)], 4)
    benchmark.extra_info.update(info)
    print(f"\npaper {stage}: data {per_item * 1e3:.0f} ms/item on one core"
          + (f", model {PAPER_TIMES[('model', stage)]:.2f} s/item on "
             f"{threads[0]} threads" if ("model", stage) in PAPER_TIMES else ""))
