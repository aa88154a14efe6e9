"""avsa-prepare's video layout: disk per hour and the decode time of a 0.5 s training window
(8 frames at 16 fps, read_frames on one thread) against equirect width and keyframe interval.

Source: 10 s of real 360° video (the top eye of ../shared/data/equirect/
congo_360_topbottom_stereo_audio.mp4, 1920x1080 top-bottom at 30 fps, or the file named by
$AVSA_BENCH_360), or, when it is absent, a synthetic drifting texture with noise (less realistic
sizes). It is resampled to 16 fps and each (width, GOP, CRF) copy is written as avsa-prepare
writes it (H.264, preset veryfast, yuv420p). Each round reads 12 windows at random frame-grid
starts; the baseline of each width is GOP 80 (5 s, YouTube's keyframe interval). MB per hour
and ms per window are in ``extra_info`` and printed:

    pytest benchmarks/bench_prepare.py --benchmark-enable --benchmark-only -q -s
"""
import os
from pathlib import Path

import numpy as np
import pytest

from avsa_learn.data.video import read_frames, write_video

SOURCE = Path(os.environ.get("AVSA_BENCH_360") or Path(__file__).resolve().parents[2] / "shared"
               / "data" / "equirect" / "congo_360_topbottom_stereo_audio.mp4")
SECONDS, FPS, WINDOWS = 10.0, 16.0, 12
CONFIGS = [(1024, 8, 20), (2048, 8, 20), (1600, 1, 20), (1600, 4, 20), (1600, 8, 20),
           (1600, 16, 20), (1600, 80, 20), (1024, 80, 20), (2048, 80, 20), (1600, 8, 23),
           (1600, 8, 26)]                                  # (width, GOP, CRF)


def _source_frames(width):
    """(T, width/2, width, 3) uint8 frames at 16 fps: the real clip's top eye, or synthetic."""
    if SOURCE.exists():
        import av

        out = []
        with av.open(str(SOURCE)) as c:
            s = c.streams.video[0]
            for frame in c.decode(s):
                t = float(frame.time)
                while len(out) / FPS <= t and len(out) < SECONDS * FPS:
                    top = frame.to_ndarray(format="rgb24")[: frame.height // 2]
                    out.append(top)
                if len(out) >= SECONDS * FPS:
                    break
        import cv2

        return np.stack([cv2.resize(f, (width, width // 2), interpolation=cv2.INTER_AREA)
                         for f in out])
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:width // 2, 0:width] / (width // 2)
    frames = []
    for k in range(int(SECONDS * FPS)):
        base = 128 + 60 * np.sin(13 * x + 0.4 * k) * np.cos(7 * y) + rng.normal(0, 6, x.shape)
        frames.append(np.clip(np.stack([base, base * 0.8, 255 - base], -1), 0, 255)
                      .astype(np.uint8))
    return np.stack(frames)


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    out = {}
    for width in sorted({c[0] for c in CONFIGS}):
        frames = _source_frames(width)
        for w, gop, crf in CONFIGS:
            if w == width:
                out[w, gop, crf] = write_video(root / f"w{w}_g{gop}_crf{crf}.mp4", frames, FPS,
                                               gop=gop, crf=crf)
    return out


@pytest.mark.parametrize("width,gop,crf", CONFIGS,
                         ids=[f"w{w}-gop{g}-crf{c}" for w, g, c in CONFIGS])
def test_window_decode(benchmark, copies, width, gop, crf):
    path = copies[width, gop, crf]
    benchmark.group = f"width {width}"
    benchmark.extra_info["baseline"] = gop == 80
    mb_per_hour = path.stat().st_size / 1e6 * 3600 / SECONDS
    rng = np.random.default_rng(0)
    last = int(SECONDS * FPS) - 8

    def read():
        for start in rng.integers(0, last, WINDOWS):
            assert len(read_frames(path, start / FPS, 8, FPS)) == 8

    benchmark.pedantic(read, rounds=3, iterations=1, warmup_rounds=1)
    ms = benchmark.stats.stats.mean / WINDOWS * 1e3
    benchmark.extra_info.update(mb_per_hour=round(mb_per_hour), ms_per_window=round(ms, 1))
    kind = "real" if SOURCE.exists() else "synthetic"
    print(f"\nwidth {width} GOP {gop:2d} CRF {crf}: {mb_per_hour:7.0f} MB/h, {ms:6.1f} ms per "
          f"0.5 s window ({kind} source)")
