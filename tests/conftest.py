"""Shared test fixtures: the real-data folder and a tiny MP4 writer (PyAV)."""
from pathlib import Path

import numpy as np
import pytest

#: ../shared/data relative to the repository root; absent in a user's clone.
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

_LAYOUTS = {1: "mono", 2: "stereo", 4: "quad", 6: "6.0"}


@pytest.fixture
def data_dir():
    """Path of the real-data folder; skips the test when it is absent."""
    if not DATA.exists():
        pytest.skip(f"real data folder {DATA} is absent")
    return DATA


def _write_mp4(path, x, sr, video=True, layout=None, codec="aac", options=None):
    """Write (channels, samples) float audio ``x`` to an MP4/MOV with PyAV.

    Audio: ``codec`` (aac, opus, flac...) with FFmpeg channel layout ``layout`` (default by
    count: mono, stereo, quad, 6.0), fed as planar float frames so the channel order is kept.
    Video (``video=True``): 64×32 h264 at 10 fps covering the audio. ``options`` are muxer
    options, e.g. ``{"movflags": "faststart"}`` to put moov before mdat.
    """
    import av

    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    channels, n = x.shape
    layout = layout or _LAYOUTS[channels]
    with av.open(str(path), "w", options=options or {}) as out:
        vstream = None
        if video:
            vstream = out.add_stream("libx264", rate=10)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 32, "yuv420p"
        astream = out.add_stream(codec, rate=sr, layout=layout)
        sample_fmt = astream.codec_context.codec.audio_formats[0].name
        frame_size = astream.codec_context.frame_size or 1024
        for i in range(0, n, frame_size):
            block = x[:, i:i + frame_size]
            if sample_fmt == "s16":  # e.g. FLAC in this FFmpeg build: packed int16
                block = np.round(np.clip(block, -1, 1) * 32767).astype(np.int16).T.reshape(1, -1)
            elif sample_fmt != "fltp":
                raise ValueError(f"test writer: unsupported sample format {sample_fmt}")
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format=sample_fmt,
                                               layout=layout)
            frame.sample_rate, frame.pts = sr, i
            for packet in astream.encode(frame):
                out.mux(packet)
        for packet in astream.encode():
            out.mux(packet)
        if video:
            n_frames = max(1, int(np.ceil(n / sr * 10)))
            for k in range(n_frames):
                img = np.full((32, 64, 3), (k * 37) % 256, np.uint8)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = k
                for packet in vstream.encode(frame):
                    out.mux(packet)
            for packet in vstream.encode():
                out.mux(packet)
    return Path(path)


@pytest.fixture
def write_foa_mp4():
    """``write_foa_mp4(path, x, sr, video=True, layout=None, codec="aac", options=None)``
    writes a small MP4 (h264 64×32 video + multichannel audio, channel order kept) and returns
    its Path."""
    return _write_mp4


def band_noise(channels, n, sr, rng, fmax=4000.0):
    """Independent low-passed Gaussian noises (channels, n) float32, RMS about 0.1."""
    from scipy.signal import butter, sosfilt

    sos = butter(4, fmax, fs=sr, output="sos")
    y = sosfilt(sos, rng.standard_normal((channels, n)))
    return (0.1 * y / np.std(y, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def noise():
    """``noise(channels, n, sr, seed=0)``: independent band-limited noises, float32."""
    return lambda channels, n, sr, seed=0: band_noise(channels, n, sr,
                                                     np.random.default_rng(seed))
