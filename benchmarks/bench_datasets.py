"""Loader throughput at the paper's sizes: a YouTube-like source against a prepared copy of it.

Inputs (the ``sources`` fixture of conftest.py), made once per session in a temporary folder
(~40 s):

- **raw**: what a YouTube-360 download looks like: 1920x960 equirect, 30 fps, a keyframe every
  5 s, H.264 (crf 21, ~3.3 Mb/s), 4-channel AAC at 48 kHz in the MP4, 12 s; the picture is a
  panning block texture with fine grain (decodes at about the cost per pixel of real 360
  footage: ~7 ms per 1920x960 frame here, against ~5 ms for the 1920x1080 sample of
  ``../shared/data/equirect``);
- **prepared**: the same clip through ``avsa-prepare``'s own :func:`prepare_video` with its
  defaults: 2:1 equirect 1600x800 at 16 fps, a keyframe every 8 frames, H.264 crf 20 with x264's
  ``fastdecode`` tune (CAVLC, no deblocking), audio as 4-channel FLAC at 24 kHz beside it;
- **prepared-slowdecode**: the same with x264's default tune (~20 % fewer bytes, slower decode).

Items: the ``paper`` preset's data settings (8 frames at 16 fps, 4 random crops of 112 px for
AVSA, 1 for AVC, 1 s of ambi log-mel, 128 bands, video windows starting on every 8th frame:
avsa-prepare's keyframes), training augmentation (flip, colour jitter, gain), from a
10 s clip record (1 s to 11 s of the file); each round draws ``N_ITEMS`` items of a new epoch
(new windows and crops). Everything on one thread (torch and numba set to 1) in this process:
items per second per core. Baseline of the "loader" group: raw AVSA items. The "crop audio"
group times the features of 4 ambi crops: one STFT per item (baseline: an STFT per crop).

``python -m pytest benchmarks/bench_datasets.py --benchmark-enable --benchmark-only -q -s``
(items/s are printed and in ``extra_info``).
"""
import numpy as np
import pytest

from avsa_learn.config import resolve_config
from avsa_learn.data.config import DataConfig
from avsa_learn.data.datasets import AVCDataset, AVSADataset

PREP_SR = 24000
PAPER_DATA = resolve_config("paper").data      # paper sizes, windows on avsa-prepare's keyframes

N_ITEMS = 6
ROUNDS = 3


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import numba
    import torch

    threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(threads[0])
    numba.set_num_threads(threads[1])


RATES = {}


def _items(benchmark, cls, record, name):
    ds = cls([record] * N_ITEMS, PAPER_DATA, split=None, train=True, seed=0, skip_bad=False)
    epoch = iter(range(1, 10 ** 6))

    def run():
        ds.set_epoch(next(epoch))
        return [ds[i] for i in range(N_ITEMS)]

    benchmark.group = "loader"
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    rate = N_ITEMS / benchmark.stats.stats.mean
    RATES[name] = rate
    benchmark.extra_info["items_per_s"] = round(rate, 2)
    base = RATES.get(f"{name.split()[0]} raw")
    if base and "raw" not in name:
        benchmark.extra_info["x_raw"] = round(rate / base, 2)
    print(f"\n{name}: {rate:.2f} items/s on one thread"
          + (f" ({rate / base:.1f}x raw)" if base and "raw" not in name else ""))


@pytest.mark.parametrize("kind", ["raw", "prepared", "prepared-slowdecode"])
def test_avsa_items(benchmark, sources, kind):
    if kind == "raw":
        benchmark.extra_info["baseline"] = True
    _items(benchmark, AVSADataset, sources[kind], f"AVSA {kind}")


@pytest.mark.parametrize("kind", ["raw", "prepared", "prepared-slowdecode"])
def test_avc_items(benchmark, sources, kind):
    _items(benchmark, AVCDataset, sources[kind], f"AVC {kind}")


@pytest.mark.parametrize("stft_once", [False, True])
def test_crop_audio_features(benchmark, stft_once):
    """4 ambi log-mel crops (1 s, 128 bands) from one STFT vs an STFT per crop and channel."""
    from avsa_learn.data.crop_audio import crop_audio_features

    x = np.random.default_rng(0).standard_normal((4, PREP_SR)).astype(np.float32) * 0.1
    az, el = np.array([2.4, 0.8, -0.8, -2.4]), np.array([0.1, -0.2, 0.3, 0.0])
    cfg = DataConfig()
    benchmark.group = "crop audio"
    benchmark.extra_info["baseline"] = not stft_once
    benchmark.pedantic(crop_audio_features, args=(x, PREP_SR, az, el, cfg),
                       kwargs={"mirror": [True, False, False, True], "stft_once": stft_once},
                       rounds=30, iterations=1, warmup_rounds=2)
