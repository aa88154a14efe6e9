"""Object detection on 360° (equirectangular) video, and object providers for the crop strategies.

Detectors (``UltralyticsDetector``, ``DarknetDetector``) find objects in equirect frames, either
on the equirect image (the paper, Sec. III-D) or on perspective tiles (its future work); every
result is a :class:`Detection` whose direction follows docs/conventions.md (radians, azimuth
counter-clockwise from the front, +pi/2 = left, elevation up). ``avsa-detect`` caches them per
clip; an *object provider* is anything with ``objects_at(clip_id, time) -> list[Detection]``:
``DetectionTable`` (the cache) and ``GroundTruthDetector`` (synthetic ground truth).

Public names are loaded lazily (``import avsa_learn.detect`` imports neither torch nor OpenCV).
"""
from importlib import import_module

_EXPORTS = {
    "types": ["Detection"],
    "ultralytics_backend": ["UltralyticsDetector"],
    "darknet_backend": ["DarknetDetector"],
    "ground_truth": ["GroundTruthDetector"],
    "cache": ["DetectionTable"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE) + ["make_object_provider"]


def make_object_provider(spec, records):
    """The object provider named by ``spec`` (DataConfig.detections), or None.

    ``""`` -> None (no objects); ``"ground-truth"`` -> GroundTruthDetector(records) (synthetic
    clips' gt JSON); anything else is the path of an avsa-detect cache -> DetectionTable.load.
    """
    if not spec:
        return None
    if spec == "ground-truth":
        return import_module(f"{__name__}.ground_truth").GroundTruthDetector(records)
    return import_module(f"{__name__}.cache").DetectionTable.load(spec)


def __getattr__(name):
    if name in _WHERE:
        value = getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
