"""Ground-truth objects of synthetic clips as an object provider (no detector involved).

The synthetic ground truth (``avsa_learn.data.synth``, JSON per clip) lists each object's
direction at keyframe times; :class:`GroundTruthDetector` interpolates it. Radians,
docs/conventions.md (azimuth counter-clockwise from the front, +pi/2 = left; elevation up).

>>> gt = GroundTruthDetector(load_index("synthetic/index.jsonl"))   # doctest: +SKIP
>>> gt.objects_at("synth_0003", 1.25)                               # doctest: +SKIP
[Detection(label='red_ball', confidence=1.0, azimuth=0.71, elevation=0.1, box=(...))]
"""
import json
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
            self._scenes[clip_id] = (objects, int(gt["width"]), int(gt["height"]))
        return self._scenes[clip_id]

    def frame_shape(self, clip_id):
        """(height, width) of the clip's frames (from its gt JSON), or None for an unknown clip."""
        if clip_id not in self._paths:
            return None
        _, width, height = self._scene(clip_id)
        return height, width

    def objects_at(self, clip_id, time):
        """Detections (list of Detection) of clip ``clip_id`` at ``time`` s from the clip start."""
        if clip_id not in self._paths:
            return []
        objects, width, height = self._scene(clip_id)
        out = []
        for label, times, az, el, radius in objects:
            a = float(np.interp(time, times, az))
            a = float(np.pi - np.mod(np.pi - a, 2.0 * np.pi))      # wrap into (-pi, pi]
            e = float(np.interp(time, times, el))
            out.append(Detection(label, 1.0, a, e, cap_box(a, e, radius, width, height)))
        return out
