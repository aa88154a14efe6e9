"""Training throughput of the CPU configuration: model step vs data loading, per step.

Run: ``python -m pytest benchmarks/bench_training.py --benchmark-enable --benchmark-only -q``.
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


def _batch(stage):
    d, s = CFG.data, CFG.schedule
    g = torch.Generator().manual_seed(0)
    lead = (s.avc_batch_size,) if stage == "avc" else (s.avsa_batch_size, 4)
    return (torch.randn(*lead, 3, d.n_frames, d.crop_size, d.crop_size, generator=g),
            torch.randn(*lead, d.audio_channels, d.audio_frames, d.n_mels, generator=g))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(CFG)


@pytest.mark.parametrize("stage", ["avc", "avsa"])
def test_model_step(benchmark, model, stage):
    """Forward + loss + backward + Adam step on one batch of the CPU config."""
    net = model.stage(stage)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    video, audio = _batch(stage)

    def step():
        out = net(video, audio)
        loss = avc_loss(*out)[0] if stage == "avc" else avsa_loss(out)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()

    benchmark.pedantic(step, rounds=5, warmup_rounds=1)
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
