"""Data side of avsa_learn: clip index, video reading, equirectangular crops, per-crop audio,
datasets. Directions follow docs/conventions.md (azimuth counter-clockwise from the front,
+pi/2 = left; elevation up; radians); audio is ambiX (ACN W, Y, Z, X; SN3D).

Public names are loaded lazily from their modules (``import avsa_learn.data`` imports neither
torch nor PyAV).
"""
from importlib import import_module

_EXPORTS = {
    "config": ["DataConfig", "AUDIO_FORMATS", "FEATURES", "CROP_STRATEGIES"],
    "equirect": ["gnomonic_crop", "direction_to_pixel", "pixel_to_direction"],
    "video": ["read_frames", "probe_video"],
    "index": ["ClipRecord", "load_index", "write_index"],
    "synth": ["ensure_synthetic_dataset"],
    "crops": ["Crops", "choose_crops"],
    "crop_audio": ["crop_audio_features"],
    "datasets": ["AVCDataset", "AVSADataset", "ClipError", "collate_skip_bad"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        value = getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
