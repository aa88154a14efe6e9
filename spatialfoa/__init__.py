"""spatialfoa: first-order Ambisonics (ambiX: ACN W, Y, Z, X; SN3D) signal processing.

Arrays are (channels, samples); azimuth is counter-clockwise from the front (+pi/2 = left),
elevation is up, angles are radians. See docs/conventions.md. This package never imports torch.

Public names are loaded lazily from their modules, so ``import spatialfoa`` is cheap and the
numba kernels compile on first use.
"""
import lazy_loader

__version__ = "0.1.0"

_EXPORTS = {
    "validation": ["FOAError", "as_audio", "check_sample_rate"],
    "encoding": ["direction_vector", "sh_coefficients", "encode", "diffuse_field",
                 "cartesian_to_spherical"],
    "formats": ["fuma_to_ambix", "ambix_to_fuma", "n3d_to_sn3d", "sn3d_to_n3d", "remap_channels",
                "to_ambix", "LAYOUTS", "YOUTUBE_AAC_6CH"],
    "rotation": ["rotation_matrix", "rotation_matrix_xyz", "rotate", "align", "align_matrix",
                 "rotate_blocks"],
    "beamforming": ["PATTERNS", "beam_weights", "beam_pattern", "beamform", "to_stereo",
                    "to_mono"],
    "features": ["stft", "mix_stft", "frame_lengths", "mel_filterbank", "logmel",
                 "intensity_vector", "ild_ipd", "foa_iv", "icf", "FEATURE_CHANNELS"],
    "validity": ["energy_ratio", "is_ambix", "diagnose_ratio"],
    "audio_io": ["read_audio", "write_audio", "read_sa3d", "resample"],
    "check": ["check_ambix", "check_array", "CheckResult"],
    "localization": ["acoustic_map", "dominant_directions", "AcousticMap"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=_EXPORTS)

