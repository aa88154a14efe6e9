"""Layout conversions: FuMa/N3D plane waves become the ambiX one, round trips, the YouTube
6-channel map, and channel-count errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spatialfoa.encoding import encode
from spatialfoa.formats import (LAYOUTS, YOUTUBE_AAC_6CH, ambix_to_fuma, fuma_to_ambix,
                                n3d_to_sn3d, remap_channels, sn3d_to_n3d, to_ambix)
from spatialfoa.validation import FOAError

AZ = st.floats(-np.pi, np.pi)
EL = st.floats(-np.pi / 2, np.pi / 2)


def fuma_plane_wave(s, az, el):
    """Traditional B-format W, X, Y, Z of a plane wave, straight from its definition."""
    g = [1 / np.sqrt(2), np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)]
    return np.outer(g, s)


def n3d_plane_wave(s, az, el):
    g = [1, np.sqrt(3) * np.sin(az) * np.cos(el), np.sqrt(3) * np.sin(el),
         np.sqrt(3) * np.cos(az) * np.cos(el)]
    return np.outer(g, s)


S = np.random.default_rng(0).standard_normal(300)


@settings(deadline=None, max_examples=60)
@given(AZ, EL)
def test_fuma_plane_wave_becomes_ambix(az, el):
    ambix = encode(S, az, el)
    np.testing.assert_allclose(fuma_to_ambix(fuma_plane_wave(S, az, el)), ambix, atol=1e-12)
    np.testing.assert_allclose(ambix_to_fuma(ambix), fuma_plane_wave(S, az, el), atol=1e-12)
    np.testing.assert_allclose(to_ambix(fuma_plane_wave(S, az, el), layout="fuma"), ambix, atol=1e-12)


@settings(deadline=None, max_examples=60)
@given(AZ, EL)
def test_n3d_plane_wave_becomes_ambix(az, el):
    ambix = encode(S, az, el)
    np.testing.assert_allclose(n3d_to_sn3d(n3d_plane_wave(S, az, el)), ambix, atol=1e-12)
    np.testing.assert_allclose(sn3d_to_n3d(ambix), n3d_plane_wave(S, az, el), atol=1e-12)
    np.testing.assert_allclose(to_ambix(n3d_plane_wave(S, az, el), layout="n3d"), ambix, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trips_keep_dtype(dtype):
    x = np.random.default_rng(1).standard_normal((4, 1000)).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for forward, back in [(ambix_to_fuma, fuma_to_ambix), (sn3d_to_n3d, n3d_to_sn3d)]:
        y = forward(x)
        assert y.dtype == dtype
        np.testing.assert_allclose(back(y), x, rtol=tol, atol=tol)
    np.testing.assert_allclose(fuma_to_ambix(x)[0], np.sqrt(2) * x[0], rtol=tol)


def test_energy_ratios_of_wrong_formats():
    # published diagnostics: E_xyz / E_w of a plane wave is 1 in SN3D, 2 in FuMa, 3 in N3D
    def ratio(x, w=0):
        e = (x ** 2).sum(axis=1)
        return (e.sum() - e[w]) / e[w]
    assert ratio(encode(S, 0.4, 0.3)) == pytest.approx(1.0)
    assert ratio(fuma_plane_wave(S, 0.4, 0.3)) == pytest.approx(2.0)
    assert ratio(n3d_plane_wave(S, 0.4, 0.3)) == pytest.approx(3.0)


def test_youtube_layout_recovers_ambix():
    rng = np.random.default_rng(2)
    w, y, z, x = encode(rng.standard_normal((3, 500)), np.array([0.3, 2.0, -1.2]),
                        np.array([0.1, -0.4, 0.9]))
    zeros = np.zeros_like(w)
    decoded = np.stack([x, y, w, zeros, z, zeros])                # [X, Y, W, -, Z, -]
    expected = np.stack([w, y, z, x])
    np.testing.assert_array_equal(to_ambix(decoded, layout="youtube-aac-6ch"), expected)
    np.testing.assert_array_equal(remap_channels(decoded, YOUTUBE_AAC_6CH), expected)
    # the unused slots are ignored whatever they hold
    decoded[3] = rng.standard_normal(500)
    decoded[5] = rng.standard_normal(500)
    np.testing.assert_array_equal(to_ambix(decoded, layout="youtube-aac-6ch"), expected)
    assert YOUTUBE_AAC_6CH == (2, 1, 4, 0) and LAYOUTS["youtube-aac-6ch"] == YOUTUBE_AAC_6CH


def test_other_layouts_and_remap():
    x = np.random.default_rng(3).standard_normal((4, 50))
    lr = np.ones((2, 50))
    np.testing.assert_array_equal(to_ambix(np.vstack([x, lr]), layout="ambix-6ch"), x)
    np.testing.assert_array_equal(to_ambix(x), x)
    np.testing.assert_array_equal(remap_channels(x, [3, 0]), x[[3, 0]])
    assert set(LAYOUTS) == {"ambix", "fuma", "n3d", "youtube-aac-6ch", "ambix-6ch"}


def test_errors_name_the_layout():
    with pytest.raises(FOAError, match=r"layout 'youtube-aac-6ch'.*expected 6 channels, got 4"):
        to_ambix(np.zeros((4, 10)), layout="youtube-aac-6ch")
    with pytest.raises(FOAError, match=r"layout 'ambix'.*expected 4 channels, got 6"):
        to_ambix(np.zeros((6, 10)), layout="ambix")
    with pytest.raises(FOAError, match=r"layout 'fuma'.*transposed"):
        to_ambix(np.zeros((10, 4)), layout="fuma")
    with pytest.raises(FOAError, match="unknown layout 'B-format'"):
        to_ambix(np.zeros((4, 10)), layout="B-format")
    with pytest.raises(FOAError, match="outside 0..3"):
        remap_channels(np.zeros((4, 10)), (0, 1, 2, 4))
    with pytest.raises(FOAError, match="expected 4 channels, got 3"):
        fuma_to_ambix(np.zeros((3, 10)))
    bad = np.zeros((4, 10))
    bad[0, 3] = np.nan
    with pytest.raises(FOAError, match="channel 0, sample 3"):
        n3d_to_sn3d(bad)
    with pytest.raises(FOAError, match="2-D"):
        sn3d_to_n3d(np.zeros(4))


def _lowpassed_ratio(x, sr, cutoff=4000.0):
    """E_xyz / E_w after a 4 kHz low-pass (paper Eq. 13), written out with scipy."""
    from scipy.signal import butter, sosfiltfilt
    y = sosfiltfilt(butter(8, cutoff, fs=sr, output="sos"), x.astype(np.float64), axis=1)
    e = (y ** 2).sum(axis=1)
    return e[1:].sum() / e[0]


@pytest.mark.realdata
@pytest.mark.parametrize("name, convert, before", [
    ("room_rir_fuma_wxyz.wav", fuma_to_ambix, 2.0),
    ("gewandhaus_rir_acn_n3d.wav", n3d_to_sn3d, 3.0),
])
def test_real_recordings_become_sn3d(data_dir, name, convert, before):
    sf = pytest.importorskip("soundfile")
    path = data_dir / "foa" / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.T
    assert _lowpassed_ratio(x, sr) == pytest.approx(before, abs=0.1)
    assert _lowpassed_ratio(convert(x), sr) == pytest.approx(1.0, abs=0.05)
