"""Object detection on 360° (equirectangular) video, and object providers for the crop strategies.

Detectors (``UltralyticsDetector``, ``DarknetDetector``) find objects in equirect frames, either
on the equirect image (the paper, Sec. III-D) or on perspective tiles (its future work); every
result is a :class:`Detection` whose direction follows docs/conventions.md (radians, azimuth
counter-clockwise from the front, +pi/2 = left, elevation up). ``avsa-detect`` caches them per
clip; an *object provider* is anything with ``objects_at(clip_id, time) -> list[Detection]``:
``DetectionTable`` (the cache), ``GroundTruthDetector`` (synthetic ground truth, an oracle) and
``SimulatedDetector`` (a detector simulated from it: jitter, misses, false positives).

Public names are loaded lazily (``import avsa_learn.detect`` imports neither torch nor OpenCV).
"""
from importlib import import_module

import lazy_loader

_EXPORTS = {
    "types": ["Detection"],
    "ultralytics_backend": ["UltralyticsDetector"],
    "darknet_backend": ["DarknetDetector"],
    "ground_truth": ["GroundTruthDetector", "SimulatedDetector"],
    "cache": ["DetectionTable"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=_EXPORTS)
__all__ = sorted(__all__ + ["make_object_provider"])


def make_object_provider(spec, records):
    """The object provider named by ``spec`` (DataConfig.detections), or None.

    ``""`` -> None (no objects); ``"ground-truth"`` -> GroundTruthDetector(records) (synthetic
    clips' gt JSON, an oracle); ``"simulated[:miss=..,fp=..,jitter=..,seed=..]"`` ->
    SimulatedDetector.from_spec (a realistic detector on the same gt); anything else is the
    path of an avsa-detect cache -> DetectionTable.load.
    """
    if not spec:
        return None
    if spec == "ground-truth":
        return import_module(f"{__name__}.ground_truth").GroundTruthDetector(records)
    if spec == "simulated" or spec.startswith("simulated:"):
        return import_module(f"{__name__}.ground_truth").SimulatedDetector.from_spec(spec,
                                                                                     records)
    return import_module(f"{__name__}.cache").DetectionTable.load(spec)

