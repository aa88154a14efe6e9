"""Cropping decoded yuv420p planes (read_frames(planes=True), YUVFrames, gnomonic_crop) against
FFmpeg's own rgb24 conversion (PyAV's ``to_ndarray(format="rgb24")``) and the crops of its RGB
frames."""
import av
import numpy as np
import pytest

from avsa_learn.data.equirect import gnomonic_crop
from avsa_learn.data.video import YUVFrames, read_frames, write_video

FPS = 8.0


def yuv_frame(rng, width, height, fmt="yuv420p", colorspace=None, color_range=None):
    """A PyAV frame of random 8-bit planes (luma 16..235, chroma 16..240, as codecs make)."""
    frame = av.VideoFrame(width, height, fmt)
    for k, plane in enumerate(frame.planes):
        lo, hi = (16, 236) if k == 0 else (16, 241)
        data = np.zeros((plane.buffer_size // plane.line_size, plane.line_size), np.uint8)
        data[:, :plane.width] = rng.integers(lo, hi, (data.shape[0], plane.width))
        plane.update(data.tobytes())
    if colorspace is not None:
        frame.colorspace = colorspace
    if color_range is not None:
        frame.color_range = color_range
    return frame


@pytest.mark.parametrize("fmt, colorspace, color_range", [
    ("yuv420p", None, None),        # untagged: BT.601, limited range
    ("yuv420p", 1, 1),              # BT.709, limited
    ("yuv420p", 1, 2),              # BT.709, full range
    ("yuv420p", 5, 2),              # BT.470BG (= 601), full
    ("yuv420p", 9, 1),              # BT.2020, limited
    ("yuvj420p", None, None),       # JPEG (full-range) pixel format
])
def test_conversion_matches_ffmpeg_rgb24(fmt, colorspace, color_range):
    """Random planes (every chroma value next to every other, saturated colours clipped):
    within 2 levels of FFmpeg's conversion, under 1 on average (FFmpeg truncates with slightly
    different fixed-point coefficients)."""
    rng = np.random.default_rng(0)
    frame = yuv_frame(rng, 96, 48, fmt, colorspace, color_range)
    assert YUVFrames.holds(frame)
    ours = YUVFrames.from_frames([frame]).to_rgb()[0].astype(int)
    ffmpeg = frame.to_ndarray(format="rgb24").astype(int)
    diff = np.abs(ours - ffmpeg)
    assert diff.max() <= 2 and diff.mean() < 1.0, (diff.max(), diff.mean())


def test_unknown_colour_matrix_is_left_to_ffmpeg():
    frame = yuv_frame(np.random.default_rng(0), 32, 16, colorspace=8)     # YCgCo
    assert not YUVFrames.holds(frame)
    assert not YUVFrames.holds(av.VideoFrame(32, 16, "yuv444p"))


def texture(n_frames, height=96, width=192, seed=0):
    """Coloured blocks under a smooth colour ramp, moving: sharp chroma edges and flat areas."""
    rng = np.random.default_rng(seed)
    blocks = np.repeat(np.repeat(rng.integers(0, 256, (height // 8, width // 8, 3)), 8, 0), 8, 1)
    ramp = np.linspace(0, 255, width)[None, :, None] * np.array([1.0, 0.5, 0.0])
    base = (0.6 * blocks + 0.4 * ramp).astype(np.uint8)
    return np.stack([np.roll(base, 3 * k, axis=1) for k in range(n_frames)])


@pytest.fixture(scope="module")
def textured(tmp_path_factory):
    path = tmp_path_factory.mktemp("yuv") / "tex.mp4"
    return write_video(path, texture(16), FPS, crf=18, gop=8, bframes=0, tune="fastdecode")


def test_planes_of_a_written_video_are_its_frames(textured):
    rgb = read_frames(textured, 0.25, 6, FPS)
    planes = read_frames(textured, 0.25, 6, FPS, planes=True)
    assert isinstance(planes, YUVFrames) and planes.shape == rgb.shape == (6, 96, 192, 3)
    diff = np.abs(planes.to_rgb().astype(int) - rgb)
    assert diff.max() <= 2 and diff.mean() < 1.0, (diff.max(), diff.mean())


def test_crops_of_planes_match_crops_of_the_rgb_frames(textured):
    """Crops at the front, across the +-pi seam, over both poles, wide and narrow: within a
    few grey levels of cropping FFmpeg's RGB frames. The yuv path interpolates Y, U, V and then
    converts and clips; the RGB path converts and clips each source pixel and then
    interpolates: on sharp saturated edges the two differ by more (the tails below)."""
    rgb = read_frames(textured, 0.0, 8, FPS)
    planes = read_frames(textured, 0.0, 8, FPS, planes=True)
    az = np.deg2rad([0.0, 179.0, 40.0, -120.0, 90.0])
    el = np.deg2rad([0.0, 10.0, 85.0, -88.0, -20.0])
    fov = np.deg2rad([60.0, 90.0, 70.0, 50.0, 20.0])
    want = gnomonic_crop(rgb, az, el, fov, size=48).astype(int)
    got = gnomonic_crop(planes, az, el, fov, size=48)
    assert got.shape == want.shape == (5, 8, 48, 48, 3) and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - want)
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 4 and diff.max() <= 24, (
        diff.mean(), np.percentile(diff, 99), diff.max())
    # a scalar crop of the planes is the first of the batch
    np.testing.assert_array_equal(gnomonic_crop(planes, az[0], el[0], fov[0], size=48), got[0])


def test_padded_planes_repeat_the_last_frame(textured):
    planes = read_frames(textured, 0.0, 3, FPS, planes=True)
    longer = planes.padded(5)
    assert longer.shape == (5, 96, 192, 3)
    rgb = longer.to_rgb()
    np.testing.assert_array_equal(rgb[:3], planes.to_rgb())
    np.testing.assert_array_equal(rgb[3], rgb[2])
    np.testing.assert_array_equal(rgb[4], rgb[2])


def test_planes_need_the_coded_frames(textured):
    """A resize (``size``) gives RGB frames as without ``planes``."""
    sized = read_frames(textured, 0.0, 2, FPS, size=(48, 96), planes=True)
    assert isinstance(sized, np.ndarray) and sized.shape == (2, 48, 96, 3)
    np.testing.assert_array_equal(sized, read_frames(textured, 0.0, 2, FPS, size=(48, 96)))
