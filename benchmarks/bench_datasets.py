"""AVSA training samples per second from MP4 (decode, 4 crops, augmentation, per-crop audio),
in the main process and with 1 and 2 DataLoader workers, against the raw decode of the same
frames and audio windows (the baseline: read_frames + spatialfoa.read_audio, nothing else).

Data: 6 synthetic clips (avsa-synth defaults: 256x128 at 16 fps, 4 s, 4-channel AAC at 24 kHz),
AVSA items with quadrant crops on the ground-truth objects, ambi log-mel, training
augmentation. Every round reads the 6 clips' items of a new epoch (new windows and crops).
Workers are persistent and started with "forkserver" (numba's OpenMP pool is not fork-safe
once used); their start-up is not timed. Samples per second are in ``extra_info`` and printed
(``pytest benchmarks/bench_datasets.py --benchmark-enable --benchmark-only -q -s``).
"""
import numpy as np
import pytest
from torch.utils.data import DataLoader

from avsa_learn.data.config import DataConfig
from avsa_learn.data.datasets import AVSADataset, collate_skip_bad

N_CLIPS = 6
ROUNDS = 4


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from avsa_learn.data.index import load_index
    from avsa_learn.data.synth import ensure_synthetic_dataset
    from avsa_learn.detect.ground_truth import GroundTruthDetector

    root = tmp_path_factory.mktemp("synth")
    records = load_index(ensure_synthetic_dataset(root, num_clips=N_CLIPS, seed=0, jobs=2,
                                                  progress=False))
    cfg = DataConfig(crop_strategy="quadrants")
    return AVSADataset(records, cfg, split=None, train=True, seed=0,
                       objects=GroundTruthDetector(records))


class _EpochSampler:
    """Yields (epoch, i) keys for EpochDataset; ``epoch`` is read in the main process, so
    persistent workers see each new epoch."""

    def __init__(self, n):
        self.n, self.epoch = n, 0

    def __iter__(self):
        return iter([(self.epoch, i) for i in range(self.n)])

    def __len__(self):
        return self.n


def _epochs(sampler, iterate):
    """A callable running one new epoch per call."""
    def run():
        sampler.epoch += 1
        return sum(len(b["clip_id"]) for b in iterate() if b is not None)
    return run


def _report(benchmark, name):
    rate = N_CLIPS / benchmark.stats.stats.mean
    benchmark.extra_info["samples_per_s"] = rate
    print(f"\n{name}: {rate:.2f} AVSA samples/s")


def test_raw_decode_baseline(benchmark, dataset):
    """read_frames (8 frames) + read_audio (1 s) per item: the floor of any loader."""
    import spatialfoa
    from avsa_learn.data.video import read_frames

    c = dataset.config
    rng = np.random.default_rng(0)

    def decode():
        for rec in dataset.records:
            t = rng.uniform(0, rec.duration - c.audio_seconds)
            read_frames(rec.video_path, rec.start + t + 0.25, c.n_frames, c.fps)
            spatialfoa.read_audio(rec.audio_path, layout=rec.layout, offset=rec.start + t,
                                  max_seconds=c.audio_seconds)
        return [None] * len(dataset.records)

    benchmark.group = "avsa samples"
    benchmark.extra_info["baseline"] = True
    benchmark.pedantic(decode, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    _report(benchmark, "raw decode")


def test_avsa_main_process(benchmark, dataset):
    from avsa_learn.distributed import EpochDataset

    benchmark.group = "avsa samples"
    sampler, wrapped = _EpochSampler(len(dataset)), EpochDataset(dataset)
    run = _epochs(sampler, lambda: ({"clip_id": [wrapped[k]["clip_id"]]} for k in sampler))
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    _report(benchmark, "main process")


@pytest.mark.parametrize("workers", [1, 2])
def test_avsa_dataloader(benchmark, dataset, workers):
    from avsa_learn.distributed import EpochDataset

    benchmark.group = "avsa samples"
    sampler = _EpochSampler(len(dataset))
    loader = DataLoader(EpochDataset(dataset), batch_size=2, sampler=sampler, num_workers=workers,
                        persistent_workers=True, collate_fn=collate_skip_bad,
                        multiprocessing_context="forkserver")
    run = _epochs(sampler, lambda: iter(loader))
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    _report(benchmark, f"DataLoader, {workers} worker{'s' * (workers > 1)}")
