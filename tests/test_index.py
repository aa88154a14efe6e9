"""Clip index: good files indexed with the right layout and statistics, bad ones reported and
skipped, filters, split by video, resume, segment lists, the CLI."""
import json
import shutil

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

import spatialfoa
from avsa_learn.data import index as index_mod
from avsa_learn.data.index import (ClipRecord, build_index, load_index, main, read_segments,
                                   split_of, write_index)
from avsa_learn.data.video import write_video
from spatialfoa.validation import FOAError

SR = 24000


def plane_wave(seconds, az=0.7, el=0.2, seed=0):
    """ambiX (4, n) plane wave of band noise (300-3000 Hz) from (az, el): E_xyz/E_w = 1."""
    rng = np.random.default_rng(seed)
    s = sosfilt(butter(4, [300, 3000], btype="band", fs=SR, output="sos"),
                rng.standard_normal(int(seconds * SR)))
    return spatialfoa.encode(0.1 * s / s.std(), az, el).astype(np.float32)


def write_media(path, audio=None, size=(32, 64), seconds=None, fps=8, faststart=False):
    """MP4 with flat-grey h264 frames of ``size`` (H, W) and optional AAC ``audio`` (ch, n),
    channel order kept (layouts mono, stereo, 3.0, quad, 6.0)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds = seconds if seconds is not None else audio.shape[1] / SR
    frames = np.full((int(round(seconds * fps)),) + size + (3,), 90, np.uint8)
    return write_video(path, frames, fps, audio, SR, faststart=faststart)


def youtube_6ch(x):
    y = np.zeros((6, x.shape[1]), np.float32)
    y[list(spatialfoa.YOUTUBE_AAC_6CH)] = x                   # decoded [X, Y, W, -, Z, -]
    return y


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("yt")
    write_media(root / "good.mp4", plane_wave(2.5))                     # 2 clips + a partial
    quiet = plane_wave(2.0, seed=1)
    quiet[:, SR:] = 0                                                   # second clip silent
    write_media(root / "quiet.mp4", quiet)
    write_media(root / "fuma.mp4", spatialfoa.ambix_to_fuma(plane_wave(2.0, seed=2)))
    write_media(root / "yt6.mp4", youtube_6ch(plane_wave(2.0, -2.0, -0.3, seed=3)))
    write_media(root / "video" / "sep.mp4", None, seconds=2.0)        # audio beside it
    (root / "audio").mkdir()
    spatialfoa.write_audio(root / "audio" / "sep.wav", plane_wave(2.0, seed=4), SR)
    bad = root / "bad"
    write_media(bad / "noaudio.mp4", None, seconds=2.0)
    write_media(bad / "stereo.mp4", plane_wave(2.0)[:2])
    write_media(bad / "three.mp4", plane_wave(2.0)[:3])
    write_media(bad / "square.mp4", plane_wave(2.0), size=(32, 32))
    write_media(bad / "short.mp4", plane_wave(0.6))
    (bad / "junk.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8)
                                   .tobytes())
    whole = write_media(bad / "x.mp4", plane_wave(2.0)).read_bytes()  # moov at the end
    (bad / "x.mp4").unlink()
    (bad / "cut.mp4").write_bytes(whole[:len(whole) // 2])
    faststart = write_media(bad / "y.mp4", plane_wave(3.0), faststart=True)
    data = faststart.read_bytes()
    faststart.unlink()
    (bad / "truncated.mp4").write_bytes(data[:int(len(data) * 0.6)])  # moov first, data cut
    return root


EXPECTED_ERRORS = {"noaudio": "no audio stream", "stereo": "2-channel (stereo)",
                   "three": "3-channel", "square": "--projection", "short": "shorter than one clip",
                   "junk": "cannot open", "cut": "cannot open", "truncated": "truncated"}


@pytest.fixture(scope="module")
def built(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("index") / "index.jsonl"
    records = build_index(folder, out, clip_seconds=1.0, progress=False)
    return out, records


def test_good_files_are_indexed_with_layout_and_statistics(built, folder):
    out, records = built
    by_clip = {r.clip_id: r for r in records}
    assert sorted(by_clip) == ["fuma_0000", "fuma_0001", "good_0000", "good_0001", "quiet_0000",
                               "sep_0000", "sep_0001", "yt6_0000", "yt6_0001"]
    good = by_clip["good_0001"]
    assert (good.start, good.duration, good.sample_rate, good.layout) == (1.0, 1.0, SR, "ambix")
    assert good.video_path == good.audio_path == str(folder / "good.mp4")
    assert good.passes and good.energy_ratio == pytest.approx(1.0, abs=0.05)
    assert good.loudness_db == pytest.approx(-20.0, abs=1.0)           # W has RMS 0.1
    fuma = by_clip["fuma_0000"]
    assert not fuma.passes and fuma.energy_ratio == pytest.approx(2.0, rel=0.1)
    yt6 = by_clip["yt6_0000"]
    assert yt6.layout == "youtube-aac-6ch" and yt6.passes
    x, sr, _ = spatialfoa.read_audio(yt6.audio_path, layout=yt6.layout)
    w, y, z, xx = x.astype(float)                     # remapped to ambiX: direction (-2, -0.3)
    assert np.arctan2(np.mean(w * y), np.mean(w * xx)) == pytest.approx(-2.0, abs=0.05)
    assert by_clip["sep_0000"].audio_path == str(folder / "audio" / "sep.wav")
    assert by_clip["sep_0000"].video_path == str(folder / "video" / "sep.mp4")
    # stored relative to nothing outside the index folder: absolute paths, loaded back equal
    assert load_index(out) == records


def test_bad_files_are_reported_with_file_and_reason(built, folder):
    out, _ = built
    errors = [json.loads(line) for line in open(out.with_name("index.errors.jsonl"))]
    reasons = {e["video_id"]: e["reason"] for e in errors}
    for vid, words in EXPECTED_ERRORS.items():
        assert vid in reasons, vid
        assert f"{vid}.mp4" in reasons[vid] and words in reasons[vid], reasons[vid]
    assert set(reasons) == set(EXPECTED_ERRORS)


def test_bad_files_go_to_stderr(folder, tmp_path, capsys):
    build_index(folder / "bad", tmp_path / "i.jsonl", clip_seconds=1.0, progress=False)
    err = capsys.readouterr().err
    for vid in EXPECTED_ERRORS:
        assert f"{vid}.mp4" in err


def test_split_is_by_video(folder, tmp_path):
    records = build_index(folder, tmp_path / "i.jsonl", clip_seconds=0.5, test_fraction=0.5,
                          seed=3, progress=False)
    sides = {}
    for r in records:
        sides.setdefault(r.video_id, set()).add(r.split)
        assert r.split == split_of(r.video_id, 0.5, 3)
    assert all(len(s) == 1 for s in sides.values())
    ids = [f"v{i}" for i in range(400)]
    share = np.mean([split_of(v, 0.2, 0) == "test" for v in ids])
    assert 0.15 < share < 0.25
    assert [split_of(v, 0.2, 0) for v in ids] != [split_of(v, 0.2, 1) for v in ids]


def test_validity_filter(folder, tmp_path):
    passing = build_index(folder, tmp_path / "p.jsonl", clip_seconds=1.0, validity="pass",
                          progress=False)
    failing = build_index(folder, tmp_path / "f.jsonl", clip_seconds=1.0, validity="fail",
                          progress=False)
    assert passing and all(r.passes for r in passing)
    assert {r.video_id for r in failing} == {"fuma"} and not any(r.passes for r in failing)
    errors = (tmp_path / "f.errors.jsonl").read_text()
    assert "good.mp4: no clip kept" in errors and "not 'fail'" in errors
    with pytest.raises(FOAError, match="validity"):
        build_index(folder, tmp_path / "x.jsonl", validity="maybe")


def test_loudness_filter_drops_the_silent_clip(folder, tmp_path):
    kept = build_index(folder, tmp_path / "a.jsonl", clip_seconds=1.0, progress=False)
    assert "quiet_0001" not in {r.clip_id for r in kept}
    everything = build_index(folder, tmp_path / "b.jsonl", clip_seconds=1.0,
                             min_loudness_db=-200, progress=False)
    silent = next(r for r in everything if r.clip_id == "quiet_0001")
    assert silent.loudness_db < -60                          # AAC leaves a faint spill only


def test_resume_skips_videos_already_done(folder, tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    for name in ("good.mp4", "fuma.mp4"):
        shutil.copy(folder / name, root / name)
    out = tmp_path / "i.jsonl"
    first = build_index(root, out, clip_seconds=1.0, progress=False)
    shutil.copy(folder / "yt6.mp4", root / "yt6.mp4")
    (root / "junk.mp4").write_bytes(b"not a video")
    seen = []
    real = index_mod.index_video
    monkeypatch.setattr(index_mod, "index_video",
                        lambda path, **kw: seen.append(path.stem) or real(path, **kw))
    second = build_index(root, out, clip_seconds=1.0, progress=False)
    assert sorted(seen) == ["junk", "yt6"]
    assert [r for r in second if r.video_id != "yt6"] == first
    seen.clear()
    build_index(root, out, clip_seconds=1.0, progress=False)        # errors count as done
    assert seen == []
    # a run killed while writing a line leaves a partial line: it is dropped on resume
    with open(out, "a") as fh:
        fh.write('{"clip_id": "half')
    assert build_index(root, out, clip_seconds=1.0, progress=False) == second


def test_segment_list(folder, tmp_path):
    seg = tmp_path / "segments.txt"
    seg.write_text("# YT-360 style\ngood_1\nsep,0.0\nyt6_5\nnothere_0\n\n")
    assert read_segments(seg) == {"good": [1.0], "sep": [0.0], "yt6": [5.0], "nothere": [0.0]}
    records = build_index(folder, tmp_path / "i.jsonl", clip_seconds=1.0, segments=seg,
                          progress=False)
    assert [(r.video_id, r.start) for r in records] == [("good", 1.0), ("sep", 0.0)]
    errors = (tmp_path / "i.errors.jsonl").read_text()
    assert "yt6.mp4: no listed segment (5.0 s) fits" in errors    # past the end
    seg.write_text("good-no-start\n")
    with pytest.raises(FOAError, match="segments.txt:1"):
        read_segments(seg)


def test_worker_processes_give_the_same_index(folder, tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    for name in ("good.mp4", "yt6.mp4"):
        shutil.copy(folder / name, root / name)
    (root / "junk.mp4").write_bytes(b"junk")
    serial = build_index(root, tmp_path / "a.jsonl", clip_seconds=1.0, progress=False)
    parallel = build_index(root, tmp_path / "b.jsonl", clip_seconds=1.0, jobs=2,
                           progress=False)
    assert parallel == serial and len(serial) == 4
    assert "junk.mp4" in (tmp_path / "b.errors.jsonl").read_text()


def test_write_and_load_round_trip(tmp_path):
    inside = tmp_path / "clips" / "a.mp4"
    rec = ClipRecord("a_0000", "a", str(inside), str(inside), 0.0, 10.0, "train", "ambix",
                     48000, 1.01, True, -23.0, str(tmp_path / "gt" / "a.json"))
    outside = ClipRecord("b_0000", "b", "/elsewhere/b.mp4", "/elsewhere/b.m4a", 10.0, 10.0,
                         "test", "youtube-aac-6ch", 48000, None, False, -30.0)
    path = tmp_path / "index.jsonl"
    write_index(path, [rec, outside])
    stored = [json.loads(line) for line in path.read_text().splitlines()]
    assert stored[0]["video_path"] == "clips/a.mp4" and stored[0]["gt_path"] == "gt/a.json"
    assert stored[1]["audio_path"] == "/elsewhere/b.m4a" and stored[1]["energy_ratio"] is None
    assert load_index(path) == [rec, outside]
    assert load_index(path, resolve=False)[0].video_path == "clips/a.mp4"
    stored[1].pop("layout")
    stored[0]["future_field"] = 1                                     # ignored
    path.write_text("\n".join(json.dumps(d) for d in stored) + "\n")
    with pytest.raises(FOAError, match="index.jsonl:2: missing layout"):
        load_index(path)


def test_cli(folder, tmp_path, capsys):
    out = tmp_path / "cli.jsonl"
    assert main([str(folder), "--out", str(out), "--clip-seconds", "1", "--validity", "pass",
                 "--test-fraction", "0.3", "--seed", "1"]) == 0
    records = load_index(out)
    assert records and all(r.passes for r in records)
    assert "clips" in capsys.readouterr().err
