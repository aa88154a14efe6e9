"""Input validation shared by every spatialfoa function."""
import numpy as np


#: Integer PCM dtypes -> (offset, full scale), as soundfile / libsndfile read them.
_PCM_SCALE = {np.dtype(np.int8): (0.0, 2.0 ** 7), np.dtype(np.int16): (0.0, 2.0 ** 15),
              np.dtype(np.int32): (0.0, 2.0 ** 31), np.dtype(np.uint8): (128.0, 2.0 ** 7)}


class FOAError(ValueError):
    """Bad input to a spatialfoa function (wrong shape, channel count, non-finite samples...)."""


def as_audio(x, *, channels=None, name="x", min_samples=1):
    """Return ``x`` as a 2-D float array (channels, samples), or raise :class:`FOAError`.

    float32 and float64 are kept as given. Integer PCM is scaled to [-1, 1) as soundfile reads
    it: int8, int16 and int32 are divided by 2^7, 2^15, 2^31 (full scale), uint8 (8-bit WAV)
    becomes (x - 128) / 128; other numbers (e.g. int64 from a Python list, bool) become float64
    unscaled. ``channels`` is an int or a tuple of allowed channel counts; ``min_samples`` the
    shortest length accepted.
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise FOAError(f"{name}: expected a numeric array, got dtype {x.dtype}")
        if x.dtype in _PCM_SCALE:
            offset, scale = _PCM_SCALE[x.dtype]
            x = (x.astype(np.float64) - offset) / scale
        else:
            x = x.astype(np.float64)
    if x.ndim != 2:
        raise FOAError(f"{name}: expected a 2-D array (channels, samples), got shape {x.shape}")
    if channels is not None:
        allowed = (channels,) if np.isscalar(channels) else tuple(channels)
        if x.shape[0] not in allowed:
            want = " or ".join(str(c) for c in allowed)
            hint = ""
            if x.shape[1] in allowed:
                hint = " (it looks transposed: arrays are (channels, samples))"
            raise FOAError(f"{name}: expected {want} channels, got {x.shape[0]}{hint}")
    if x.shape[1] < min_samples:
        raise FOAError(f"{name}: needs at least {min_samples} samples, got {x.shape[1]}")
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise FOAError(f"{name}: non-finite sample (NaN or inf) at channel {bad[0]}, "
                       f"sample {bad[1]}")
    return x


def positive_int(value, name, minimum=1):
    """Return ``value`` as an int >= ``minimum`` (bools refused), or raise :class:`FOAError`."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum:
        return int(value)
    raise FOAError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_sample_rate(sr, *, minimum=1000, maximum=768000):
    """Return ``sr`` as a positive int, or raise :class:`FOAError`."""
    if isinstance(sr, bool) or not isinstance(sr, (int, float, np.integer, np.floating)) \
            or not np.isfinite(sr) or float(sr) != int(sr):
        raise FOAError(f"sample rate must be a positive integer in Hz, got {sr!r}")
    sr = int(sr)
    if not minimum <= sr <= maximum:
        raise FOAError(f"unsupported sample rate {sr} Hz (expected {minimum}..{maximum} Hz)")
    return sr
