"""Data side of avsa_learn: clip index, video reading, equirectangular crops, per-crop audio,
datasets. Directions follow docs/conventions.md (azimuth counter-clockwise from the front,
+pi/2 = left; elevation up; radians); audio is ambiX (ACN W, Y, Z, X; SN3D).

Public names are loaded lazily from their modules (``import avsa_learn.data`` imports neither
torch nor PyAV).
"""
import lazy_loader

_EXPORTS = {
    "config": ["DataConfig", "AUDIO_FORMATS", "FEATURES", "CROP_STRATEGIES"],
    "equirect": ["gnomonic_crop", "direction_to_pixel", "pixel_to_direction"],
    "video": ["read_frames", "iter_equirect_frames", "probe_layout", "VideoLayout", "probe_video",
              "write_video"],
    "index": ["ClipRecord", "load_index", "write_index"],
    "synth": ["ensure_synthetic_dataset"],
    "crops": ["Crops", "choose_crops"],
    "crop_audio": ["crop_audio_features"],
    "datasets": ["AVCDataset", "AVSADataset", "ClipError", "collate_skip_bad"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=_EXPORTS)

