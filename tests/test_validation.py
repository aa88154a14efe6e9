"""The shared input checks every spatialfoa function relies on."""
import numpy as np
import pytest

from spatialfoa.validation import FOAError, as_audio, check_sample_rate, positive_int


def test_positive_int_accepts_python_and_numpy_ints_at_or_above_the_minimum():
    assert positive_int(3, "n") == 3 and type(positive_int(np.int64(3), "n")) is int
    assert positive_int(2, "n_fft", minimum=2) == 2
    for bad in (0, -1, 2.0, "3", True, None):
        with pytest.raises(FOAError, match="n must be an integer >= 1"):
            positive_int(bad, "n")
    with pytest.raises(FOAError, match="n_fft must be an integer >= 2, got 1"):
        positive_int(1, "n_fft", minimum=2)


def test_as_audio_names_the_problem():
    x = np.zeros((4, 10), np.float32)
    assert as_audio(x, channels=4) is x                          # float32 kept, no copy
    assert as_audio(np.zeros((4, 10), np.int16)).dtype == np.float64
    with pytest.raises(FOAError, match="looks transposed"):
        as_audio(np.zeros((10, 4)), channels=4)
    with pytest.raises(FOAError, match="channel 2, sample 5"):
        y = np.zeros((4, 10))
        y[2, 5] = np.nan
        as_audio(y)
    with pytest.raises(FOAError, match="2-D"):
        as_audio(np.zeros(10))


def test_check_sample_rate():
    assert check_sample_rate(24000.0) == 24000
    for bad in (0, 44100.5, True, "fast", float("nan"), None, 10 ** 7):
        with pytest.raises(FOAError):
            check_sample_rate(bad)
