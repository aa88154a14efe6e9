"""A planar 2-D detector on the sphere: equirect frames with seam wrap, or perspective tiles.

A planar detector (YOLO) sees an image; a 360° frame is a sphere. :class:`SphericalDetector`
(the base of ``UltralyticsDetector`` and ``DarknetDetector``) applies the detector in one of two
ways and returns :class:`~avsa_learn.detect.types.Detection` records whose (azimuth, elevation)
follow docs/conventions.md (radians, azimuth counter-clockwise from the front, +pi/2 = left,
elevation up) and whose ``box`` is (x0, y0, x1, y1) in *edge* pixel coordinates of the input
frame (pixel x spans [x, x + 1), as detectors report boxes; the full frame is (0, 0, W, H));
``x0 > x1`` means the box wraps around the ±180° seam.

* ``tiles=False`` (the paper's way): the equirect frame itself, padded on both sides with
  ``seam_pad`` x W columns copied from the opposite edge, so an object crossing the ±180° seam is
  whole in the padded image. A box is kept only when its centre lies in the original W columns
  (each object is seen twice near the seam: once whole, once as a copy or fragment whose centre
  is in the padding), then a class-aware NMS with the seam-wrapped IoU removes what is left.
  Frames that are not 2:1 are resampled to 2:1 for the detector (objects keep their shape).
* ``tiles=True`` (the paper's future work): perspective (gnomonic) tiles, by default 8 azimuths
  x 3 elevations (-45°, 0°, 45°) plus one tile per pole, with a 90° field of view, so
  neighbours overlap by half a tile and an object up to ~45° wide is whole, undistorted, in at
  least one tile. A tile box's
  centre is mapped back to (azimuth, elevation) with :func:`tile_pixel_to_direction`; duplicates
  across tiles are merged by a class-aware NMS on the IoU of the boxes projected onto the plane
  tangent to the sphere between them (:func:`merge_spherical`); a box touching its tile's border
  (a fragment of an object cut by the tile) ranks after whole boxes and is also dropped when it
  lies mostly inside a kept box. The reported ``box`` is the equirect extent of the tile box's
  outline (approximate; a box holding a pole spans all columns).

Subclasses implement ``_predict(images) -> [(boxes (N, 4) xyxy edge pixels, scores (N,),
labels list[str])]`` for a list of RGB uint8 images.
"""
import numpy as np

from avsa_learn.data.equirect import direction_to_pixel, gnomonic_crop, pixel_to_direction
from avsa_learn.detect.types import Detection
from spatialfoa.encoding import cartesian_to_spherical
from spatialfoa.validation import FOAError

#: Fraction of a tile's side within which a box edge counts as touching the tile border.
BORDER_MARGIN = 0.01
#: A border-touching box is a duplicate when this fraction of it lies inside a kept box.
CONTAINED = 0.6
_OUTLINE_STEPS = 4  # points per box edge in a tile box's outline


def tile_grid(n_azimuth=8, elevations_deg=(-45.0, 0.0, 45.0), poles=True):
    """Tile centres (azimuth (K,), elevation (K,)) radians.

    ``n_azimuth`` azimuths k 2pi / n_azimuth (k = 0 is the front) at each elevation (degrees),
    elevation-major, then (``poles``) one tile at the zenith and one at the nadir:
    K = n_azimuth x len(elevations) + 2. With 90° tiles the default 8 x 3 + 2 = 26 tiles see
    every direction whole in some tile, the poles included.
    Example: ``tile_grid(4, (0,), poles=False)`` -> azimuths [0, pi/2, pi, 3pi/2], elevations 0.
    """
    az = 2.0 * np.pi * np.arange(int(n_azimuth)) / int(n_azimuth)
    el = np.deg2rad(np.asarray(elevations_deg, dtype=np.float64))
    az, el = np.tile(az, el.size), np.repeat(el, az.size)
    if poles:
        az, el = np.append(az, [0.0, 0.0]), np.append(el, [np.pi / 2, -np.pi / 2])
    return az, el


def tile_pixel_to_direction(u, v, azimuth, elevation, fov, size):
    """Direction (azimuth, elevation) seen at edge coordinates (u, v) of a square gnomonic tile.

    The tile is ``gnomonic_crop(frames, azimuth, elevation, fov, size)`` (horizontal = vertical
    field of view ``fov``, radians; no roll): (u, v) = (column, row) in edge units (pixel j spans
    [j, j + 1); (size/2, size/2) is the tile centre), image left toward larger azimuth, image up
    toward higher elevation. Radians, docs/conventions.md (azimuth CCW from the front, +pi/2 =
    left, wrapped to (-pi, pi]; elevation up). Arrays broadcast.
    Example: ``tile_pixel_to_direction(0, 32, 0.0, 0.0, np.pi / 2, 64)`` -> (pi/4, 0).
    """
    return cartesian_to_spherical(_tile_rays(u, v, azimuth, elevation, fov, size))


def _tile_rays(u, v, azimuth, elevation, fov, size):
    """Unit vectors (..., 3) of tile edge coordinates (u, v); see tile_pixel_to_direction."""
    t = np.tan(0.5 * np.asarray(fov, dtype=np.float64))
    left = t * (1.0 - 2.0 * np.asarray(u, dtype=np.float64) / size)
    up = t * (1.0 - 2.0 * np.asarray(v, dtype=np.float64) / size)
    az = np.asarray(azimuth, dtype=np.float64)
    ce, se = np.cos(elevation), np.sin(elevation)
    x = ce - se * up                      # camera pitched up by the elevation ...
    z = se + ce * up
    ray = np.stack([x * np.cos(az) - left * np.sin(az),   # ... then turned left by the azimuth
                    x * np.sin(az) + left * np.cos(az),
                    np.broadcast_to(z, np.broadcast(x, left).shape)], axis=-1)
    return ray / np.linalg.norm(ray, axis=-1, keepdims=True)


def _tangent_basis(m):
    """(left, up) unit vectors (n, 3) of the planes tangent to the unit vectors ``m`` (n, 3)."""
    left = np.cross(np.array([0.0, 0.0, 1.0]), m)
    norm = np.linalg.norm(left, axis=-1, keepdims=True)
    polar = norm[:, 0] < 1e-9
    if np.any(polar):  # at a pole "left" is arbitrary: take +y
        left[polar] = [0.0, 1.0, 0.0]
        norm[polar] = 1.0
    left /= norm
    return left, np.cross(m, left)


def _project_boxes(points, m):
    """Bounding boxes (n, 4) (xmin, ymin, xmax, ymax) of outlines ``points`` (n, P, 3) projected
    gnomonically onto the planes tangent at ``m`` (n, 3); rows with a point not in front of
    the plane (angle >= ~87°) are NaN."""
    left, up = _tangent_basis(m)
    depth = np.einsum("npk,nk->np", points, m)
    ok = np.all(depth > 0.05, axis=1)
    depth = np.where(depth > 0.05, depth, 1.0)
    x = np.einsum("npk,nk->np", points, left) / depth
    y = np.einsum("npk,nk->np", points, up) / depth
    boxes = np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], axis=1)
    boxes[~ok] = np.nan
    return boxes


def _overlaps(centre_a, outline_a, centres, outlines):
    """(IoU, fraction of each other box inside box a), each (n,), of box a and n other boxes,
    compared on the plane tangent to the sphere midway between their centres."""
    m = centre_a[None, :] + centres
    norm = np.linalg.norm(m, axis=1, keepdims=True)
    iou = np.zeros(len(centres))
    inside = np.zeros(len(centres))
    ok = norm[:, 0] > 1e-6
    if not np.any(ok):
        return iou, inside
    m = m[ok] / norm[ok]
    a = _project_boxes(np.broadcast_to(outline_a, (len(m),) + outline_a.shape), m)
    b = _project_boxes(outlines[ok], m)
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        iou[ok] = np.nan_to_num(inter / (area_a + area_b - inter))
        inside[ok] = np.nan_to_num(inter / area_b)
    return iou, inside


def merge_spherical(labels, scores, centres, outlines, truncated, iou=0.45):
    """Indices of the candidates kept by a class-aware NMS on the sphere.

    ``labels`` (n,) str, ``scores`` (n,), ``centres`` (n, 3) unit vectors (x front, y left,
    z up), ``outlines`` (n, P, 3) unit vectors along each box's border, ``truncated`` (n,) bool
    (the box touches its tile's border). Whole boxes rank before truncated ones, then by score;
    a candidate is dropped when its IoU with a kept box of its label (both projected onto the
    plane tangent midway between their centres) exceeds ``iou``, or when it is truncated and a
    fraction ``CONTAINED`` of it lies inside a kept box. Returns kept indices in rank order.
    """
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    truncated = np.asarray(truncated, dtype=bool)
    order = np.lexsort((-scores, truncated))
    alive = np.ones(len(order), dtype=bool)       # indexed by candidate, not by rank
    keep = []
    for rank, i in enumerate(order):
        if not alive[i]:
            continue
        keep.append(int(i))
        rest = order[rank + 1:]
        rest = rest[alive[rest] & (labels[rest] == labels[i])]
        if rest.size == 0:
            continue
        overlap, inside = _overlaps(centres[i], outlines[i], centres[rest], outlines[rest])
        alive[rest[(overlap > iou) | (truncated[rest] & (inside > CONTAINED))]] = False
    return keep


def wrapped_iou(box, boxes, width):
    """IoU (n,) of an (x0, y0, x1, y1) box with ``boxes`` (n, 4) on a frame whose columns wrap
    every ``width`` pixels (non-wrapping coordinates, x0 < x1; the best of shifts 0, ±width)."""
    best = np.zeros(len(boxes))
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    for shift in (-width, 0.0, width):
        w = np.minimum(box[2], boxes[:, 2] + shift) - np.maximum(box[0], boxes[:, 0] + shift)
        inter = np.clip(w, 0, None) * h
        best = np.maximum(best, inter / np.maximum(area + areas - inter, 1e-12))
    return best


def _nms_wrapped(labels, scores, boxes, width, iou):
    """Kept indices of a class-aware greedy NMS with :func:`wrapped_iou`."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    alive = np.ones(len(order), dtype=bool)
    keep = []
    for rank, i in enumerate(order):
        if not alive[rank]:
            continue
        keep.append(int(i))
        later = np.arange(rank + 1, len(order))
        later = later[alive[later] & (labels[order[later]] == labels[i])]
        if later.size:
            alive[later[wrapped_iou(boxes[i], boxes[order[later]], width) > iou]] = False
    return keep


def equirect_extent(centre, outline, width, height):
    """Equirect box (x0, y0, x1, y1), edge pixel units, of a spherical box.

    ``centre`` (3,) and ``outline`` (P, 3) are unit vectors (the box centre and points along its
    border). Columns span the outline's azimuths around the centre's (x0 > x1 when the box
    crosses the ±180° seam); a box enclosing a pole spans all columns and reaches row 0 (zenith)
    or H (nadir).
    """
    az_c, _ = cartesian_to_spherical(centre)
    az, el = cartesian_to_spherical(outline)
    rows = direction_to_pixel(az, el, width, height)[1] + 0.5
    y0, y1 = float(rows.min()), float(rows.max())
    # the border's edges are great-circle arcs: straight in any gnomonic projection, so the
    # outline projected on the plane tangent at the centre is the exact polygon
    left, up = _tangent_basis(centre[None])
    depth = outline @ centre
    px, py = outline @ left[0] / depth, outline @ up[0] / depth
    enclosed = [bool(np.all(depth > 0) and pole @ centre > 0
                     and _inside_polygon(pole @ left[0] / (pole @ centre),
                                         pole @ up[0] / (pole @ centre), px, py))
                for pole in (np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, -1.0]))]
    if enclosed[0]:
        y0 = 0.0
    if enclosed[1]:
        y1 = float(height)
    relative = np.mod(az - az_c + np.pi, 2.0 * np.pi) - np.pi
    if any(enclosed) or relative.max() - relative.min() >= 2.0 * np.pi - 1e-6:
        return (0.0, y0, float(width), y1)
    x0 = float(np.mod(direction_to_pixel(az_c + relative.max(), 0.0, width, height)[0] + 0.5,
                      width))
    x1 = float(np.mod(direction_to_pixel(az_c + relative.min(), 0.0, width, height)[0] + 0.5,
                      width))
    if x1 == 0.0:
        x1 = float(width)
    return (x0, y0, x1, y1)


def _inside_polygon(x, y, px, py):
    """Whether point (x, y) is inside the polygon of vertices (px, py) (crossing-number rule)."""
    qx, qy = np.roll(px, -1), np.roll(py, -1)
    straddles = (py > y) != (qy > y)
    with np.errstate(invalid="ignore", divide="ignore"):
        cross_x = px + (y - py) * (qx - px) / (qy - py)
    return bool(np.count_nonzero(straddles & (x < cross_x)) % 2)


def _box_outline(boxes, steps=_OUTLINE_STEPS):
    """(n, 4 steps, 2) edge coordinates (u, v) along the border of boxes (n, 4) xyxy."""
    s = np.arange(steps) / steps
    x0, y0, x1, y1 = (boxes[:, k:k + 1] for k in range(4))
    u = np.concatenate([x0 + (x1 - x0) * s, np.repeat(x1, steps, 1),
                        x1 - (x1 - x0) * s, np.repeat(x0, steps, 1)], axis=1)
    v = np.concatenate([np.repeat(y0, steps, 1), y0 + (y1 - y0) * s,
                        np.repeat(y1, steps, 1), y1 - (y1 - y0) * s], axis=1)
    return np.stack([u, v], axis=-1)


def as_frames(frames):
    """Validate RGB uint8 frames (H, W, 3) or (T, H, W, 3); return (T, H, W, 3)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise FOAError(f"frames: expected uint8 RGB equirect frames, got dtype {frames.dtype}")
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or min(frames.shape[1:3]) < 2:
        raise FOAError(f"frames: expected shape (H, W, 3) or (T, H, W, 3) RGB, got {frames.shape}")
    return frames


class SphericalDetector:
    """Base of the detector backends: ``detect``/``detect_batch`` on equirect frames.

    Options (keyword arguments of every backend): ``tile_fov_deg`` (90), ``tile_azimuths`` (8),
    ``tile_elevations_deg`` ((-45, 0, 45)), ``tile_poles`` (True: a tile at each pole too; see
    :func:`tile_grid`), ``tile_size`` (pixels; default W x fov / 360°
    rounded to a multiple of 32, i.e. the frame's own resolution), ``seam_pad`` (0.125: padding
    of each side in equirect mode, a fraction of W), ``batch_size`` (16 images per forward pass).
    Subclasses set ``conf``/``iou`` and implement ``_predict``. See the module docstring.
    """

    def __init__(self, conf=0.25, iou=0.45, tile_fov_deg=90.0, tile_azimuths=8,
                 tile_elevations_deg=(-45.0, 0.0, 45.0), tile_poles=True, tile_size=None,
                 seam_pad=0.125, batch_size=16):
        if not 0.0 <= conf <= 1.0 or not 0.0 < iou <= 1.0:
            raise ValueError(f"conf must be in [0, 1] and iou in (0, 1], got {conf!r}, {iou!r}")
        if not 0.0 < tile_fov_deg < 180.0:
            raise ValueError(f"tile_fov_deg must be in (0, 180), got {tile_fov_deg!r}")
        if not 0.0 <= seam_pad <= 0.5:
            raise ValueError(f"seam_pad must be in [0, 0.5] (a fraction of W), got {seam_pad!r}")
        self.conf, self.iou = float(conf), float(iou)
        self.tile_fov = float(np.deg2rad(tile_fov_deg))
        self.tile_azimuth, self.tile_elevation = tile_grid(tile_azimuths, tile_elevations_deg,
                                                           tile_poles)
        self.tile_size = tile_size
        self.seam_pad = float(seam_pad)
        self.batch_size = int(batch_size)

    def _predict(self, images):
        """[(boxes (N, 4) xyxy edge pixels, scores (N,), labels list[str])] per RGB image."""
        raise NotImplementedError

    def _predict_chunked(self, images):
        out = []
        for i in range(0, len(images), self.batch_size):
            out.extend(self._predict(images[i:i + self.batch_size]))
        return out

    def detect(self, frame, tiles=False):
        """Objects in one RGB uint8 equirect frame (H, W, 3) -> list of Detection.

        ``tiles``: detect on perspective tiles (see the module docstring) instead of the
        equirect image. Directions in radians, docs/conventions.md.
        """
        frame = np.asarray(frame)
        if frame.ndim != 3:
            raise FOAError(f"frame: expected one RGB frame (H, W, 3), got shape {frame.shape}")
        return self.detect_batch(frame[None], tiles=tiles)[0]

    def detect_batch(self, frames, tiles=False):
        """:meth:`detect` for frames (T, H, W, 3) (or a list of equal-size frames), batched
        through the network; returns T lists of Detection."""
        frames = as_frames(np.asarray(frames))
        if len(frames) == 0:
            return []
        if tiles:
            return self._detect_tiles(frames)
        return self._detect_equirect(frames)

    # --- equirect mode -------------------------------------------------------------------------
    def _detect_equirect(self, frames):
        _, height, width, _ = frames.shape
        net_h = width // 2                       # 2:1 image for the detector
        pad = int(round(self.seam_pad * width))
        images = []
        for frame in frames:
            if net_h != height:
                import cv2

                frame = cv2.resize(frame, (width, net_h), interpolation=cv2.INTER_LINEAR)
            if pad:
                frame = np.concatenate([frame[:, width - pad:], frame, frame[:, :pad]], axis=1)
            images.append(np.ascontiguousarray(frame))
        results = []
        for boxes, scores, labels in self._predict_chunked(images):
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            scores = np.asarray(scores, dtype=np.float64).reshape(-1)
            labels = np.asarray(labels, dtype=object)
            boxes[:, [0, 2]] -= pad
            boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]] * (height / net_h), 0, height)
            centre = 0.5 * (boxes[:, 0] + boxes[:, 2])
            inside = (centre >= 0) & (centre < width) & (scores >= self.conf)
            boxes, scores, labels = boxes[inside], scores[inside], labels[inside]
            keep = _nms_wrapped(labels, scores, boxes, width, self.iou)
            dets = []
            for i in keep:
                x0, y0, x1, y1 = boxes[i]
                az, el = pixel_to_direction(0.5 * (x0 + x1) - 0.5, 0.5 * (y0 + y1) - 0.5,
                                            width, height)
                if x1 - x0 >= width:
                    x0, x1 = 0.0, float(width)
                else:
                    x0, x1 = np.mod(x0, width), np.mod(x0, width) + (x1 - x0)
                    if x1 > width:
                        x1 -= width
                dets.append(Detection(str(labels[i]), float(scores[i]), float(az), float(el),
                                      (float(x0), float(y0), float(x1), float(y1))))
            results.append(dets)
        return results

    # --- tiles mode ----------------------------------------------------------------------------
    def _tile_size(self, width):
        if self.tile_size:
            return int(self.tile_size)
        return max(64, int(round(width * self.tile_fov / (2.0 * np.pi) / 32.0)) * 32)

    def _detect_tiles(self, frames):
        n_frames, height, width, _ = frames.shape
        size = self._tile_size(width)
        tiles = gnomonic_crop(frames, self.tile_azimuth, self.tile_elevation, self.tile_fov,
                              size=size)                                  # (K, T, S, S, 3)
        n_tiles = tiles.shape[0]
        images = [tiles[k, t] for t in range(n_frames) for k in range(n_tiles)]
        raw = self._predict_chunked(images)
        margin = BORDER_MARGIN * size
        results = []
        for t in range(n_frames):
            labels, scores, centres, outlines, truncated = [], [], [], [], []
            for k in range(n_tiles):
                boxes, sc, lab = raw[t * n_tiles + k]
                boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
                sc = np.asarray(sc, dtype=np.float64).reshape(-1)
                ok = sc >= self.conf
                if not np.any(ok):
                    continue
                boxes, sc = boxes[ok], sc[ok]
                lab = [lab[i] for i in np.flatnonzero(ok)]
                tile = (self.tile_azimuth[k], self.tile_elevation[k], self.tile_fov, size)
                centres.append(_tile_rays(0.5 * (boxes[:, 0] + boxes[:, 2]),
                                          0.5 * (boxes[:, 1] + boxes[:, 3]), *tile))
                uv = _box_outline(boxes)
                outlines.append(_tile_rays(uv[..., 0], uv[..., 1], *tile))
                truncated.append((boxes[:, 0] <= margin) | (boxes[:, 1] <= margin)
                                 | (boxes[:, 2] >= size - margin) | (boxes[:, 3] >= size - margin))
                labels.extend(str(x) for x in lab)
                scores.append(sc)
            if not labels:
                results.append([])
                continue
            centres, outlines = np.concatenate(centres), np.concatenate(outlines)
            scores, truncated = np.concatenate(scores), np.concatenate(truncated)
            keep = merge_spherical(labels, scores, centres, outlines, truncated, self.iou)
            dets = []
            for i in keep:
                az, el = cartesian_to_spherical(centres[i])
                box = equirect_extent(centres[i], outlines[i], width, height)
                dets.append(Detection(labels[i], float(scores[i]), float(az), float(el), box))
            results.append(dets)
        return results
