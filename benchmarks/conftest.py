"""Shared benchmark fixtures (white-noise FOA; a YouTube-like clip and its prepared copy), and a
summary that prints each benchmark's mean time as a ratio to its group's baseline (the benchmark
that sets ``benchmark.extra_info["baseline"] = True``)."""
import numpy as np
import pytest

N_SAMPLES = 10 ** 7

# The YouTube-like clip and its prepared copy (bench_datasets.py's docstring describes them).
SECONDS, RAW_FPS, RAW_SIZE, RAW_SR = 12, 30, (960, 1920), 48000
# avsa-prepare's defaults (1600 px, 16 fps, keyframe every 8 frames, crf 20, tune fastdecode)
# make the "prepared" copy; "prepared-slowdecode" is the same with x264's default tune.
PREP_SR = 24000


def _raw_frames(rng):
    h, w = RAW_SIZE
    base = rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)
    base = np.repeat(np.repeat(base, 16, 0), 16, 1) // 2
    grain = rng.integers(0, 12, (h, w, 3), dtype=np.uint8)
    for k in range(SECONDS * RAW_FPS):
        yield np.roll(base, 4 * k, axis=1) + np.roll(grain, -3 * k, axis=1)


def _record(name, video, audio, sr):
    from avsa_learn.data.index import ClipRecord

    return ClipRecord(clip_id=f"{name}_0000", video_id=name, video_path=str(video),
                      audio_path=str(audio), start=1.0, duration=10.0, split="train",
                      layout="ambix", sample_rate=sr, energy_ratio=1.0, passes=True,
                      loudness_db=-20.0)


@pytest.fixture(scope="session")
def sources(tmp_path_factory):
    """ClipRecords of the YouTube-like clip ("raw") and of two copies made by
    :func:`avsa_learn.data.prepare.prepare_video`: "prepared" (avsa-prepare's defaults) and
    "prepared-slowdecode" (the same with x264's default tune instead of fastdecode)."""
    import spatialfoa
    from avsa_learn.data.prepare import PrepareOptions, prepare_video
    from avsa_learn.data.video import write_video

    root = tmp_path_factory.mktemp("youtube_like")
    rng = np.random.default_rng(0)
    n = SECONDS * RAW_SR
    t = np.arange(n) / RAW_SR
    sig = np.stack([0.1 * rng.standard_normal(n), 0.2 * np.sin(2 * np.pi * 440 * t)])
    audio = spatialfoa.encode(sig, np.array([0.5, -2.0]), np.array([0.1, -0.3]))
    audio = (audio + 0.01 * rng.standard_normal(audio.shape)).astype(np.float32)
    (root / "src").mkdir()
    raw = write_video(root / "src" / "raw.mp4", _raw_frames(rng), RAW_FPS, audio, RAW_SR,
                      gop=5 * RAW_FPS, crf=21)
    out = {"raw": _record("raw", raw, raw, RAW_SR)}
    for kind, tune in (("prepared", PrepareOptions().tune), ("prepared-slowdecode", "none")):
        done = prepare_video(raw, root / kind, PrepareOptions(layout="ambix", tune=tune))
        vid = done["video_id"]
        out[kind] = _record(kind, root / kind / "video" / f"{vid}.mp4",
                            root / kind / "audio" / f"{vid}.flac", PREP_SR)
    return out


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
