"""Real 360° video layouts: spherical metadata boxes, 16:9 squeezed equirect, EAC, stereo.

The metadata boxes are written by the tests (FFmpeg writes none) and read back; the frame
conversions go through real MP4 files decoded by PyAV, and are checked against the direction
formulas of docs/conventions.md and an independent EAC geometry.
"""
import struct
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from avsa_learn.data.equirect import (direction_to_eac, eac_to_direction, gnomonic_crop,
                                      pixel_to_direction)
from avsa_learn.data.video import (VideoError, iter_equirect_frames, probe_layout, read_frames,
                                   write_video)
from spatialfoa.spherical import equirect_filter, read_spherical, write_spherical
from test_detect import BlobDetector, paint_disc

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONGO = DATA / "equirect" / "congo_360_topbottom_stereo_audio.mp4"
DEG = np.pi / 180


def unit(az, el):
    az, el = np.broadcast_arrays(az, el)
    return np.stack([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)], -1)


def texture(h, w):
    """A smooth grey pattern of the direction (period ~ 40 px at w = 1024), uint8 RGB."""
    az, el = pixel_to_direction(np.arange(w)[None, :], np.arange(h)[:, None], w, h)
    v = unit(az, el)
    g = 128 + 50 * np.sin(9 * v[..., 0] + 2) * np.cos(7 * v[..., 1]) + 50 * np.sin(8 * v[..., 2])
    return np.repeat(np.clip(np.round(g), 0, 255).astype(np.uint8)[..., None], 3, -1)


def video(tmp_path, name, frame, n=3, fps=4, **meta):
    path = write_video(tmp_path / name, np.repeat(frame[None], n, 0), fps, crf=0)
    if meta:
        write_spherical(path, path, **meta)
    return path


# --- metadata boxes ------------------------------------------------------------------------
@pytest.mark.parametrize("faststart", [False, True])
@pytest.mark.parametrize("projection, stereo, version", [
    ("equirect", "mono", 2), ("equirect", "top-bottom", 2), ("eac", "left-right", 2),
    ("cubemap", "mono", 2), ("equirect", "top-bottom", 1), ("equirect", "left-right", 1),
    ("equirect", "mono", 1)])
def test_metadata_round_trip_and_file_still_decodes(tmp_path, projection, stereo, version,
                                                    faststart):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, 64, 128, 3), np.uint8)
    src = write_video(tmp_path / "a.mp4", frames, 4, crf=0, faststart=faststart)
    before = read_frames(src, 0.0, 3, 4.0)
    out = write_spherical(src, tmp_path / "b.mp4", projection, stereo, version=version,
                          pose=(10.0, -5.5, 0.25) if version == 2 else (0, 0, 0))
    meta = read_spherical(out)
    assert meta["version"] == version
    assert (meta["projection"], meta["stereo"] or "mono") == (projection, stereo)
    if version == 2:
        assert meta["pose"] == (10.0, -5.5, 0.25)
        assert meta["metadata_source"] == "spatialfoa"
    assert read_spherical(src) is None
    # the media data is untouched and still found (chunk offsets shifted for fast-start files)
    import av
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert np.array_equal(frame, before[0])
    # writing again replaces the boxes instead of adding a second set
    write_spherical(out, out, "equirect", "mono", version=version)
    again = read_spherical(out)
    assert (again["projection"], again["stereo"] or "mono") == ("equirect", "mono")
    raw = out.read_bytes()
    assert raw.count(b"sv3d") + raw.count(b"GSpherical:Spherical>") == (1 if version == 2 else 2)


def test_v2_boxes_parse_from_hand_packed_bytes(tmp_path):
    """Boxes packed here field by field (RFC layout) are read as the RFC says."""
    src = video(tmp_path, "a.mp4", np.zeros((64, 128, 3), np.uint8),
                projection="cubemap", stereo="top-bottom")
    raw = src.read_bytes()
    i = raw.index(b"st3d")
    assert raw[i - 4:i + 9] == struct.pack(">I4sIB", 13, b"st3d", 0, 1)   # 1 = top-bottom
    j = raw.index(b"cbmp")
    assert raw[j - 4:j + 16] == struct.pack(">I4sIII", 20, b"cbmp", 0, 0, 0)
    assert probe_layout(src).projection == "cubemap"


@pytest.mark.skipif(not CONGO.is_file(), reason="real sample data absent")
def test_real_top_bottom_file_v1_metadata():
    layout = probe_layout(CONGO)
    assert (layout.projection, layout.stereo, layout.source) == ("equirect", "top-bottom",
                                                                  "GSpherical")
    assert (layout.width, layout.height, layout.eye_size) == (1920, 1080, (1920, 540))
    # the frame we give is the top eye stretched to 2:1: closer to the top half than the bottom
    import av
    (ours,) = read_frames(CONGO, 2.0, 1, 16.0, width=480)
    with av.open(str(CONGO)) as c:
        c.seek(2 * 1_000_000)
        raw = next(f for f in c.decode(video=0) if f.time >= 2.0 - 0.02)
        top = raw.to_ndarray(format="rgb24", width=480, height=480)
    assert ours.shape == (240, 480, 3)
    eye_top = top[:240].astype(float)
    eye_bottom = top[240:].astype(float)
    err_top = np.abs(ours - eye_top).mean()
    assert err_top < 6 and err_top < 0.5 * np.abs(ours - eye_bottom).mean()


def test_unknown_layout_names_the_file_and_the_flags(tmp_path):
    path = video(tmp_path, "square.mp4", np.zeros((128, 128, 3), np.uint8))
    with pytest.raises(VideoError, match=r"square\.mp4.*--stereo"):
        probe_layout(path)
    with pytest.raises(VideoError, match=r"square\.mp4.*--projection"):
        probe_layout(path, stereo="left-right")          # two 64x128 eyes: 1:2, not 2:1
    layout = probe_layout(path, stereo="top-bottom")     # two 128x64 eyes: 2:1
    assert (layout.projection, layout.stereo, layout.source) == ("equirect", "top-bottom",
                                                                  "flag")
    with pytest.raises(VideoError, match="--projection must be"):
        probe_layout(path, projection="fisheye")


# --- 16:9 squeezed equirect ----------------------------------------------------------------
@pytest.mark.parametrize("az_deg, el_deg", [(60.0, 20.0), (-135.0, -35.0)])
def test_disc_on_a_16_9_squeezed_frame_lands_at_the_crop_centre(tmp_path, az_deg, el_deg):
    az, el = az_deg * DEG, el_deg * DEG
    frame = paint_disc(np.zeros((360, 640, 3), np.uint8), az, el, 6 * DEG, (255, 0, 0))
    path = video(tmp_path, "yt.mp4", frame)
    layout = probe_layout(path)
    assert (layout.projection, layout.stereo, layout.source) == ("equirect", "mono", "aspect")
    frames = read_frames(path, 0.0, 2, 4.0)
    assert frames.shape == (2, 360, 640, 3)            # the coded grid: 360 x 180 degrees
    crop = gnomonic_crop(frames, az, el, 40 * DEG, size=64)[0]
    mask = (crop[..., 0] > 128) & (crop[..., 1] < 100)
    cy, cx = ndimage.center_of_mass(mask)
    assert (cy, cx) == pytest.approx((31.5, 31.5), abs=0.7)
    # tan(6 deg) / tan(20 deg) * 32 px = 9.2 px radius: the disc keeps its round shape
    assert np.sqrt(mask.sum() / np.pi) == pytest.approx(32 * np.tan(6 * DEG) / np.tan(20 * DEG),
                                                        rel=0.1)
    (det,) = BlobDetector(seam_pad=0.0).detect(frames[0])
    assert np.arccos(np.clip(unit(det.azimuth, det.elevation) @ unit(az, el), -1, 1)) < 1.0 * DEG
    # resampled to 2:1 (as avsa-prepare does) the crop is the same
    wide = read_frames(path, 0.0, 1, 4.0, width=720)
    assert wide.shape == (1, 360, 720, 3)
    cy2, cx2 = ndimage.center_of_mass(gnomonic_crop(wide, az, el, 40 * DEG, size=64)[0, ..., 0]
                                      > 128)
    assert (cy2, cx2) == pytest.approx((31.5, 31.5), abs=0.7)


# --- EAC -----------------------------------------------------------------------------------
def test_eac_geometry_is_its_own_inverse_and_faces_are_where_youtube_puts_them():
    w, h = 384, 256
    cc, rr = np.meshgrid(np.arange(w), np.arange(h))
    az, el = eac_to_direction(cc, rr, w, h)
    col, row, edge = direction_to_eac(az, el, w, h)
    # the 2-px padding (frame sides, above and below each row) shows the neighbouring face
    inside = (cc >= 2) & (cc < w - 2) & (rr % 128 >= 2) & (rr % 128 < 126)
    assert np.all(edge[inside] > 0)
    assert np.allclose(col[inside], cc[inside], atol=1e-9)
    assert np.allclose(row[inside], rr[inside], atol=1e-9)
    # face centres: top row left, front, right; bottom row down, back, up
    # faces (384 - 2 x 2) / 3 wide, 128 - 2 x 2 high, after 2 px of padding (FFmpeg's v360)
    cols = 2 + (np.array([0.5, 1.5, 2.5] * 2)) * 380 / 3 - 0.5
    rows = np.array([0] * 3 + [128] * 3) + 2 + 62 - 0.5
    centres = eac_to_direction(cols, rows, w, h)
    want = unit(np.array([90, 0, -90, 0, 180, 0]) * DEG, np.array([0, 0, 0, -90, 0, 90]) * DEG)
    assert np.allclose(unit(*centres), want, atol=1e-9)


def test_eac_frame_made_from_a_labelled_equirect_converts_back_within_a_pixel(tmp_path):
    w, h = 1024, 512
    ref = texture(h, w)
    face = 128                                             # EAC frame 384 x 256
    cc, rr = np.meshgrid(np.arange(3 * face), np.arange(2 * face))
    az, el = eac_to_direction(cc, rr, 3 * face, 2 * face)
    # sample the reference at each EAC pixel's direction (bilinear, columns wrapping)
    x = np.mod(0.5 * w * (1 - az / np.pi) - 0.5, w)
    y = 0.5 * h * (1 - 2 * el / np.pi) - 0.5
    eac = ndimage.map_coordinates(ref[..., 0].astype(float), [y, x], order=1, mode="grid-wrap")
    eac = np.repeat(np.round(eac).astype(np.uint8)[..., None], 3, -1)
    path = video(tmp_path, "eac.mp4", eac, projection="eac", stereo="mono")
    layout = probe_layout(path)
    assert (layout.projection, layout.source) == ("eac", "sv3d")
    assert "v360=input=eac" in equirect_filter(layout, w)
    (back,) = list(iter_equirect_frames(path, fps=4, width=w, duration=0.25))
    assert back.shape == (h, w, 3)
    # away from face seams (3 EAC px), each pixel lies within the range of the reference over
    # its 3x3 neighbourhood (i.e. within one equirect pixel), up to codec/rounding levels
    paz, pel = pixel_to_direction(np.arange(w)[None, :], np.arange(h)[:, None], w, h)
    _, _, edge = direction_to_eac(paz, pel, 3 * face, 2 * face)
    # the EAC frame is coarser than the equirect near the face centres (128 px per 90 deg
    # against 256): allow one EAC pixel there, i.e. compare within a 5x5 window
    g = ref[..., 0].astype(int)
    lo = ndimage.minimum_filter(g, size=5, mode="wrap")
    hi = ndimage.maximum_filter(g, size=5, mode="wrap")
    v = back[..., 0].astype(int)
    ok = (v >= lo - 3) & (v <= hi + 3)
    away = (edge > 3) & (np.abs(pel) < 80 * DEG)
    assert ok[away].mean() == 1.0, f"{(~ok[away]).sum()} pixels off"
    assert np.abs(v - g)[away].mean() < 2.0
    # the wrong layout (a plain cubemap) does not give the picture back
    wrong = read_frames(path, 0.0, 1, 4.0, width=w,
                        layout=probe_layout(path, projection="cubemap"))[0, ..., 0].astype(int)
    assert np.abs(wrong - g)[away].mean() > 10


# --- stereo --------------------------------------------------------------------------------
@pytest.mark.parametrize("stereo, version", [("top-bottom", 2), ("top-bottom", 1),
                                             ("left-right", 2)])
def test_stereo_gives_the_first_eye(tmp_path, stereo, version):
    eye_a = paint_disc(np.zeros((128, 256, 3), np.uint8), 90 * DEG, 0, 15 * DEG, (255, 0, 0))
    eye_b = paint_disc(np.zeros((128, 256, 3), np.uint8), -90 * DEG, 0, 15 * DEG, (0, 0, 255))
    frame = np.concatenate([eye_a, eye_b], axis=0 if stereo == "top-bottom" else 1)
    path = video(tmp_path, "st.mp4", frame, stereo=stereo, version=version)
    layout = probe_layout(path)
    assert layout.stereo == stereo and layout.eye_size == (256, 128)
    frames = read_frames(path, 0.0, 2, 4.0)
    assert frames.shape == (2, 128, 256, 3)
    assert np.abs(frames[0].astype(int) - eye_a).mean() < 3
    (det,) = BlobDetector(seam_pad=0.0).detect(frames[0])
    assert det.label == "red" and det.azimuth == pytest.approx(90 * DEG, abs=2 * DEG)


def test_stereo_eac_gives_the_top_eye(tmp_path):
    face = 64
    cc, rr = np.meshgrid(np.arange(3 * face), np.arange(2 * face))
    az, el = eac_to_direction(cc, rr, 3 * face, 2 * face)
    d = unit(az, el)
    red = d @ unit(0.0, 0.0) > np.cos(20 * DEG)          # a disc at the front, top eye only
    top = np.zeros((2 * face, 3 * face, 3), np.uint8)
    top[red] = (255, 0, 0)
    bottom = np.zeros_like(top)
    bottom[d @ unit(np.pi, 0.0) > np.cos(20 * DEG)] = (0, 0, 255)
    path = video(tmp_path, "eac_tb.mp4", np.concatenate([top, bottom]), projection="eac",
                 stereo="top-bottom")
    (frame,) = read_frames(path, 0.0, 1, 4.0)
    assert frame.shape == (2 * face, 4 * face, 3)
    (det,) = BlobDetector(seam_pad=0.0).detect(frame)
    assert det.label == "red" and abs(det.azimuth) < 2 * DEG and abs(det.elevation) < 2 * DEG


def test_iter_equirect_frames_times_and_duration(tmp_path):
    frames = np.zeros((8, 64, 128, 3), np.uint8)
    frames[:, :, :, 0] = (np.arange(8) * 30)[:, None, None]      # frame k has red 30 k
    path = write_video(tmp_path / "t.mp4", frames, 8, crf=0)
    got = list(iter_equirect_frames(path, fps=4, start=0.25, duration=0.5))
    assert [int(round(f[..., 0].mean() / 30)) for f in got] == [2, 4]
    allf = list(iter_equirect_frames(path, fps=8))
    assert len(allf) == 8 and allf[0].shape == (64, 128, 3)
    with pytest.raises(VideoError, match="t.mp4"):
        next(iter_equirect_frames(path, fps=4, start=5.0))
