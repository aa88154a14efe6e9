"""avsa-prepare: the prepared copy's frames, crops and audio against the source, its index
against avsa-index of the source, resume, atomic outputs with bad sources, a training run on it."""
import json

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfilt

import spatialfoa
from avsa_learn.data.equirect import gnomonic_crop
from avsa_learn.data.index import build_index, load_index, split_of
from avsa_learn.data.prepare import (PrepareOptions, main, prepare_dataset, width_for_crops)
from avsa_learn.data.video import probe_video, read_frames, write_video

WIDTH = 256          # prepared width (the sources are 512 wide)
OPTIONS = PrepareOptions(width=WIDTH)


def band_noise_wave(seconds, sr, az, el, seed):
    """ambiX (4, n) plane wave of 300-3000 Hz noise from (az, el): E_xyz/E_w = 1."""
    rng = np.random.default_rng(seed)
    s = sosfilt(butter(4, [300, 3000], btype="band", fs=sr, output="sos"),
                rng.standard_normal(int(seconds * sr)))
    return spatialfoa.encode(0.1 * s / s.std(), az, el).astype(np.float32)


def moving_pattern(t, height=256, width=512):
    """A smooth RGB pattern drifting left by 1/8 of the frame per second (uint8 (H, W, 3))."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    phase = 2 * np.pi * (4 * x + 0.5 * t)
    r = 128 + 90 * np.sin(phase) * np.cos(np.pi * (y - 0.5))
    g = 128 + 90 * np.cos(2 * np.pi * 2 * y + 0.3 * phase)
    b = np.full_like(r, 100.0)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def _names(fraction=0.5):
    """Video ids (train, test, train) at the split ``fraction``."""
    train = [f"v{i}" for i in range(100) if split_of(f"v{i}", fraction) == "train"]
    test = next(f"v{i}" for i in range(100) if split_of(f"v{i}", fraction) == "test")
    return train[0], test, train[1]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """SRC/A.mp4: 30 fps, 6-ch YouTube AAC at 48 kHz inside; SRC/video/B.mp4: 25 fps with
    SRC/audio/B.wav, 4-ch ambiX at 44.1 kHz; SRC/C.mp4: 16 fps, 4-ch AAC at 24 kHz (a second
    training video); two broken files."""
    root = tmp_path_factory.mktemp("src")
    a, b, c = _names()
    frames_a = [moving_pattern(k / 30) for k in range(66)]                     # 2.2 s
    x = band_noise_wave(2.2, 48000, 0.7, 0.2, seed=0)
    six = np.zeros((6, x.shape[1]), np.float32)
    six[list(spatialfoa.YOUTUBE_AAC_6CH)] = x                  # decoded [X, Y, W, -, Z, -]
    write_video(root / f"{a}.mp4", frames_a, 30, six, 48000)
    (root / "video").mkdir()
    write_video(root / "video" / f"{b}.mp4", [moving_pattern(k / 25 + 3) for k in range(55)], 25)
    (root / "audio").mkdir()
    spatialfoa.write_audio(root / "audio" / f"{b}.wav",
                           band_noise_wave(2.2, 44100, -2.0, -0.3, seed=1), 44100)
    write_video(root / f"{c}.mp4", [moving_pattern(k / 16 + 7) for k in range(35)], 16,
                band_noise_wave(2.2, 24000, 1.5, 0.0, seed=2), 24000)
    bad = root / "bad"
    bad.mkdir()
    (bad / "junk.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8)
                                   .tobytes())
    data = write_video(bad / "t.mp4", frames_a, 30, six, 48000, faststart=True).read_bytes()
    (bad / "t.mp4").unlink()
    (bad / "truncated.mp4").write_bytes(data[:int(len(data) * 0.6)])
    return root, a, b, c


@pytest.fixture(scope="module")
def prepared(source, tmp_path_factory):
    root = source[0]
    out = tmp_path_factory.mktemp("prepared")
    summary = prepare_dataset(root, out, OPTIONS, clip_seconds=1.0, test_fraction=0.5,
                              progress=False)
    return out, summary


def test_width_for_crops_matches_the_crop_sampling():
    # a 112-px crop of 25 deg: 2 tan(12.5 deg) / 112 rad per pixel at its centre
    assert width_for_crops(112, 25.0) == 1600
    assert abs(width_for_crops(112, 25.0, multiple=1)
               - 2 * np.pi * 112 / (2 * np.tan(np.deg2rad(12.5)))) <= 0.5
    assert width_for_crops(64, 90.0, multiple=2) == 202        # 2 pi 64 / 2 = 201.06


def test_prepared_files_have_the_layout_of_the_options(prepared, source):
    out, summary = prepared
    _, a, b, _ = source
    for vid in source[1:]:
        v = probe_video(out / "video" / f"{vid}.mp4")
        assert (v["width"], v["height"], v["fps"], v["has_audio"]) == (256, 128, 16.0, False)
        info = sf.info(str(out / "audio" / f"{vid}.flac"))
        assert (info.channels, info.samplerate, info.subtype) == (4, 24000, "PCM_24")
        # keyframes every 8 frames
        import av
        with av.open(str(out / "video" / f"{vid}.mp4")) as c:
            keys = [i for i, p in enumerate(c.demux(c.streams.video[0]))
                    if p.is_keyframe and p.size]
        assert keys[:3] == [0, 8, 16]
    assert summary.videos == 3 and summary.prepared_now == 3
    assert summary.hours_in == pytest.approx(3 * 2.2 / 3600, rel=0.05)
    assert summary.hours_out == pytest.approx(3 * 2.2 / 3600, rel=0.05)
    assert summary.clips == 6 and summary.clips_pass == 6


def test_prepared_crops_match_the_source_at_the_same_times(prepared, source):
    out, _ = prepared
    root, a, _, _ = source
    az, el, fov = np.array([0.0, 2.5, -1.2]), np.array([0.0, 0.4, -0.3]), np.deg2rad(60)
    errors, shifted = [], []
    for k in (0, 5, 13, 30):
        t = k / 16
        src = read_frames(root / f"{a}.mp4", t, n_frames=1)
        prep = read_frames(out / "video" / f"{a}.mp4", t, n_frames=1)
        later = read_frames(root / f"{a}.mp4", t + 3 / 16, n_frames=1)
        c_src, c_prep, c_later = (gnomonic_crop(f, az, el, fov, size=48).astype(float)
                                  for f in (src, prep, later))
        errors.append(np.abs(c_prep - c_src).mean())
        shifted.append(np.abs(c_prep - c_later).mean())
    # two H.264 generations at CRF 20 and a 2x area downscale of a smooth pattern
    assert max(errors) < 3.0, errors
    assert min(shifted) > 5 * max(errors)          # and the frame is the one of that time


def test_prepared_audio_is_the_remapped_resampled_source(prepared, source):
    out, _ = prepared
    root, a, b, _ = source
    # A: YouTube 6-ch AAC decoded [X, Y, W, -, Z, -] -> ambiX W, Y, Z, X; 48 -> 24 kHz
    raw, sr, _ = spatialfoa.read_audio(root / f"{a}.mp4")
    assert sr == 48000 and raw.shape[0] == 6
    ref = resample_poly(raw[[2, 1, 4, 0]], 1, 2, axis=1)
    got, sr_out = sf.read(str(out / "audio" / f"{a}.flac"), dtype="float32", always_2d=True)
    assert sr_out == 24000 and got.shape == ref.T.shape
    assert np.abs(got - ref.T).max() < 2 ** -22              # 24-bit quantisation
    # B: ambiX WAV at 44.1 kHz beside the video -> 24 kHz (80/147)
    raw, sr = sf.read(str(root / "audio" / f"{b}.wav"), dtype="float32", always_2d=True)
    ref = resample_poly(raw, 80, 147, axis=0)
    got, _ = sf.read(str(out / "audio" / f"{b}.flac"), dtype="float32", always_2d=True)
    assert got.shape == ref.shape and np.abs(got - ref).max() < 2 ** -22


def test_prepared_index_matches_avsa_index_of_the_source(prepared, source, tmp_path):
    out, _ = prepared
    root, *ids = source
    records = load_index(out / "index.jsonl")
    lines = [json.loads(x) for x in (out / "index.jsonl").read_text().splitlines()]
    assert {d["video_path"] for d in lines} == {f"video/{v}.mp4" for v in ids}  # relative
    assert {d["audio_path"] for d in lines} == {f"audio/{v}.flac" for v in ids}
    ref = {r.clip_id: r for r in build_index(root, tmp_path / "raw.jsonl", clip_seconds=1.0,
                                             test_fraction=0.5, progress=False)}
    assert sorted(ref) == [r.clip_id for r in records] == sorted(
        f"{v}_000{k}" for v in ids for k in (0, 1))
    for r in records:
        s = ref[r.clip_id]
        assert (r.layout, r.sample_rate) == ("ambix", 24000)
        assert (r.split, r.passes, r.start, r.duration) == (s.split, s.passes, s.start,
                                                            s.duration)
        # the band noise lies below 3 kHz: 24 kHz resampling keeps its energy and ratio
        assert r.energy_ratio == pytest.approx(s.energy_ratio, abs=0.01)
        assert r.loudness_db == pytest.approx(s.loudness_db, abs=0.2)
    assert {r.split for r in records} == {"train", "test"}


def test_bad_sources_are_reported_and_leave_nothing(prepared):
    out, summary = prepared
    errors = {json.loads(x)["video_id"]: json.loads(x)["reason"]
              for x in (out / "prepare.errors.jsonl").read_text().splitlines()}
    assert set(errors) == {"junk", "truncated"}
    assert "junk.mp4" in errors["junk"] and "cannot open" in errors["junk"]
    assert "truncated.mp4" in errors["truncated"] and "truncated" in errors["truncated"]
    assert {vid for vid, _ in summary.failed} == {"junk", "truncated"}
    names = {p.name for p in out.rglob("*")}
    assert not any(n.startswith(("junk", "truncated", ".junk", ".truncated")) for n in names)
    assert not any(".part" in n for n in names)


def test_second_run_is_a_no_op_and_a_killed_run_is_cleaned(prepared, source):
    out, _ = prepared
    root = source[0]
    files = sorted(p for p in out.rglob("*") if p.is_file())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    (out / "video" / ".zz.part.mp4").write_bytes(b"half")           # left by a killed run
    summary = prepare_dataset(root, out, OPTIONS, clip_seconds=1.0, test_fraction=0.5,
                              progress=False)
    assert (summary.prepared_now, summary.already_done, summary.skipped_failed) == (0, 3, 2)
    assert summary.failed == [] and "--retry-failed" in summary.text()
    assert sorted(p for p in out.rglob("*") if p.is_file()) == files
    for p in files:
        assert p.read_bytes() == before[p][1], p
        if p.suffix in (".mp4", ".flac"):
            assert p.stat().st_mtime_ns == before[p][0], p


def test_changed_options_redo_the_video(source, tmp_path):
    root, a, _, _ = source
    only = tmp_path / "one"
    (only / "video").mkdir(parents=True)
    (only / "video" / f"{a}.mp4").symlink_to(root / f"{a}.mp4")
    prepare_dataset(only, tmp_path / "p", OPTIONS, clip_seconds=1.0, progress=False)
    s = prepare_dataset(only, tmp_path / "p", PrepareOptions(width=128), clip_seconds=1.0,
                        progress=False)
    assert s.prepared_now == 1 and probe_video(tmp_path / "p" / "video" / f"{a}.mp4")[
        "width"] == 128
    assert len(load_index(tmp_path / "p" / "index.jsonl")) == 2


def test_cli_prints_the_summary_and_fails_on_out_inside_src(source, tmp_path, capsys):
    root = source[0]
    with pytest.raises(SystemExit) as exc:
        main([str(root), "--out", str(root / "prepared")])
    assert exc.value.code == 2 and "outside the source" in capsys.readouterr().err


def test_avsa_train_runs_on_the_prepared_index(prepared, tmp_path):
    from avsa_learn.train_cli import main as train_main

    out, _ = prepared
    code = train_main([
        "--data", str(out / "index.jsonl"), "--detections", "", "--out", str(tmp_path / "run"),
        "--set", "data.crop_size=16", "--set", "data.n_frames=2", "--set", "data.n_mels=16",
        "--set", "data.audio_seconds=0.5", "--set", "model.video_widths=[4, 8]",
        "--set", "model.video_blocks=[1, 1]", "--set", "model.audio_width=1",
        "--set", "model.proj_dim=8", "--set", "model.transformer_ff=16",
        "--set", "schedule.avc_batch_size=2", "--set", "schedule.avsa_batch_size=2",
        "--set", "schedule.avc_epochs=1", "--set", "schedule.avsa_epochs=1",
        "--set", "schedule.checkpoint_every=0", "--set", "runtime.num_workers=0",
        "--set", "runtime.progress=false", "--set", "runtime.tensorboard=false",
        "--no-eval"])
    assert code == 0
    assert (tmp_path / "run" / "last.pt").is_file()


def test_cli_rerun_prints_the_summary(prepared, source, capsys):
    out, _ = prepared
    code = main([str(source[0]), "--out", str(out), "--width", str(WIDTH), "--clip-seconds",
                 "1", "--test-fraction", "0.5"])
    text = capsys.readouterr().out
    assert code == 0
    assert "3 videos" in text and "6 clips" in text and "6 pass Eq. 13" in text
    assert "0 prepared, 3 already done, 0 failed" in text


def test_a_16_9_source_is_prepared_as_2_to_1(tmp_path):
    """YouTube serves equirect squeezed into 16:9: the copy is 2:1 and matches the pattern."""
    import cv2

    src = tmp_path / "src"
    src.mkdir()
    frames = [cv2.resize(moving_pattern(k / 16), (512, 288), interpolation=cv2.INTER_AREA)
              for k in range(24)]
    write_video(src / "wide.mp4", frames, 16, band_noise_wave(1.5, 24000, 0.3, 0.0, seed=3),
                24000)
    summary = prepare_dataset(src, tmp_path / "out", OPTIONS, clip_seconds=1.0, progress=False)
    assert summary.videos == 1 and summary.clips == 1
    line = json.loads((tmp_path / "out" / "prepared.jsonl").read_text())
    assert (line["width"], line["height"], line["projection"]) == (256, 128, "equirect")
    got = read_frames(tmp_path / "out" / "video" / "wide.mp4", 0.5, n_frames=1)[0]
    def error(t):
        want = cv2.resize(moving_pattern(t), (256, 128), interpolation=cv2.INTER_AREA)
        return np.abs(got.astype(float) - want).mean()

    # 4:2:0 chroma and two resizes (2:1 -> 16:9 -> 2:1) cost a few levels; a frame 3/16 s
    # away (the pattern drifts by 3/128 of the width) or a wrong stretch costs far more
    assert error(0.5) < 4.5 and error(0.5 + 3 / 16) > 3 * error(0.5)


def test_a_failed_source_is_retried_once_its_separate_audio_appears(tmp_path):
    """The retry rule is avsa-index's: a change of the video or of its audio/ID.* file."""
    src = tmp_path / "src"
    (src / "video").mkdir(parents=True)
    write_video(src / "video" / "mute.mp4", [moving_pattern(k / 16) for k in range(24)], 16)
    out = tmp_path / "out"
    first = prepare_dataset(src, out, OPTIONS, clip_seconds=1.0, progress=False)
    assert first.videos == 0 and [v for v, _ in first.failed] == ["mute"]
    again = prepare_dataset(src, out, OPTIONS, clip_seconds=1.0, progress=False)
    assert again.skipped_failed == 1 and again.videos == 0          # unchanged: not retried
    (src / "audio").mkdir()
    sf.write(src / "audio" / "mute.wav", band_noise_wave(1.5, 24000, 0.3, 0.0, seed=4).T, 24000)
    fixed = prepare_dataset(src, out, OPTIONS, clip_seconds=1.0, progress=False)
    assert fixed.videos == 1 and fixed.clips == 1 and not fixed.failed
