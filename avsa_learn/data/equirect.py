"""Equirectangular geometry: pixels <-> directions, and gnomonic (perspective) crops.

Convention (docs/conventions.md): a frame of width W and height H (W = 2H, or any other aspect
ratio, e.g. 16:9 as YouTube serves 360° video: the grid still spans 360° x 180°) covers the sphere;
pixel centres are at +0.5. Column x maps to azimuth ``pi * (1 - 2 (x + 0.5) / W)``: column W/2 is
the front (azimuth 0), azimuth grows toward the left edge (+pi/2 at column W/4, +-pi at the edges,
the back). Row y maps to elevation ``pi/2 * (1 - 2 (y + 0.5) / H)``: the top row is the zenith.
Azimuth is counter-clockwise from the front seen from above (+pi/2 = left), elevation is up,
radians. A sound at (azimuth, elevation) and a pixel at (azimuth, elevation) are the same place.

A gnomonic crop is what a pinhole camera at the sphere's centre sees when it looks at
(azimuth, elevation) with its horizon level (no roll): the image's left side is toward larger
azimuth (the viewer's left), its top toward larger elevation.

>>> frames = np.zeros((8, 512, 1024, 3), np.uint8)
>>> gnomonic_crop(frames, np.array([0.0, np.pi / 2]), 0.0, np.deg2rad(60)).shape
(2, 8, 112, 112, 3)
"""
import numpy as np
from numba import njit

from spatialfoa.validation import FOAError


def pixel_to_direction(col, row, width, height):
    """Direction (azimuth, elevation), radians, of pixel coordinates (col, row).

    ``col``/``row`` are in pixel-index units: pixel x has its centre at ``col = x`` and spans
    [x - 0.5, x + 0.5) (docs/conventions.md: "pixel centres at x + 0.5" in edge units); floats
    and arrays broadcast. Azimuth (CCW from the front, +pi/2 = left) is wrapped into (-pi, pi];
    elevation is up. Example, 1024x512: ``pixel_to_direction(255.5, 255.5, 1024, 512)`` ->
    (pi/2, 0), the left (edge coordinate W/4); ``pixel_to_direction(0, 0, 1024, 512)`` ->
    (pi - pi/1024, pi/2 - pi/1024), the top-left pixel next to the back and the zenith.
    """
    width, height = _frame_size(width, height)
    col = np.asarray(col, dtype=np.float64)
    row = np.asarray(row, dtype=np.float64)
    azimuth = np.pi * (1.0 - 2.0 * (col + 0.5) / width)
    azimuth = np.pi - np.mod(np.pi - azimuth, 2.0 * np.pi)
    elevation = 0.5 * np.pi * (1.0 - 2.0 * (row + 0.5) / height)
    return azimuth, elevation


def direction_to_pixel(azimuth, elevation, width, height):
    """Float pixel coordinates (col, row) of a direction; the inverse of :func:`pixel_to_direction`.

    Azimuth (radians, CCW from the front, +pi/2 = left; any value, it wraps) and elevation
    (radians, up, in [-pi/2, pi/2]) broadcast. Pixel-index units (the centre of pixel x is
    ``col = x``, so the pixel holding the direction is ``round(col) % W``); ``col`` is wrapped
    into [0, W) (continuous across the +-pi seam modulo W), ``row`` is in [-0.5, H - 0.5].
    Example: ``direction_to_pixel(np.pi / 2, 0, 1024, 512)`` -> (255.5, 255.5): the border of
    columns 255 and 256 (edge coordinate W/4), halfway down.
    """
    width, height = _frame_size(width, height)
    azimuth = np.asarray(azimuth, dtype=np.float64)
    elevation = np.asarray(elevation, dtype=np.float64)
    col = np.mod(0.5 * width * (1.0 - azimuth / np.pi) - 0.5, width)
    row = 0.5 * height * (1.0 - 2.0 * elevation / np.pi) - 0.5
    return col, row


def gnomonic_crop(frames, azimuth, elevation, fov, size=112, aspect=1.0):
    """Perspective (gnomonic) crops of equirectangular frames, bilinear.

    ``frames``: uint8 (..., H, W, 3), e.g. (T, H, W, 3) (W even; W = 2H by convention), or a
    :class:`avsa_learn.data.video.YUVFrames` (T frames as decoded yuv420p planes): then each
    sampled pixel is interpolated in YUV and converted to RGB as the frames' colour matrix says
    (within ~2 levels of cropping the frames converted by FFmpeg; no full-frame conversion).
    ``azimuth``, ``elevation`` (crop centre, radians, CCW from the front / up), ``fov`` (horizontal
    field of view, radians, in (0, pi)) and ``aspect`` (vertical over horizontal extent of the
    tangent plane; 1 = square pixels) are scalars or (K,) arrays for K crops, broadcast together.
    Returns uint8 (K, ..., size, size, 3) when any of them is an array, (..., size, size, 3) when
    all are scalars. The crop has no roll (horizon level); its left side is toward larger
    azimuth; sampling wraps at +-pi and crosses the poles (a row above the zenith continues on
    the opposite meridian). All frames of a crop share one sampling grid.

    >>> crops = gnomonic_crop(frames, [np.pi, 0.3], [0.0, 0.5], np.deg2rad([60, 30]), size=64)
    """
    from avsa_learn.data.video import YUVFrames

    yuv = isinstance(frames, YUVFrames)
    frames = frames if yuv else np.asarray(frames)
    if yuv and len(frames) == 0:
        raise FOAError("frames: no frames")
    if not yuv and frames.dtype != np.uint8:
        raise FOAError(f"frames: expected uint8 RGB frames, got dtype {frames.dtype}")
    if not yuv and (frames.ndim < 3 or frames.shape[-1] != 3):
        raise FOAError(f"frames: expected shape (..., H, W, 3), got {frames.shape}")
    height, width = frames.shape[-3:-1]
    _frame_size(width, height)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise FOAError(f"size must be a positive integer (pixels), got {size!r}")
    params = _crop_params(azimuth, elevation, fov, aspect)
    batched = params.ndim == 2
    params = params.reshape(4, -1)
    cols, rows = sampling_grid(*params, size, width, height)
    lead = frames.shape[:-3]
    out = np.empty((params.shape[1], int(np.prod(lead)), size, size, 3), np.uint8)
    if yuv:
        _bilinear_sample_yuv(frames.y, frames.u, frames.v, width, frames.coefficients, cols,
                             rows, out)
    else:
        _bilinear_sample(np.ascontiguousarray(frames.reshape((-1, height, width, 3))), cols,
                         rows, out)
    out = out.reshape((params.shape[1],) + lead + (size, size, 3))
    return out if batched else out[0]


def sampling_grid(azimuth, elevation, fov, aspect, size, width, height):
    """float32 equirect pixel coordinates (cols, rows), each (K, size, size), of K crops' pixels.

    The crop pixel (i, j) (centre at +0.5) looks along the camera-frame ray
    (1, t (1 - 2 (j + 0.5) / size), t a (1 - 2 (i + 0.5) / size)) (x forward, y left, z up) with
    t = tan(fov / 2) and a = aspect; the camera is pitched up by ``elevation`` then turned left
    by ``azimuth`` (radians, (K,) arrays). The coordinates are those of
    :func:`direction_to_pixel` except that ``cols`` are not wrapped (they lie within
    [-W/2, 3W/2); the sampler wraps them); ``rows`` lie in [-0.5, H - 0.5].
    """
    azimuth, elevation, fov, aspect = (np.asarray(v, dtype=np.float64).reshape(-1, 1)
                                       for v in (azimuth, elevation, fov, aspect))
    azimuth = np.mod(azimuth + np.pi, 2.0 * np.pi) - np.pi
    u = 1.0 - (2.0 * np.arange(size) + 1.0) / size            # +1 left/top ... -1 right/bottom
    t = np.tan(0.5 * fov)
    left = (t * u)[:, None, :]                                 # (K, 1, S): along the columns
    up = t * aspect * u                                        # (K, S): along the rows
    c, s = np.cos(elevation), np.sin(elevation)
    x = (c - s * up)[:, :, None]                               # ray after pitching up, (K, S, 1)
    z = (s + c * up)[:, :, None]
    # float32 (1e-4 px here, below the sampler's 1/2048 px steps), in place on (K, S, S)
    # arrays: this grid is the costly part of a crop besides sampling
    left, x, z = (v.astype(np.float32) for v in (left, x, z))
    cols = np.arctan2(left, x)                                 # azimuth relative to the centre
    cols *= np.float32(-0.5 * width / np.pi)
    cols += (0.5 * width * (1.0 - azimuth / np.pi) - 0.5).astype(np.float32)[:, :, None]
    rows = x * x + left * left
    np.sqrt(rows, out=rows)
    np.arctan2(z, rows, out=rows)                              # elevation
    rows *= np.float32(-height / np.pi)
    rows += np.float32(0.5 * height - 0.5)
    return cols, rows


#: YouTube's equi-angular cubemap (EAC) in a 3x2 frame, as FFmpeg's ``v360`` "eac" reads it:
#: (row, column) of each cell -> (face centre, image-right, image-down) unit vectors in
#: (x front, y left, z up). Top row: left, front, right, upright; bottom row: down, back, up,
#: each turned a quarter so their image tops all face the right (azimuth -pi/2).
EAC_FACES = {
    (0, 0): ((0, 1, 0), (1, 0, 0), (0, 0, -1)),      # left
    (0, 1): ((1, 0, 0), (0, -1, 0), (0, 0, -1)),     # front
    (0, 2): ((0, -1, 0), (-1, 0, 0), (0, 0, -1)),    # right
    (1, 0): ((0, 0, -1), (-1, 0, 0), (0, 1, 0)),     # down
    (1, 1): ((-1, 0, 0), (0, 0, 1), (0, 1, 0)),      # back
    (1, 2): ((0, 0, 1), (1, 0, 0), (0, 1, 0)),       # up
}
#: Pixels of padding YouTube's EAC has around each row of faces (left and right of the frame,
#: above and below each row; none between the faces of a row), as FFmpeg's ``v360`` reads it.
EAC_PAD = 2
_EAC_BASIS = np.array([EAC_FACES[(i // 3, i % 3)] for i in range(6)], dtype=np.float64)


def eac_to_direction(col, row, width, height):
    """Direction (azimuth, elevation), radians, of pixel coordinates (col, row) of a
    ``width`` x ``height`` EAC frame (:data:`EAC_FACES`, :data:`EAC_PAD`).

    Pixel-index units as :func:`pixel_to_direction` (pixel x's centre at ``col = x``). The
    faces are (width - 2 pad) / 3 x (height / 2 - 2 pad) pixels; in a face the edge coordinate
    a in [-1, 1] maps to the tangent ``tan(a pi / 4)`` (equal angles per pixel); padding pixels
    continue their face's mapping. Arrays broadcast.
    """
    width, height = _frame_size(width, height)
    col, row = np.broadcast_arrays(np.asarray(col, dtype=np.float64),
                                   np.asarray(row, dtype=np.float64))
    u = 3.0 * ((col + 0.5) / width - EAC_PAD / width) / (1.0 - 2.0 * EAC_PAD / width)
    c = np.clip(np.floor(u), 0, 2)
    vy = (row + 0.5) / height
    r = np.clip(np.floor(2.0 * vy), 0, 1)
    a = np.tan(0.25 * np.pi * (2.0 * (u - c) - 1.0))
    b = np.tan(0.25 * np.pi * (2.0 * (vy - EAC_PAD / height - 0.5 * r)
                               / (0.5 - 2.0 * EAC_PAD / height) - 1.0))
    f, right, down = (_EAC_BASIS[(3 * r + c).astype(int), k] for k in range(3))
    v = f + a[..., None] * right + b[..., None] * down
    x, y, z = np.moveaxis(v, -1, 0)
    return np.arctan2(y, x), np.arctan2(z, np.hypot(x, y))


def direction_to_eac(azimuth, elevation, width, height):
    """Float pixel coordinates (col, row) of directions in a ``width`` x ``height`` EAC frame
    (the inverse of :func:`eac_to_direction`), and the distance (pixels) from each to the
    nearest edge of its face: (col, row, edge_distance), arrays of the broadcast shape."""
    width, height = _frame_size(width, height)
    az, el = np.broadcast_arrays(np.asarray(azimuth, dtype=np.float64),
                                 np.asarray(elevation, dtype=np.float64))
    v = np.stack([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)], -1)
    face = np.argmax(v @ _EAC_BASIS[:, 0].T, axis=-1)
    f, right, down = (_EAC_BASIS[face, k] for k in range(3))
    depth = np.sum(v * f, -1)
    a = 4.0 / np.pi * np.arctan(np.sum(v * right, -1) / depth)
    b = 4.0 / np.pi * np.arctan(np.sum(v * down, -1) / depth)
    fw = (width - 2.0 * EAC_PAD) / 3.0
    fh = height / 2.0 - 2.0 * EAC_PAD
    col = EAC_PAD + ((face % 3) + 0.5 * (a + 1.0)) * fw - 0.5
    row = (face // 3) * height / 2.0 + EAC_PAD + 0.5 * (b + 1.0) * fh - 0.5
    edge = np.minimum((1.0 - np.abs(a)) * 0.5 * fw, (1.0 - np.abs(b)) * 0.5 * fh)
    return col, row, edge


@njit(cache=True)
def _taps(x, y, width, height):
    """The four source pixels and integer weights of a bilinear sample at (x, y) (pixel-index
    units): rows ya, yb, columns (xa0, xb0) on row ya and (xa1, xb1) on row yb, weights w00,
    w01 (row ya), w10, w11 (row yb) summing to 2**22.

    Columns wrap modulo W; a row index -1 (H) is row 0 (H - 1) shifted by W/2 columns, the
    continuation of the sphere across the zenith (nadir). Fixed point: the fractional offsets
    are rounded to 1/2048 pixel, so the rounded result is within one level of exact bilinear
    interpolation (and 1.5x faster)."""
    half = width // 2
    xf = np.floor(x)
    yf = np.floor(y)
    fx = int((x - xf) * 2048.0 + 0.5)
    fy = int((y - yf) * 2048.0 + 0.5)
    xa = int(xf)
    while xa < 0:                                      # wrap (cheaper than %)
        xa += width
    while xa >= width:
        xa -= width
    xb = xa + 1 if xa + 1 < width else 0
    ya = int(yf)
    yb = ya + 1
    xa0, xb0, xa1, xb1 = xa, xb, xa, xb
    if ya < 0:                                         # across the zenith
        ya = 0
        xa0 = (xa + half) % width
        xb0 = (xb + half) % width
    if yb > height - 1:                                # across the nadir
        yb = height - 1
        xa1 = (xa + half) % width
        xb1 = (xb + half) % width
    return (ya, yb, xa0, xb0, xa1, xb1, (2048 - fx) * (2048 - fy), fx * (2048 - fy),
            (2048 - fx) * fy, fx * fy)


@njit(cache=True, fastmath=False)
def _bilinear_sample(frames, cols, rows, out):
    """out[k, n, i, j] = bilinear sample of frames[n] at (cols[k, i, j], rows[k, i, j]), with
    the wrapping and fixed-point weights of :func:`_taps`.
    Serial on purpose: crops are cut in DataLoader workers that already use every core; a
    parallel (OpenMP) kernel there oversubscribes them and ran 4x slower than this one.
    """
    n_frames, height, width = frames.shape[0], frames.shape[1], frames.shape[2]
    n_crops, size_i, size_j = cols.shape
    for kr in range(n_crops * size_i):
        k = kr // size_i
        i = kr % size_i
        for j in range(size_j):
            ya, yb, xa0, xb0, xa1, xb1, w00, w01, w10, w11 = _taps(
                cols[k, i, j], rows[k, i, j], width, height)
            for n in range(n_frames):
                for ch in range(3):
                    v = (w00 * np.int64(frames[n, ya, xa0, ch])
                         + w01 * np.int64(frames[n, ya, xb0, ch])
                         + w10 * np.int64(frames[n, yb, xa1, ch])
                         + w11 * np.int64(frames[n, yb, xb1, ch]))
                    out[k, n, i, j, ch] = np.uint8((v + 2097152) >> 22)


@njit(cache=True)
def _yuv_pixel(y, u, v, c):
    """uint8 (R, G, B) of the 8-bit YUV levels (y, u, v) (floats) by the coefficients ``c`` of
    :func:`avsa_learn.data.video.yuv_to_rgb_coefficients`, clipped and truncated as FFmpeg's
    rgb24 conversion does."""
    luma = c[0] * (y - c[1])
    u -= 128.0
    v -= 128.0
    r = luma + c[2] * v
    g = luma - c[3] * u - c[4] * v
    b = luma + c[5] * u
    return (np.uint8(min(max(r, 0.0), 255.0)), np.uint8(min(max(g, 0.0), 255.0)),
            np.uint8(min(max(b, 0.0), 255.0)))


@njit(cache=True, fastmath=False)
def _bilinear_sample_yuv(ys, us, vs, width, coefficients, cols, rows, out):
    """:func:`_bilinear_sample` of yuv420p frames (tuples of T planes, :class:`YUVFrames`): the
    bilinear sample of Y at the four taps, of U and V at the chroma samples covering those taps
    (so the same as sampling the frames after FFmpeg's rgb24 conversion, which repeats each
    chroma sample on its 2x2 pixels, but for the order of interpolation and clipping), then
    :func:`_yuv_pixel`. The taps are computed once for all frames."""
    height = ys[0].shape[0]
    n_crops, size_i, size_j = cols.shape
    taps = np.empty((n_crops, size_i, size_j, 10), np.int64)
    for k in range(n_crops):
        for i in range(size_i):
            for j in range(size_j):
                t = _taps(cols[k, i, j], rows[k, i, j], width, height)
                for m in range(10):
                    taps[k, i, j, m] = t[m]
    scale = 1.0 / 4194304.0
    for n in range(len(ys)):
        yp, up, vp = ys[n], us[n], vs[n]
        for k in range(n_crops):
            for i in range(size_i):
                for j in range(size_j):
                    ya, yb, xa0, xb0, xa1, xb1, w00, w01, w10, w11 = taps[k, i, j]
                    ca, cb = ya >> 1, yb >> 1
                    ua0, ub0, ua1, ub1 = xa0 >> 1, xb0 >> 1, xa1 >> 1, xb1 >> 1
                    y = (w00 * np.int64(yp[ya, xa0]) + w01 * np.int64(yp[ya, xb0])
                         + w10 * np.int64(yp[yb, xa1]) + w11 * np.int64(yp[yb, xb1]))
                    u = (w00 * np.int64(up[ca, ua0]) + w01 * np.int64(up[ca, ub0])
                         + w10 * np.int64(up[cb, ua1]) + w11 * np.int64(up[cb, ub1]))
                    v = (w00 * np.int64(vp[ca, ua0]) + w01 * np.int64(vp[ca, ub0])
                         + w10 * np.int64(vp[cb, ua1]) + w11 * np.int64(vp[cb, ub1]))
                    r, g, b = _yuv_pixel(y * scale, u * scale, v * scale, coefficients)
                    out[k, n, i, j, 0] = r
                    out[k, n, i, j, 1] = g
                    out[k, n, i, j, 2] = b


@njit(cache=True)
def yuv_to_rgb(y, u, v, coefficients, out):
    """out (H, W, 3) uint8 = RGB of one yuv420p frame's planes ``y`` (H, >= W), ``u``, ``v``
    ((H + 1) // 2, >= (W + 1) // 2), each chroma sample on its 2x2 pixels, by
    :func:`_yuv_pixel` (the conversion :func:`_bilinear_sample_yuv` applies per sample)."""
    height, width = out.shape[0], out.shape[1]
    for r in range(height):
        for x in range(width):
            out[r, x, 0], out[r, x, 1], out[r, x, 2] = _yuv_pixel(
                np.float64(y[r, x]), np.float64(u[r >> 1, x >> 1]),
                np.float64(v[r >> 1, x >> 1]), coefficients)


def _crop_params(azimuth, elevation, fov, aspect):
    """(4,) or (4, K) float64 array of validated crop parameters."""
    named = {"azimuth": azimuth, "elevation": elevation, "fov": fov, "aspect": aspect}
    arrays = {}
    for name, value in named.items():
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise FOAError(f"{name}: expected a number or a (K,) array, got {value!r}") from None
        if a.ndim > 1:
            raise FOAError(f"{name}: expected a scalar or a (K,) array, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise FOAError(f"{name}: must be finite, got {value!r}")
        arrays[name] = a
    try:
        params = np.stack(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
        raise FOAError(f"crop parameters do not broadcast: {shapes}") from None
    if np.any(params[2] <= 0) or np.any(params[2] >= np.pi):
        raise FOAError(f"fov: the horizontal field of view must be in (0, pi) radians, got {fov!r}")
    if np.any(params[3] <= 0) or np.any(np.tan(0.5 * params[2]) * params[3] > 1e3):
        raise FOAError(f"aspect must be > 0 with a finite vertical field of view, got {aspect!r}")
    return params


def _frame_size(width, height):
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise FOAError(f"{name} must be a positive integer (pixels), got {v!r}")
    return int(width), int(height)
