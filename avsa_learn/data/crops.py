"""Where the video crops of a sample look: the ``random``, ``object``, ``quadrants`` and ``audio``
crop strategies.

A crop is the direction of its centre and its horizontal field of view, radians, in the
spatialfoa convention (azimuth counter-clockwise from the front, +pi/2 = left, +-pi = back;
elevation up; docs/conventions.md). Crops are square (``config.crop_size``), so one field of
view describes them; they are cut by :func:`avsa_learn.data.equirect.gnomonic_crop`.

Field of view, as the reference implementation samples it: the half-width of the tangent plane
is ``pi * h`` with ``h`` uniform, i.e. ``fov = 2 * arctan(pi * h)``, with the range of ``h`` set by
``config.fov_deg`` (25 deg - 76 deg <=> h in [0.0707, 0.25]). Random crop centres: azimuth
uniform on the circle, elevation uniform in +-``config.max_crop_elevation_deg``.

Every function is deterministic given its ``np.random.Generator``.

>>> from avsa_learn.data import DataConfig
>>> rng = np.random.default_rng(0)
>>> c = choose_crops("quadrants", rng, DataConfig(), k=4)
>>> c.azimuth.shape, c.kind
((4,), ('random', 'random', 'random', 'random'))
"""
from dataclasses import dataclass

import numpy as np

from avsa_learn.data.config import CROP_STRATEGIES

OBJECT_FOV_MARGIN = 1.5  # an object crop's field of view is 1.5x the box's angular extent


@dataclass(frozen=True)
class Crops:
    """K crops: ``azimuth``, ``elevation``, ``fov`` float64 arrays (K,), radians, and ``kind``
    (K strings: "random", "object" or "audio", how each crop was chosen)."""

    azimuth: np.ndarray
    elevation: np.ndarray
    fov: np.ndarray
    kind: tuple

    def __len__(self):
        return len(self.azimuth)


def _fov_bounds(config):
    lo, hi = np.deg2rad(np.asarray(config.fov_deg, dtype=float))
    if not 0 < lo <= hi < np.pi:
        raise ValueError(f"fov_deg must be 0 < min <= max < 180, got {config.fov_deg}")
    return lo, hi


def sample_fov(rng, config, size=None):
    """Random horizontal fields of view (radians): ``2 arctan(pi h)``, ``h`` uniform between
    ``tan(fov_min / 2) / pi`` and ``tan(fov_max / 2) / pi`` (``config.fov_deg``)."""
    lo, hi = np.tan(np.array(_fov_bounds(config)) / 2) / np.pi
    return 2 * np.arctan(np.pi * rng.uniform(lo, hi, size))


def wrap_azimuth(azimuth):
    """Azimuth wrapped into (-pi, pi] (radians)."""
    return np.pi - np.mod(np.pi - np.asarray(azimuth, dtype=float), 2 * np.pi)


def random_crops(rng, k, config, azimuth_range=(-np.pi, np.pi)):
    """``k`` random crops (the baseline [17]): azimuth uniform in ``azimuth_range`` (radians,
    low < high), elevation uniform in +-max_crop_elevation_deg, random field of view."""
    lo, hi = azimuth_range
    az = wrap_azimuth(rng.uniform(lo, hi, k))
    e = np.deg2rad(config.max_crop_elevation_deg)
    el = rng.uniform(-e, e, k)
    return Crops(az, el, sample_fov(rng, config, k), ("random",) * k)


def object_fov(detection, frame_shape, config):
    """Field of view (radians) framing a detection: ``OBJECT_FOV_MARGIN`` x the larger angular
    extent of its box, clamped to ``config.fov_deg``; None when the box is empty.

    ``detection.box`` is (x0, y0, x1, y1) in pixels of an equirectangular frame of
    ``frame_shape = (height, width)``; x0 > x1 wraps around the +-180 deg seam. The box width is
    scaled by cos(elevation), the angle it spans on the sphere at the object's elevation.
    """
    height, width = frame_shape
    x0, y0, x1, y1 = (float(v) for v in detection.box)
    box_w = x1 - x0 if x1 >= x0 else x1 + width - x0
    box_h = abs(y1 - y0)
    extent = max(box_w / width * 2 * np.pi * np.cos(detection.elevation),
                 box_h / height * np.pi)
    if not np.isfinite(extent) or extent <= 0:
        return None
    lo, hi = _fov_bounds(config)
    return float(np.clip(OBJECT_FOV_MARGIN * extent, lo, hi))


def _object_crop(rng, detection, config, frame_shape):
    fov = object_fov(detection, frame_shape, config) if frame_shape is not None else None
    if fov is None:
        fov = float(sample_fov(rng, config))
    return float(wrap_azimuth(detection.azimuth)), float(detection.elevation), fov


def _stack(parts):
    """[(az, el, fov, kind), ...] -> Crops."""
    az, el, fov, kind = zip(*parts) if parts else ((), (), (), ())
    return Crops(np.array(az, float), np.array(el, float), np.array(fov, float), tuple(kind))


def _one_random(rng, config, azimuth_range=(-np.pi, np.pi)):
    c = random_crops(rng, 1, config, azimuth_range)
    return c.azimuth[0], c.elevation[0], c.fov[0], "random"


def object_crops(rng, detections, k, config, frame_shape=None):
    """``k`` crops on distinct detected objects picked at random (AVC uses k = 1); random crops
    fill in when there are fewer than ``k`` objects. ``detections``: a sequence of
    :class:`avsa_learn.detect.types.Detection`; ``frame_shape`` (height, width) of the frame
    their boxes are in (None: random field of view)."""
    detections = list(detections or ())
    picked = rng.permutation(len(detections))[:k] if detections else []
    parts = [(*_object_crop(rng, detections[j], config, frame_shape), "object") for j in picked]
    parts += [_one_random(rng, config) for _ in range(k - len(parts))]
    return _stack(parts)


def sector_edges(k):
    """Azimuth sectors (radians) of the quadrant strategy: sector j spans
    (pi - 2 pi (j + 1) / k, pi - 2 pi j / k]; for k = 4 the paper's [180, 90], [90, 0], [0, -90],
    [-90, -180] degrees (left-back, left-front, right-front, right-back). Returns (k, 2)."""
    top = np.pi - 2 * np.pi * np.arange(k) / k
    return np.stack([top - 2 * np.pi / k, top], axis=1)


def sector_of(azimuth, k):
    """Index of the quadrant-strategy sector holding each azimuth (see :func:`sector_edges`)."""
    a = wrap_azimuth(azimuth)
    return np.minimum(np.floor((np.pi - a) / (2 * np.pi / k)).astype(int), k - 1)


def quadrant_crops(rng, detections, k, config, frame_shape=None):
    """One crop per azimuth sector (:func:`sector_edges`; k = 4: the paper's AVSA quadrants):
    a detected object whose centre falls in the sector when there is one (chosen at random),
    a random crop with its centre in the sector otherwise."""
    detections = list(detections or ())
    sectors = sector_of([d.azimuth for d in detections], k) if detections else np.array([], int)
    parts = []
    for j, (lo, hi) in enumerate(sector_edges(k)):
        inside = np.flatnonzero(sectors == j)
        if len(inside):
            det = detections[inside[rng.integers(len(inside))]]
            parts.append((*_object_crop(rng, det, config, frame_shape), "object"))
        else:
            parts.append(_one_random(rng, config, (lo, hi)))
    return _stack(parts)


def audio_crops(rng, x, sr, k, config):
    """``k`` crops facing the ``k`` loudest directions of the scene's sound (beyond the paper):
    peaks of :func:`spatialfoa.dominant_directions` of ambiX audio ``x`` (4, samples) at ``sr``,
    random field of view; random crops fill in when fewer peaks are found."""
    from spatialfoa import dominant_directions

    peaks = np.asarray(dominant_directions(x, sr, k=k), dtype=float).reshape(-1, 2)
    peaks = peaks[np.all(np.isfinite(peaks), axis=1)][:k]
    parts = [(float(wrap_azimuth(az)), float(el), float(sample_fov(rng, config)), "audio")
             for az, el in peaks]
    parts += [_one_random(rng, config) for _ in range(k - len(parts))]
    return _stack(parts)


def choose_crops(strategy, rng, config, k, detections=None, frame_shape=None, audio=None,
                 sr=None):
    """``k`` crops by ``strategy`` (one of ``CROP_STRATEGIES``): "random" (baseline [17]),
    "object" (detected objects, random when none: AVC), "quadrants" (one per azimuth sector,
    object when there is one: AVSA), "audio" (loudest sound directions of ``audio``, ambiX
    (4, samples) at ``sr``). ``detections``/``frame_shape``: see :func:`object_crops`."""
    if strategy == "random":
        return random_crops(rng, k, config)
    if strategy == "object":
        return object_crops(rng, detections, k, config, frame_shape)
    if strategy == "quadrants":
        return quadrant_crops(rng, detections, k, config, frame_shape)
    if strategy == "audio":
        if audio is None or sr is None:
            raise ValueError("crop strategy 'audio' needs the scene audio and its sample rate")
        return audio_crops(rng, audio, sr, k, config)
    raise ValueError(f"crop strategy must be one of {CROP_STRATEGIES}, got {strategy!r}")
