"""Frame reading and probing: frames whose grey level encodes their index, written with PyAV."""
import av
import numpy as np
import pytest
from scipy.signal import butter, sosfilt

import spatialfoa
from avsa_learn.data.video import (VideoError, probe_audio, probe_video, read_frames,
                                   write_video)

STEP = 7  # grey level step per frame index (h264 keeps flat frames within ~2 levels)


def write_clip(path, n_frames, fps, width=64, height=32, gop=4, audio_channels=0, sr=24000):
    """Flat frames of grey level STEP * index; optional AAC noise of ``audio_channels``."""
    frames = (np.full((height, width, 3), STEP * k % 256, np.uint8) for k in range(n_frames))
    audio = None
    if audio_channels:
        n = int(n_frames / fps * sr)
        audio = 0.1 * np.random.default_rng(0).standard_normal((audio_channels, n))
    return write_video(path, frames, fps, audio, sr, crf=10, gop=gop)


def index_of(frames):
    return np.round(frames.reshape(len(frames), -1).mean(1) / STEP).astype(int)


@pytest.fixture(scope="module")
def clip10(tmp_path_factory):
    """30 frames at 10 fps (3 s), keyframe every 4 frames, 4-channel audio."""
    return write_clip(tmp_path_factory.mktemp("v") / "clip.mp4", 30, 10, audio_channels=4)


def test_frames_at_the_video_rate_are_consecutive(clip10):
    frames = read_frames(clip10, 0.0, n_frames=8, fps=10.0)
    assert frames.shape == (8, 32, 64, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(index_of(frames), np.arange(8))


@pytest.mark.parametrize("start", [0.0, 0.43, 1.06, 1.51, 2.21])
def test_nearest_frame_at_another_rate_after_a_seek(clip10, start):
    """fps 16 from a 10 fps video: time t gets frame round(10 t); the start lies inside a GOP."""
    frames = read_frames(clip10, start, n_frames=8, fps=16.0)
    want = np.round((start + np.arange(8) / 16) * 10).astype(int)
    want = want[want <= 29]
    np.testing.assert_array_equal(index_of(frames), want)


def test_resize(clip10):
    frames = read_frames(clip10, 1.0, n_frames=2, fps=10.0, size=(16, 32))
    assert frames.shape == (2, 16, 32, 3)
    np.testing.assert_array_equal(index_of(frames), [10, 11])


def test_video_ending_early_gives_fewer_frames_and_a_late_start_raises(clip10):
    frames = read_frames(clip10, 2.76, n_frames=8, fps=10.0)   # frames 28, 29, 29, end
    np.testing.assert_array_equal(index_of(frames), [28, 29, 29][:len(frames)])
    assert len(frames) < 8
    with pytest.raises(VideoError, match="clip.mp4.*no video frame"):
        read_frames(clip10, 10.0, n_frames=2)


def test_probe_video(clip10, tmp_path):
    info = probe_video(clip10)
    assert (info["width"], info["height"]) == (64, 32)
    assert info["fps"] == pytest.approx(10.0)
    assert info["duration"] == pytest.approx(3.0, abs=0.11)
    assert info["has_audio"] and info["audio_channels"] == 4 and info["audio_rate"] == 24000
    silent = probe_video(write_clip(tmp_path / "silent.mp4", 5, 5))
    assert not silent["has_audio"] and silent["audio_channels"] == 0
    assert probe_audio(clip10)["audio_channels"] == 4


def test_clear_errors_name_the_file(tmp_path, clip10):
    with pytest.raises(VideoError, match="missing.mp4: no such file"):
        read_frames(tmp_path / "missing.mp4", 0.0)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="junk.mp4: cannot open"):
        probe_video(junk)
    with pytest.raises(VideoError, match="junk.mp4"):
        read_frames(junk, 0.0)
    cut = tmp_path / "cut.mp4"                 # moov at the end: cutting it loses the index
    cut.write_bytes(clip10.read_bytes()[:3000])
    with pytest.raises(VideoError, match="cut.mp4"):
        read_frames(cut, 0.0)
    audio_only = tmp_path / "a.m4a"
    with av.open(str(audio_only), "w") as out:
        a = out.add_stream("aac", rate=24000, layout="stereo")
        fr = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp",
                                        layout="stereo")
        fr.sample_rate, fr.pts = 24000, 0
        for p in list(a.encode(fr)) + list(a.encode()):
            out.mux(p)
    with pytest.raises(VideoError, match="a.m4a: no video stream"):
        probe_video(audio_only)
    for bad in ({"n_frames": 0}, {"fps": 0}, {"size": (10,)}, {"start": -1}):
        with pytest.raises(VideoError):
            read_frames(clip10, **{"start": 0.0, **bad})


def test_a_short_read_decodes_only_from_the_keyframe_before_it(tmp_path, monkeypatch):
    path = write_clip(tmp_path / "long.mp4", 400, 20, width=128, height=64, gop=20)
    with av.open(str(path)) as c:
        every = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    decoded = []
    real_open = av.open

    class Counting:                       # counts the frames read_frames decodes
        def __init__(self, c):
            self.c = c

        def __getattr__(self, name):
            return getattr(self.c, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.c.close()

        def decode(self, *args, **kwargs):
            for f in self.c.decode(*args, **kwargs):
                decoded.append(f)
                yield f

    monkeypatch.setattr(av, "open", lambda *a, **k: Counting(real_open(*a, **k)))
    tail = read_frames(path, 19.0, n_frames=2, fps=20.0)
    np.testing.assert_array_equal(tail, np.stack(every[380:382]))
    assert len(decoded) <= 20 + 3                 # one GOP, not the 380 frames before


@pytest.mark.parametrize("channels", [4, 6])
def test_write_video_round_trips_frames_and_channel_order(tmp_path, channels):
    """write_video -> read_frames / spatialfoa.read_audio: frames close, each decoded channel
    correlates best with the one written at its position, durations right."""
    fps, sr, n = 8, 24000, 12                                     # 1.5 s
    rng = np.random.default_rng(1)
    cols = np.linspace(0, 1, 64)[None, :, None]
    frames = np.stack([np.broadcast_to(np.round(40 + 150 * cols * np.array([1, 0.5, 0.2])
                                                + 4 * k), (32, 64, 3)).astype(np.uint8)
                       for k in range(n)])
    lowpass = butter(8, 4000, fs=sr, output="sos")
    x = sosfilt(lowpass, 0.1 * rng.standard_normal((channels, int(n / fps * sr)))).astype(
        np.float32)
    path = write_video(tmp_path / "rt.mp4", frames, fps, x, sr, atomic=True)
    assert path.exists() and not (tmp_path / "rt.mp4.part").exists()
    back = read_frames(path, 0.0, n_frames=n, fps=fps)
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 2.0
    info = probe_video(path)
    assert info["duration"] == pytest.approx(n / fps, abs=1 / fps + 1e-6)
    assert info["audio_channels"] == channels and info["audio_rate"] == sr
    y, rate, _ = spatialfoa.read_audio(path)
    assert rate == sr and y.shape[0] == channels
    assert y.shape[1] / sr == pytest.approx(x.shape[1] / sr, abs=0.1)
    m = min(y.shape[1], x.shape[1]) - 2048
    corr = np.corrcoef(np.concatenate([y[:, 1024:m], x[:, 1024:m]]))[:channels, channels:]
    np.testing.assert_array_equal(np.argmax(corr, axis=1), np.arange(channels))
    assert np.all(np.diag(corr) > 0.9)
