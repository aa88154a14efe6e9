"""Equirectangular geometry and gnomonic crops, checked against the convention written out by
hand, a slow per-pixel reference, py360convert and painted known-answer frames."""
import math

import numpy as np
import pytest

from avsa_learn.data.equirect import (_bilinear_sample, direction_to_pixel, gnomonic_crop,
                                      pixel_to_direction, sampling_grid)
from spatialfoa.validation import FOAError

W, H = 128, 64


# --- independent helpers (written from docs/conventions.md, not from the module) ----------
def ref_pixel_direction(x, y, width, height):
    """Centre of pixel (x, y), docs/conventions.md: azimuth pi (1 - 2 (x + .5) / W),
    elevation pi/2 (1 - 2 (y + .5) / H)."""
    return math.pi * (1 - 2 * (x + 0.5) / width), math.pi / 2 * (1 - 2 * (y + 0.5) / height)


def unit(az, el):
    return np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])


def camera_basis(az, el):
    """Forward, left and up unit vectors of a level camera looking at (az, el)."""
    f = unit(az, el)
    left = np.array([-math.sin(az), math.cos(az), 0.0])
    up = np.array([-math.sin(el) * math.cos(az), -math.sin(el) * math.sin(az), math.cos(el)])
    return f, left, up


def ref_sample(frame, col, row):
    """Bilinear sample at pixel-index coordinates, wrapping columns and crossing the poles."""
    height, width = frame.shape[:2]

    def pix(r, c):
        if r < 0:
            r, c = -1 - r, c + width // 2
        if r > height - 1:
            r, c = 2 * height - 1 - r, c + width // 2
        return frame[r, c % width].astype(float)

    c0, r0 = math.floor(col), math.floor(row)
    fx, fy = col - c0, row - r0
    v = ((1 - fx) * (1 - fy) * pix(r0, c0) + fx * (1 - fy) * pix(r0, c0 + 1)
         + (1 - fx) * fy * pix(r0 + 1, c0) + fx * fy * pix(r0 + 1, c0 + 1))
    return np.floor(v + 0.5)


def ref_crop(frame, az, el, fov, size, aspect=1.0):
    """Slow per-pixel gnomonic crop: ray = f + a left + b up on the tangent plane."""
    height, width = frame.shape[:2]
    f, left, up = camera_basis(az, el)
    t = math.tan(fov / 2)
    out = np.zeros((size, size, 3))
    for i in range(size):
        for j in range(size):
            a = t * (1 - 2 * (j + 0.5) / size)
            b = t * aspect * (1 - 2 * (i + 0.5) / size)
            d = f + a * left + b * up
            daz = math.atan2(d[1], d[0])
            delv = math.atan2(d[2], math.hypot(d[0], d[1]))
            col = width / 2 * (1 - daz / math.pi) - 0.5
            row = height / 2 * (1 - 2 * delv / math.pi) - 0.5
            out[i, j] = ref_sample(frame, col, row)
    return out


def direction_colour_frame(width, height):
    """RGB frame whose colour is a smooth function of the direction: 127.5 + 120 (x, y, z)."""
    frame = np.zeros((height, width, 3), np.uint8)
    for y in range(height):
        for x in range(width):
            frame[y, x] = np.round(127.5 + 120 * unit(*ref_pixel_direction(x, y, width, height)))
    return frame


def paint_disc(width, height, az, el, radius, colour=(255, 0, 0)):
    """Blank frame with a disc (angular radius) painted around (az, el)."""
    frame = np.zeros((height, width, 3), np.uint8)
    c = unit(az, el)
    for y in range(height):
        for x in range(width):
            if unit(*ref_pixel_direction(x, y, width, height)) @ c > math.cos(radius):
                frame[y, x] = colour
    return frame


def centroid(mask):
    ii, jj = np.nonzero(mask)
    return ii.mean(), jj.mean()


# --- pixels <-> directions --------------------------------------------------------------------
def test_known_pixels_follow_the_convention():
    # edge coordinates W/2, W/4, 3W/4 are pixel-index coordinates W/2 - 0.5 etc.
    az, el = pixel_to_direction(np.array([W / 2, W / 4, 3 * W / 4]) - 0.5, H / 2 - 0.5, W, H)
    np.testing.assert_allclose(az, [0, np.pi / 2, -np.pi / 2], atol=1e-12)
    np.testing.assert_allclose(el, 0, atol=1e-12)
    _, top = pixel_to_direction(0, 0, W, H)
    _, bottom = pixel_to_direction(0, H - 1, W, H)
    assert top == pytest.approx(np.pi / 2 - np.pi / (2 * H))
    assert bottom == pytest.approx(-np.pi / 2 + np.pi / (2 * H))
    # the pixel holding the left direction is in the left half, holding the front the middle
    col, row = direction_to_pixel([np.pi / 2, 0.0, np.pi - 1e-9], [0.0, 0.0, np.pi / 2], W, H)
    np.testing.assert_allclose(col, [W / 4 - 0.5, W / 2 - 0.5, W - 0.5], atol=1e-6)
    np.testing.assert_allclose(row, [H / 2 - 0.5, H / 2 - 0.5, -0.5], atol=1e-9)


def test_pixel_direction_round_trips():
    rng = np.random.default_rng(1)
    az = rng.uniform(-np.pi, np.pi, 500)
    el = rng.uniform(-np.pi / 2, np.pi / 2, 500)
    col, row = direction_to_pixel(az, el, W, H)
    assert np.all((col >= 0) & (col < W))
    az2, el2 = pixel_to_direction(col, row, W, H)
    np.testing.assert_allclose(np.angle(np.exp(1j * (az2 - az))), 0, atol=1e-9)
    np.testing.assert_allclose(el2, el, atol=1e-12)
    # every pixel centre maps to the same direction as the reference formula
    x, y = rng.integers(0, W, 50), rng.integers(0, H, 50)
    ref = np.array([ref_pixel_direction(a, b, W, H) for a, b in zip(x, y)])
    got = np.stack(pixel_to_direction(x, y, W, H), 1)
    np.testing.assert_allclose(np.angle(np.exp(1j * (got[:, 0] - ref[:, 0]))), 0, atol=1e-12)
    np.testing.assert_allclose(got[:, 1], ref[:, 1], atol=1e-12)
    # azimuth wraps: 2 pi more is the same pixel
    np.testing.assert_allclose(direction_to_pixel(az + 2 * np.pi, el, W, H)[0] % W, col % W,
                               atol=1e-9)


def test_sampling_grid_matches_direction_to_pixel():
    az, el, fov = np.array([3.0, -1.0]), np.array([0.4, -1.2]), np.array([1.0, 0.5])
    cols, rows = sampling_grid(az, el, fov, np.ones(2), 9, W, H)
    k, i, j = 1, 2, 7
    f, left, up = camera_basis(az[k], el[k])
    t = math.tan(fov[k] / 2)
    d = f + t * (1 - 2 * (j + 0.5) / 9) * left + t * (1 - 2 * (i + 0.5) / 9) * up
    ccol, crow = direction_to_pixel(math.atan2(d[1], d[0]),
                                    math.atan2(d[2], math.hypot(d[0], d[1])), W, H)
    assert cols[k, i, j] % W == pytest.approx(ccol)
    assert rows[k, i, j] == pytest.approx(crow)


# --- the crop against independent implementations -------------------------------------------
CASES = [  # azimuth, elevation, fov, aspect (radians)
    (0.3, 0.2, 1.2, 1.0), (np.pi, 0.0, 1.0, 1.0), (-np.pi + 0.02, -0.3, 0.8, 1.3),
    (2.0, 1.3, 1.3, 0.8), (-1.0, -np.pi / 2, 1.0, 1.0), (0.5, np.pi / 2, 0.6, 1.0),
]


def test_crop_matches_slow_reference_including_seam_and_poles():
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (2, H, W, 3), dtype=np.uint8)
    az, el, fov, aspect = map(np.array, zip(*CASES))
    got = gnomonic_crop(frames, az, el, fov, size=15, aspect=aspect)
    assert got.shape == (len(CASES), 2, 15, 15, 3)
    for k, (a, e, f, asp) in enumerate(CASES):
        for n in range(2):
            ref = ref_crop(frames[n], a, e, f, 15, asp)
            assert np.abs(got[k, n].astype(float) - ref).max() <= 1, (k, n)


def test_bilinear_kernel_matches_plain_numpy():
    """The numba kernel (fixed point, 1/2048-pixel weights) against exact float bilinear."""
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (3, H, W, 3), dtype=np.uint8)
    cols = rng.uniform(-W / 2, 1.5 * W, (2, 6, 5))
    rows = rng.uniform(-0.5, H - 0.5, (2, 6, 5))
    rows[0, 0, :2] = [-0.5, H - 0.5]                          # exactly on the pole rows
    out = np.empty((2, 3, 6, 5, 3), np.uint8)
    _bilinear_sample(frames, cols, rows, out)
    # plain numpy: pad one row above/below with the rows rolled by W/2, wrap columns
    padded = np.concatenate([np.roll(frames[:, :1], W // 2, 2), frames,
                             np.roll(frames[:, -1:], W // 2, 2)], 1).astype(float)
    x0, y0 = np.floor(cols).astype(int), np.floor(rows).astype(int)
    fx, fy = (cols - x0)[..., None], (rows - y0)[..., None]
    x0, x1, y0 = x0 % W, (x0 + 1) % W, y0 + 1
    for n in range(3):
        p = padded[n]
        v = ((1 - fx) * (1 - fy) * p[y0, x0] + fx * (1 - fy) * p[y0, x1]
             + (1 - fx) * fy * p[y0 + 1, x0] + fx * fy * p[y0 + 1, x1])
        np.testing.assert_allclose(out[:, n], np.floor(v + 0.5), atol=1)


def test_crop_matches_py360convert_with_mapped_conventions():
    """py360convert.e2p(img, fov_deg, u_deg, v_deg, out_hw): u_deg is positive to the RIGHT
    (u_deg = -azimuth), v_deg up (= elevation); its tangent-plane grid is
    linspace(-tan(fov/2), tan(fov/2), S) (samples on the border, not pixel centres), so our
    fov maps to 2 atan(tan(fov/2) (S - 1) / S); same equirect pixel centres (+0.5), same
    level camera (pitch then yaw), same pole/seam padding. It quantises its maps to 1/32 px
    (cv2.remap), so a smooth frame is compared with a small tolerance."""
    py360convert = pytest.importorskip("py360convert")
    frame = direction_colour_frame(256, 128)
    size = 32
    for az, el, fov, _ in CASES[:4] + [(-2.5, -0.9, 0.9, 1.0)]:
        ours = gnomonic_crop(frame, az, el, fov, size=size).astype(float)
        fov_p = 2 * math.atan(math.tan(fov / 2) * (size - 1) / size)
        theirs = py360convert.e2p(frame, math.degrees(fov_p), -math.degrees(az),
                                  math.degrees(el), (size, size)).astype(float)
        diff = np.abs(ours - theirs)
        assert diff.mean() < 0.5 and diff.max() <= 3, (az, el, diff.mean(), diff.max())


def test_crop_of_direction_colour_frame_sees_the_ray_directions():
    """Each crop pixel shows the colour of the direction its ray points at (seam, poles)."""
    frame = direction_colour_frame(512, 256)
    size = 17
    for az, el, fov, aspect in CASES:
        crop = gnomonic_crop(frame, az, el, fov, size=size, aspect=aspect).astype(float)
        f, left, up = camera_basis(az, el)
        t = math.tan(fov / 2)
        for i in range(size):
            for j in range(size):
                d = (f + t * (1 - 2 * (j + 0.5) / size) * left
                     + t * aspect * (1 - 2 * (i + 0.5) / size) * up)
                want = 127.5 + 120 * d / np.linalg.norm(d)
                # 1 px of a 512-wide frame is 0.7 deg: colour changes <= 120 * 0.0123 per px
                assert np.abs(crop[i, j] - want).max() < 3.0, (az, el, i, j)


# --- known answers with painted frames -----------------------------------------------------
@pytest.mark.parametrize("az_deg,el_deg", [(0, 0), (90, 0), (180, 0), (-179, 10), (179.5, -20),
                                           (-90, 60), (135, -60), (30, 85)])
def test_painted_disc_appears_at_the_centre_of_the_crop_aimed_at_it(az_deg, el_deg):
    az, el = math.radians(az_deg), math.radians(el_deg)
    frame = paint_disc(256, 128, az, el, math.radians(8))
    crop = gnomonic_crop(frame, az, el, math.radians(60), size=48)
    ci, cj = centroid(crop[..., 0] > 127)
    assert abs(ci - 23.5) < 1.0 and abs(cj - 23.5) < 1.0
    # the disc is round in the crop (gnomonic projection keeps a small disc near-circular)
    ii, jj = np.nonzero(crop[..., 0] > 127)
    assert 0.8 < np.ptp(ii) / max(np.ptp(jj), 1) < 1.25


def test_painter_is_right_about_the_left():
    """Independent check of the painter: a disc at +90 deg sits at column W/4 (the left)."""
    frame = paint_disc(256, 128, math.pi / 2, 0.0, math.radians(5))
    ii, jj = np.nonzero(frame[..., 0])
    assert abs(jj.mean() - (256 / 4 - 0.5)) < 0.6 and abs(ii.mean() - 63.5) < 0.6


def test_crop_aimed_left_is_correctly_oriented():
    """Facing +90 deg: a disc at larger azimuth (further left) appears in the crop's left half,
    a disc above the horizon in its top half."""
    crop_az = math.pi / 2
    more_left = gnomonic_crop(paint_disc(256, 128, crop_az + 0.35, 0.0, 0.08), crop_az, 0.0,
                              math.radians(70), size=64)
    above = gnomonic_crop(paint_disc(256, 128, crop_az, 0.35, 0.08), crop_az, 0.0,
                          math.radians(70), size=64)
    i, j = centroid(more_left[..., 0] > 127)
    assert j < 32 - 10 and abs(i - 31.5) < 1.5
    i, j = centroid(above[..., 0] > 127)
    assert i < 32 - 10 and abs(j - 31.5) < 1.5


def test_crop_across_the_seam_is_continuous():
    """A vertical stripe pattern continuous on the sphere stays continuous through the seam."""
    frame = direction_colour_frame(512, 256)
    crop = gnomonic_crop(frame, np.pi, 0.0, math.radians(40), size=64).astype(float)
    steps = np.abs(np.diff(crop, axis=1)).max()
    assert steps < 6                                          # no jump at the crop's middle


# --- shapes and errors -----------------------------------------------------------------------
def test_output_shapes_and_leading_dimensions():
    frames = np.zeros((2, 3, H, W, 3), np.uint8)
    assert gnomonic_crop(frames, 0.0, 0.0, 1.0, size=8).shape == (2, 3, 8, 8, 3)
    assert gnomonic_crop(frames, [0.0, 1.0, 2.0], 0.0, 1.0, size=8).shape == (3, 2, 3, 8, 8, 3)
    assert gnomonic_crop(frames[0, 0], [0.0], 0.0, 1.0, size=8).shape == (1, 8, 8, 3)
    a = gnomonic_crop(frames[0], np.array([0.5, 1.0]), 0.1, np.array([0.7, 0.9]), size=8)
    b = gnomonic_crop(frames[0], 1.0, 0.1, 0.9, size=8)
    np.testing.assert_array_equal(a[1], b)


@pytest.mark.parametrize("kwargs,match", [
    (dict(frames=np.zeros((H, W, 3), np.float32)), "uint8"),
    (dict(frames=np.zeros((H, W), np.uint8)), "shape"),
    (dict(fov=np.pi), "field of view"),
    (dict(fov=[0.5, 0.6], azimuth=[0.0, 1.0, 2.0]), "broadcast"),
    (dict(size=0), "size"),
    (dict(elevation=np.nan), "finite"),
])
def test_bad_input_raises(kwargs, match):
    args = dict(frames=np.zeros((H, W, 3), np.uint8), azimuth=0.0, elevation=0.0, fov=1.0)
    args.update(kwargs)
    with pytest.raises(FOAError, match=match):
        gnomonic_crop(**args)
