"""Shared benchmark fixtures (white-noise FOA; a YouTube-like clip and its prepared copy), and a
summary that prints each benchmark's mean time as a ratio to its group's baseline (the benchmark
that sets ``benchmark.extra_info["baseline"] = True``)."""
import numpy as np
import pytest

N_SAMPLES = 10 ** 7

# The YouTube-like clip and its prepared copy (bench_datasets.py's docstring describes them).
SECONDS, RAW_FPS, RAW_SIZE, RAW_SR = 12, 30, (960, 1920), 48000
# avsa-prepare's layout (its defaults: crf 20, keyframe every 8 frames at 16 fps, ~1600 px)
PREP_FPS, PREP_SIZE, PREP_GOP, PREP_CRF, PREP_SR = 16, (800, 1600), 8, 20, 24000
FAST_TUNE = "fastdecode"   # x264: CAVLC, no deblocking: ~1.9x faster to decode, ~20 % larger


def _raw_frames(rng):
    h, w = RAW_SIZE
    base = rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)
    base = np.repeat(np.repeat(base, 16, 0), 16, 1) // 2
    grain = rng.integers(0, 12, (h, w, 3), dtype=np.uint8)
    for k in range(SECONDS * RAW_FPS):
        yield np.roll(base, 4 * k, axis=1) + np.roll(grain, -3 * k, axis=1)


def _prepared_frames(path):
    """The source's frames at PREP_FPS (nearest in time), resized to PREP_SIZE (area)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        k = 0
        for frame in container.decode(stream):
            while k / PREP_FPS <= frame.time + 0.5 / RAW_FPS:
                yield frame.to_ndarray(format="rgb24", width=PREP_SIZE[1], height=PREP_SIZE[0],
                                       interpolation="AREA")
                k += 1


def _record(name, video, audio, sr):
    from avsa_learn.data.index import ClipRecord

    return ClipRecord(clip_id=f"{name}_0000", video_id=name, video_path=str(video),
                      audio_path=str(audio), start=1.0, duration=10.0, split="train",
                      layout="ambix", sample_rate=sr, energy_ratio=1.0, passes=True,
                      loudness_db=-20.0)


@pytest.fixture(scope="session")
def sources(tmp_path_factory):
    """ClipRecords of the YouTube-like clip ("raw") and of two prepared copies: "prepared"
    (avsa-prepare's layout) and "fastdecode" (the same encoded with x264's fastdecode tune)."""
    import spatialfoa
    from avsa_learn.data.video import write_video
    from spatialfoa.audio_io import resample

    root = tmp_path_factory.mktemp("youtube_like")
    rng = np.random.default_rng(0)
    n = SECONDS * RAW_SR
    t = np.arange(n) / RAW_SR
    sig = np.stack([0.1 * rng.standard_normal(n), 0.2 * np.sin(2 * np.pi * 440 * t)])
    audio = spatialfoa.encode(sig, np.array([0.5, -2.0]), np.array([0.1, -0.3]))
    audio = (audio + 0.01 * rng.standard_normal(audio.shape)).astype(np.float32)
    raw = write_video(root / "raw.mp4", _raw_frames(rng), RAW_FPS, audio, RAW_SR,
                      gop=5 * RAW_FPS, crf=21)
    video = write_video(root / "clip.mp4", _prepared_frames(raw), PREP_FPS, gop=PREP_GOP,
                        crf=PREP_CRF)
    fast = write_video(root / "clip_fast.mp4", _prepared_frames(raw), PREP_FPS, gop=PREP_GOP,
                       crf=PREP_CRF, tune=FAST_TUNE)
    x, sr, _ = spatialfoa.read_audio(raw, layout="ambix")
    flac = root / "clip.flac"
    spatialfoa.write_audio(flac, np.clip(resample(x, sr, PREP_SR), -1, 1), PREP_SR)
    return {"raw": _record("raw", raw, raw, RAW_SR),
            "prepared": _record("prepared", video, flac, PREP_SR),
            "fastdecode": _record("fastdecode", fast, flac, PREP_SR)}


@pytest.fixture(scope="session")
def foa_float32():
    """(4, 10^7) float32 ambiX-shaped white noise (about 7 minutes at 24 kHz, 160 MB)."""
    return np.random.default_rng(0).standard_normal((4, N_SAMPLES), dtype=np.float32)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    benches = [b for b in getattr(session, "benchmarks", []) if b.stats]
    if not benches:
        return
    terminalreporter.section("mean time relative to the group baseline")
    for group in sorted({b.group or "" for b in benches}):
        members = [b for b in benches if (b.group or "") == group]
        base = next((b for b in members if b.extra_info.get("baseline")), None)
        terminalreporter.write_line(f"{group}:")
        for b in sorted(members, key=lambda b: b["mean"]):
            ratio = f"{b['mean'] / base['mean']:6.2f}x {base.name}" if base else ""
            terminalreporter.write_line(f"  {b.name:<40} mean {b['mean'] * 1e3:8.2f} ms "
                                        f"(min {b['min'] * 1e3:8.2f} ms)  {ratio}")
