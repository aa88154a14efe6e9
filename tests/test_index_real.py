"""avsa-index on inputs as YouTube and shared clusters deliver them: 16:9 and stereo frames,
projection flags, symlinked datasets, 4-channel Opus/Vorbis, horizontal-only audio, failed
videos on a re-run and the summary that says why."""
import json
import os

import av
import numpy as np
import pytest

import spatialfoa
from avsa_learn.data.index import build_index, load_index, main
from avsa_learn.data.video import read_frames
from spatialfoa.spherical import write_spherical
from test_index import SR, plane_wave, write_media

FREQS = (300.0, 700.0, 1100.0, 1700.0)


def write_audio_codec(path, x, codec, sr=48000, **options):
    """Encode (4, n) float audio as ``codec`` with PyAV (quad layout, channel order kept), or
    skip the test when this FFmpeg cannot encode it."""
    if codec not in av.codecs_available:
        pytest.skip(f"no {codec} encoder in this FFmpeg")
    try:
        with av.open(str(path), "w") as out:
            s = out.add_stream(codec, rate=sr, layout="quad", options=options)
            n = s.codec_context.frame_size or 1024
            for i in range(0, x.shape[1], n):
                fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, i:i + n]),
                                                format="fltp", layout="quad")
                fr.sample_rate, fr.pts = sr, i
                for p in s.encode(fr):
                    out.mux(p)
            for p in s.encode():
                out.mux(p)
    except (av.error.FFmpegError, OSError) as err:   # e.g. FFmpeg's own Vorbis: 2 ch only
        pytest.skip(f"{codec} cannot encode 4 channels here: {err}")
    return path


def tones(seconds, sr=48000):
    t = np.arange(int(seconds * sr)) / sr
    return np.stack([0.2 * np.sin(2 * np.pi * f * t) for f in FREQS]).astype(np.float32)


@pytest.mark.parametrize("codec, ext, options", [
    ("libopus", "webm", {"mapping_family": "1"}),
    ("libopus", "opus", {"mapping_family": "2"}),         # the ambisonic mapping family
    ("libvorbis", "ogg", {}), ("vorbis", "ogg", {"strict": "experimental"})])
def test_four_channel_opus_and_vorbis_keep_acn_order(tmp_path, codec, ext, options):
    path = write_audio_codec(tmp_path / f"a.{ext}", tones(1.5), codec, **options)
    x, sr, _ = spatialfoa.read_audio(path)
    assert x.shape[0] == 4 and sr == 48000
    spec = np.abs(np.fft.rfft(x[:, 4800:4800 + 48000], axis=1))      # 1 Hz bins
    assert [int(np.argmax(s)) for s in spec] == [int(f) for f in FREQS]   # no remap


def test_opus_audio_file_beside_a_16_9_video_is_indexed_as_ambix(tmp_path):
    """video/ID.mp4 (16:9, as YouTube serves 360°) + audio/ID.webm (4-ch Opus, ACN)."""
    x = spatialfoa.resample(plane_wave(2.2), SR, 48000).astype(np.float32)
    write_media(tmp_path / "ds" / "video" / "abc.mp4", None, size=(36, 64), seconds=2.2)
    (tmp_path / "ds" / "audio").mkdir()
    write_audio_codec(tmp_path / "ds" / "audio" / "abc.webm", x, "libopus",
                      mapping_family="1", b="256000")
    recs = build_index(tmp_path / "ds", tmp_path / "i.jsonl", clip_seconds=1.0, progress=False)
    assert len(recs) == 2
    r = recs[0]
    assert r.audio_path.endswith("audio/abc.webm") and r.layout == "ambix"
    assert (r.projection, r.stereo, r.horizontal_only) == ("equirect", "mono", False)
    assert r.passes and abs(r.energy_ratio - 1) < 0.1          # a plane wave: E_xyz/E_w = 1


def test_horizontal_only_audio_is_reported(tmp_path):
    x = plane_wave(2.0, el=0.0)
    x[2] = 0.0                                                 # silent Z
    write_media(tmp_path / "ds" / "flat.mp4", x)
    write_media(tmp_path / "ds" / "full.mp4", plane_wave(2.0, el=0.4))
    recs = build_index(tmp_path / "ds", tmp_path / "i.jsonl", clip_seconds=1.0, progress=False)
    flags = {r.video_id: r.horizontal_only for r in recs}
    assert flags == {"flat": True, "full": False}
    line = json.loads((tmp_path / "i.jsonl").read_text().splitlines()[0])
    assert "horizontal_only" in line


def test_symlinked_videos_keep_their_audio_beside_the_link(tmp_path):
    store = tmp_path / "store"                                 # where the bytes really are
    write_media(store / "blob1.mp4", None, seconds=2.0)
    ds = tmp_path / "ds"
    (ds / "video").mkdir(parents=True)
    (ds / "audio").mkdir()
    os.symlink(store / "blob1.mp4", ds / "video" / "vid.mp4")
    spatialfoa.write_audio(ds / "audio" / "vid.wav", plane_wave(2.0), SR)
    recs = build_index(ds, tmp_path / "i.jsonl", clip_seconds=1.0, progress=False)
    assert [r.video_id for r in recs] == ["vid", "vid"]
    assert recs[0].audio_path == str(ds / "audio" / "vid.wav")
    assert recs[0].video_path == str(ds / "video" / "vid.mp4")     # the link, as found
    assert not (tmp_path / "i.errors.jsonl").read_text()


def test_stereo_and_forced_layouts(tmp_path):
    ds = tmp_path / "ds"
    write_media(ds / "tb.mp4", plane_wave(1.0), size=(64, 64), seconds=1.0)  # two 2:1 eyes
    write_media(ds / "meta.mp4", plane_wave(1.0, seed=5), size=(64, 64), seconds=1.0)
    write_spherical(ds / "meta.mp4", ds / "meta.mp4", "equirect", "top-bottom")
    out = tmp_path / "i.jsonl"
    recs = build_index(ds, out, clip_seconds=1.0, progress=False)
    assert [(r.video_id, r.stereo) for r in recs] == [("meta", "top-bottom")]
    errors = [json.loads(line) for line in open(tmp_path / "i.errors.jsonl")]
    assert errors[0]["video_id"] == "tb" and "--stereo" in errors[0]["reason"]
    # re-run with the flag: the options changed, so the failed video is retried
    stats = {}
    recs = build_index(ds, out, clip_seconds=1.0, progress=False, stereo="top-bottom",
                       stats=stats)
    assert sorted((r.video_id, r.stereo) for r in recs) == [("meta", "top-bottom"),
                                                            ("tb", "top-bottom")]
    assert stats["retried"] == 1 and stats["failed"] == 0
    assert not (tmp_path / "i.errors.jsonl").read_text()
    r = next(r for r in recs if r.video_id == "tb")
    from avsa_learn.data.video import probe_layout
    frames = read_frames(r.video_path, 0.0, 1, 8.0,
                         layout=probe_layout(r.video_path, r.projection, r.stereo))
    assert frames.shape == (1, 32, 64, 3)


def test_rerun_after_a_fix_retries_and_the_summary_says_why(tmp_path, capsys):
    ds = tmp_path / "ds"
    write_media(ds / "v1.mp4", plane_wave(2.0)[:2])          # stereo audio: fails
    out = tmp_path / "i.jsonl"
    assert main([str(ds), "--out", str(out), "--clip-seconds", "1"]) == 0
    err = capsys.readouterr().err
    assert "0 clips" in err and "1 video(s) failed now" in err and "i.errors.jsonl" in err
    # same options, same file: not retried, and the summary says so and names the flag
    assert main([str(ds), "--out", str(out), "--clip-seconds", "1"]) == 0
    err = capsys.readouterr().err
    assert "0 clips" in err and "not retried" in err and "--retry-failed" in err
    # the user fixes the file: retried without asking, because it changed
    (ds / "v1.mp4").unlink()
    write_media(ds / "v1.mp4", plane_wave(2.0))
    assert main([str(ds), "--out", str(out), "--clip-seconds", "1"]) == 0
    err = capsys.readouterr().err
    assert "2 clips (" in err and "retried" in err
    assert len(load_index(out)) == 2
    # an empty folder: the summary says there is nothing to index
    (tmp_path / "empty").mkdir()
    main([str(tmp_path / "empty"), "--out", str(tmp_path / "e.jsonl")])
    assert "no video files" in capsys.readouterr().err


def test_retry_failed_flag(tmp_path):
    ds = tmp_path / "ds"
    write_media(ds / "v1.mp4", plane_wave(2.0)[:2])
    out = tmp_path / "i.jsonl"
    build_index(ds, out, clip_seconds=1.0, progress=False)
    stats = {}
    build_index(ds, out, clip_seconds=1.0, progress=False, stats=stats)
    assert (stats["failed_before"], stats["retried"], stats["failed"]) == (1, 0, 0)
    build_index(ds, out, clip_seconds=1.0, progress=False, retry_failed=True, stats=stats)
    assert (stats["failed_before"], stats["retried"], stats["failed"]) == (0, 1, 1)
    assert len((tmp_path / "i.errors.jsonl").read_text().splitlines()) == 1   # not doubled
