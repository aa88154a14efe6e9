"""Ground-truth objects of synthetic clips as object providers: the oracle and a simulated detector.

The synthetic ground truth (``avsa_learn.data.synth``, JSON per clip) lists each visible
object's direction at keyframe times (silent objects included: they are visible);
:class:`GroundTruthDetector` interpolates it (an oracle). :class:`SimulatedDetector` behaves
like a real detector on those frames: per frame, position jitter, misses and false positives,
deterministic in (seed, clip, frame). Radians, docs/conventions.md (azimuth counter-clockwise
from the front, +pi/2 = left; elevation up).

>>> gt = GroundTruthDetector(load_index("synthetic/index.jsonl"))   # doctest: +SKIP
>>> gt.objects_at("synth_0003", 1.25)                               # doctest: +SKIP
[Detection(label='red_ball', confidence=1.0, azimuth=0.71, elevation=0.1, box=(...))]
>>> sim = SimulatedDetector.from_spec("simulated:miss=0.2,fp=0.5", records)   # doctest: +SKIP
"""
import json
import zlib
from pathlib import Path

import numpy as np

from avsa_learn.data.equirect import direction_to_pixel
from avsa_learn.detect.types import Detection


def cap_box(azimuth, elevation, angular_radius, width, height):
    """Equirect box (x0, y0, x1, y1), edge pixel units (pixel x spans [x, x + 1)), of a disc
    of ``angular_radius`` (radians) centred at (azimuth, elevation) on the sphere.

    The disc spans azimuths ±arcsin(sin r / cos el) around its centre (x0 > x1 when it crosses
    the ±180° seam) and elevations el ± r; a disc holding a pole spans every column.
    Example: ``cap_box(0, 0, np.pi / 8, 1024, 512)`` -> (448, 192, 576, 320).
    """
    r = float(angular_radius)
    top, bottom = elevation + r, elevation - r
    rows = direction_to_pixel(0.0, np.clip([top, bottom], -np.pi / 2, np.pi / 2), width,
                              height)[1] + 0.5
    y0, y1 = float(rows[0]), float(rows[1])
    if top >= np.pi / 2 or bottom <= -np.pi / 2 or np.sin(r) >= np.cos(elevation):
        return (0.0, y0, float(width), y1)
    half = np.arcsin(np.sin(r) / np.cos(elevation))
    cols = direction_to_pixel([azimuth + half, azimuth - half], 0.0, width, height)[0] + 0.5
    x0, x1 = float(np.mod(cols[0], width)), float(np.mod(cols[1], width))
    return (x0, y0, x1 if x1 > 0 else float(width), y1)


class GroundTruthDetector:
    """Object provider from the synthetic ground-truth JSON of each clip (``record.gt_path``).

    ``records``: ClipRecords (those without ``gt_path`` have no objects); relative gt paths are
    taken relative to ``root`` when given. ``objects_at(clip_id, time)`` (time in seconds from
    the clip start, the clock of the gt ``times``) interpolates each object's azimuth (unwrapped,
    then wrapped into (-pi, pi]) and elevation linearly between keyframes (held constant outside
    them); confidence 1; ``box`` is the equirect extent of the object's ``angular_radius`` disc
    (:func:`cap_box`) in the gt frame size. Unknown clips give [].
    """

    def __init__(self, records, root=None):
        self._paths = {}
        for rec in records:
            if getattr(rec, "gt_path", None):
                path = Path(rec.gt_path)
                if root is not None and not path.is_absolute():
                    path = Path(root) / path
                self._paths[rec.clip_id] = path
        self._scenes = {}

    def _scene(self, clip_id):
        if clip_id not in self._scenes:
            path = self._paths[clip_id]
            try:
                gt = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                raise ValueError(f"{path}: cannot read the ground truth of clip {clip_id}: "
                                 f"{err}") from None
            objects = []
            for obj in gt.get("objects", []):
                times = np.asarray(obj["times"], dtype=np.float64)
                az = np.unwrap(np.asarray(obj["azimuth"], dtype=np.float64))
                el = np.asarray(obj["elevation"], dtype=np.float64)
                if not (times.size == az.size == el.size) or times.size == 0:
                    raise ValueError(f"{path}: object {obj.get('label')!r}: times, azimuth and "
                                     "elevation must be non-empty and of equal length")
                objects.append((str(obj["label"]), times, az, el, float(obj["angular_radius"])))
            self._scenes[clip_id] = (objects, int(gt["width"]), int(gt["height"]),
                                     float(gt.get("fps") or 0.0))
        return self._scenes[clip_id]

    def frame_shape(self, clip_id):
        """(height, width) of the clip's frames (from its gt JSON), or None for an unknown clip."""
        if clip_id not in self._paths:
            return None
        _, width, height, _ = self._scene(clip_id)
        return height, width

    def truth_at(self, clip_id, time):
        """[(label, azimuth, elevation, angular_radius)] of the visible objects at ``time`` s."""
        if clip_id not in self._paths:
            return []
        objects = self._scene(clip_id)[0]
        out = []
        for label, times, az, el, radius in objects:
            a = float(np.interp(time, times, az))
            a = float(np.pi - np.mod(np.pi - a, 2.0 * np.pi))      # wrap into (-pi, pi]
            out.append((label, a, float(np.interp(time, times, el)), radius))
        return out

    def objects_at(self, clip_id, time):
        """Detections (list of Detection) of clip ``clip_id`` at ``time`` s from the clip start."""
        if clip_id not in self._paths:
            return []
        _, width, height, _ = self._scene(clip_id)
        return [Detection(label, 1.0, a, e, cap_box(a, e, radius, width, height))
                for label, a, e, radius in self.truth_at(clip_id, time)]


class SimulatedDetector(GroundTruthDetector):
    """A detector simulated from the synthetic ground truth (the default object provider of the
    ``cpu`` preset on synthetic data), deterministic in (``seed``, clip id, frame).

    ``objects_at(clip_id, time)`` looks at the frame nearest ``time`` (the gt ``fps``); each
    visible object, silent or not, is missed with probability ``miss_rate``, else found with
    its direction jittered by a Gaussian of ``jitter_deg`` (degrees, per axis: azimuth along
    the circle of its elevation, elevation clipped to +-90 deg), its angular radius scaled by
    exp(N(0, 0.15)) and a confidence U(0.5, 1); ``false_positives`` is the mean (Poisson) number
    of spurious detections per frame, uniform in azimuth, elevation within +-30 deg, radius
    8-18 deg, confidence U(0.3, 0.7), labelled with a class of the clip's own objects.
    """

    def __init__(self, records, root=None, miss_rate=0.15, false_positives=0.3, jitter_deg=3.0,
                 seed=0):
        super().__init__(records, root)
        if not 0 <= miss_rate <= 1 or false_positives < 0 or jitter_deg < 0:
            raise ValueError(f"simulated detector: need 0 <= miss <= 1, fp >= 0, jitter >= 0; "
                             f"got miss={miss_rate}, fp={false_positives}, jitter={jitter_deg}")
        self.miss_rate, self.false_positives = float(miss_rate), float(false_positives)
        self.jitter, self.seed = np.deg2rad(float(jitter_deg)), int(seed)

    @classmethod
    def from_spec(cls, spec, records, root=None):
        """``"simulated"`` or ``"simulated:miss=0.15,fp=0.3,jitter=3,seed=0"`` (any subset)."""
        names = {"miss": "miss_rate", "fp": "false_positives", "jitter": "jitter_deg",
                 "seed": "seed"}
        _, _, rest = spec.partition(":")
        kw = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq or key.strip() not in names:
                raise ValueError(f"detections {spec!r}: expected simulated[:key=value,...] with "
                                 f"keys {', '.join(names)}, got {item!r}")
            try:
                kw[names[key.strip()]] = int(value) if key.strip() == "seed" else float(value)
            except ValueError:
                raise ValueError(f"detections {spec!r}: {key} needs a number, got "
                                 f"{value!r}") from None
        return cls(records, root, **kw)

    def objects_at(self, clip_id, time):
        """Simulated detections of clip ``clip_id`` at ``time`` s (see the class doc)."""
        if clip_id not in self._paths:
            return []
        _, width, height, fps = self._scene(clip_id)
        frame = int(round(float(time) * fps)) if fps > 0 else 0
        t = frame / fps if fps > 0 else float(time)
        rng = np.random.default_rng([self.seed, zlib.crc32(clip_id.encode()), max(frame, 0)])
        truths = self.truth_at(clip_id, t)
        out = []
        for label, a, e, radius in truths:
            miss, da, de, scale, conf = (rng.random(), *rng.standard_normal(2),
                                         rng.standard_normal(), rng.uniform(0.5, 1.0))
            if miss < self.miss_rate:
                continue
            e2 = float(np.clip(e + self.jitter * de, -np.pi / 2, np.pi / 2))
            a2 = float(np.pi - np.mod(np.pi - (a + self.jitter * da / max(np.cos(e), 0.1)),
                                      2 * np.pi))
            r2 = radius * float(np.exp(0.15 * scale))
            out.append(Detection(label, float(conf), a2, e2, cap_box(a2, e2, r2, width, height)))
        labels = sorted({label for label, *_ in truths}) or ["object"]
        for _ in range(int(rng.poisson(self.false_positives))):
            a = float(rng.uniform(-np.pi, np.pi))
            e = float(rng.uniform(-np.pi / 6, np.pi / 6))
            r = float(np.deg2rad(rng.uniform(8, 18)))
            out.append(Detection(labels[int(rng.integers(len(labels)))],
                                 float(rng.uniform(0.3, 0.7)), a, e,
                                 cap_box(a, e, r, width, height)))
        return out
