"""Per-crop audio: alignment to the crop centre, beams, stereo balance, mirror, shapes, scaling."""
import itertools

import numpy as np
import pytest

import spatialfoa
from avsa_learn.data.config import AUDIO_FORMATS, FEATURES, DataConfig
from avsa_learn.data.crop_audio import (LOGMEL_MEAN_DB, LOGMEL_STD_DB, crop_audio_features,
                                        crop_signals)
from spatialfoa.validation import FOAError

SR = 24000
RNG = np.random.default_rng(0)
NOISE = RNG.standard_normal(SR).astype(np.float32) * 0.1


def scene(az, el, s=NOISE):
    return spatialfoa.encode(s, az, el).astype(np.float32)


def valid_combos():
    for fmt, feat in itertools.product(AUDIO_FORMATS, FEATURES):
        try:
            yield DataConfig(audio_format=fmt, feature=feat)
        except ValueError:
            continue


def iv_direction(feats):
    """Energy-weighted mean intensity vector (x, y, z) of FOA-IV features (7, F, M)."""
    iv = feats[4:7]
    return iv.reshape(3, -1).mean(axis=1)


# crop centres off the horizon and away from the front: the reference's pitch-before-yaw bug
# would miss these by tens of degrees.
CENTRES = [(0.0, 0.0), (1.9, 0.45), (-2.6, -0.5), (np.pi, 0.3), (0.7, -0.2)]


@pytest.mark.parametrize("az,el", CENTRES)
def test_aligned_source_is_exactly_in_front(az, el):
    """A plane wave from the crop centre ends up at (0, 0): [W, Y, Z, X] = [s, 0, 0, s]."""
    y = crop_signals(scene(az, el), az, el, "ambi")[0]
    np.testing.assert_allclose(y[1], 0, atol=1e-5)
    np.testing.assert_allclose(y[2], 0, atol=1e-5)
    np.testing.assert_allclose(y[3], y[0], atol=1e-5)
    np.testing.assert_allclose(y[0], NOISE, atol=1e-6)


@pytest.mark.parametrize("az,el", CENTRES)
def test_foa_iv_of_aligned_audio_points_front(az, el):
    f = crop_audio_features(scene(az, el), SR, az, el, DataConfig(feature="foa-iv"))
    x, y, z = iv_direction(f)
    assert x > 0.97 and abs(y) < 0.03 and abs(z) < 0.03
    # A crop 90 deg to the source's right hears it from its left: IV along +y.
    f = crop_audio_features(scene(az, 0.0), SR, az - np.pi / 2, 0.0, DataConfig(feature="foa-iv"))
    x, y, z = iv_direction(f)
    assert y > 0.97 and abs(x) < 0.03


def test_crop_signals_match_spatialfoa_per_crop():
    """The batched matrices give what align / to_mono / to_stereo give crop by crop."""
    x = spatialfoa.encode(RNG.standard_normal((3, 4800)), np.array([0.3, -2.0, 2.9]),
                          np.array([0.1, -0.3, 0.6]))
    az, el = RNG.uniform(-np.pi, np.pi, 5), RNG.uniform(-0.7, 0.7, 5)
    mir = np.array([False, True, True, False, True])
    ambi = crop_signals(x, az, el, "ambi", mir)
    mono = crop_signals(x, az, el, "mono", mir)
    stereo = crop_signals(x, az, el, "stereo", mir)
    assert ambi.shape == (5, 4, 4800) and mono.shape == (5, 1, 4800)
    assert stereo.shape == (5, 2, 4800)
    for k in range(5):
        a = spatialfoa.align(x, az[k], el[k])
        if mir[k]:
            a[1] = -a[1]
        np.testing.assert_allclose(ambi[k], a, atol=1e-12)
        np.testing.assert_allclose(mono[k], spatialfoa.to_mono(x, az[k], el[k]), atol=1e-12)
        s = spatialfoa.to_stereo(x, az[k], el[k])
        np.testing.assert_allclose(stereo[k], s[::-1] if mir[k] else s, atol=1e-12)


def _band_db(f, ch):
    """Mean log-mel level (dB) of channel ch of normalised features."""
    return float(np.mean(f[ch]) * LOGMEL_STD_DB + LOGMEL_MEAN_DB)


def test_stereo_balance_and_side():
    cfg = DataConfig(audio_format="stereo", feature="icf")
    az = 0.8
    f = crop_audio_features(scene(az, 0.0), SR, az, 0.0, cfg)
    assert abs(_band_db(f, 0) - _band_db(f, 1)) < 0.05          # L == R when centred
    assert abs(float(np.mean(f[2]))) < 0.05                      # ILD ~ 0
    # Crop 40 deg to the object's right: the object is on the crop's left.
    f = crop_audio_features(scene(az, 0.0), SR, az - np.deg2rad(40), 0.0, cfg)
    gl = 0.25 + 0.75 * np.sin(np.deg2rad(40))                    # hyper-cardioid at +90 deg
    gr = 0.25 - 0.75 * np.sin(np.deg2rad(40))
    expected = 20 * np.log10(abs(gl) / abs(gr))
    assert _band_db(f, 0) - _band_db(f, 1) == pytest.approx(expected, abs=0.3)
    assert float(np.mean(f[2])) > 0                               # ILD says left


def test_mono_beam_gain():
    cfg = DataConfig(audio_format="mono")
    ref = spatialfoa.logmel(NOISE[None], SR, n_mels=128)[0, :100]
    on = crop_audio_features(scene(-1.0, 0.2), SR, -1.0, 0.2, cfg)
    np.testing.assert_allclose(on[0] * LOGMEL_STD_DB + LOGMEL_MEAN_DB, ref, atol=1e-2)
    back = crop_audio_features(scene(-1.0, 0.2), SR, -1.0 + np.pi, -0.2, cfg)
    # Hyper-cardioid at 180 deg: |0.25 - 0.75| = 0.5 -> -6.02 dB
    diff = np.mean(back[0] - on[0]) * LOGMEL_STD_DB
    assert diff == pytest.approx(20 * np.log10(0.5), abs=0.05)


def test_mirror_flips_left_right():
    az_src, crop = 0.5, 0.1                       # source 0.4 rad left of the crop centre
    x = scene(az_src, 0.0)
    cfg = DataConfig(feature="foa-iv")
    plain = crop_audio_features(x, SR, crop, 0.0, cfg)
    mir = crop_audio_features(x, SR, crop, 0.0, cfg, mirror=True)
    assert iv_direction(plain)[1] > 0.3 and iv_direction(mir)[1] < -0.3
    np.testing.assert_allclose(mir[4:7] * [[[1]], [[-1]], [[1]]], plain[4:7], atol=1e-5)
    np.testing.assert_allclose(mir[:4], plain[:4], atol=1e-4)  # |Y| unchanged
    # Mirrored audio == audio of the mirrored scene (theta -> -theta) at the mirrored crop.
    other = crop_audio_features(scene(-az_src, 0.0), SR, -crop, 0.0, cfg)
    np.testing.assert_allclose(mir, other, atol=1e-4)
    st = DataConfig(audio_format="stereo")
    a = crop_audio_features(x, SR, crop, 0.0, st)
    b = crop_audio_features(x, SR, crop, 0.0, st, mirror=True)
    np.testing.assert_allclose(b, a[::-1], atol=1e-6)
    mono = DataConfig(audio_format="mono")
    np.testing.assert_allclose(crop_audio_features(x, SR, crop, 0.0, mono, mirror=True),
                               crop_audio_features(x, SR, crop, 0.0, mono), atol=1e-6)


@pytest.mark.parametrize("cfg", list(valid_combos()), ids=lambda c: f"{c.audio_format}-{c.feature}")
def test_shapes_and_batched_equals_single(cfg):
    x = spatialfoa.encode(RNG.standard_normal((2, SR)), np.array([0.3, -2.0]),
                          np.array([0.1, -0.3])).astype(np.float32)
    az, el, mir = np.array([0.2, 1.5, -2.0, 3.0]), np.array([0.0, 0.3, -0.4, 0.1]), \
        [False, True, False, True]
    f = crop_audio_features(x, SR, az, el, cfg, mirror=mir)
    assert f.shape == (4, cfg.audio_channels, cfg.audio_frames, cfg.n_mels)
    assert f.dtype == np.float32 and np.all(np.isfinite(f))
    for k in range(4):
        one = crop_audio_features(x, SR, az[k], el[k], cfg, mirror=mir[k])
        assert one.shape == (cfg.audio_channels, cfg.audio_frames, cfg.n_mels)
        # one crop is mixed in the time domain, four in the STFT domain: float32 rounding
        np.testing.assert_allclose(one, f[k], atol=1e-3)  # 0.0135 dB


def test_normalisation_only_on_logmel_channels():
    cfg = DataConfig(feature="foa-iv")
    x = scene(0.4, 0.1)
    f = crop_audio_features(x, SR, 0.4, 0.1, cfg)
    raw = spatialfoa.foa_iv(spatialfoa.align(x, 0.4, 0.1), SR, n_mels=128)[:, :100]
    np.testing.assert_allclose(f[:4], (raw[:4] - LOGMEL_MEAN_DB) / LOGMEL_STD_DB, atol=1e-4)
    np.testing.assert_allclose(f[4:], raw[4:], atol=1e-5)
    assert np.abs(f[4:]).max() <= 1 + 1e-5


def test_length_and_rate_handling():
    cfg = DataConfig()
    short = scene(0.0, 0.0)[:, : SR // 2]
    f = crop_audio_features(short, SR, 0.0, 0.0, cfg)
    assert f.shape == (4, 100, 128)
    long = np.concatenate([scene(0.0, 0.0)] * 2, axis=1)
    np.testing.assert_allclose(crop_audio_features(long, SR, 0.0, 0.0, cfg),
                               crop_audio_features(long[:, :SR], SR, 0.0, 0.0, cfg),
                               atol=1e-5)
    with pytest.raises(FOAError, match="sample rate"):
        crop_audio_features(scene(0, 0), 48000, 0.0, 0.0, cfg)
    with pytest.raises(FOAError, match="channels"):
        crop_audio_features(np.zeros((2, SR), np.float32), SR, 0.0, 0.0, cfg)


def mixed_scene(seed=0):
    """Three plane waves (noise, a tone, a chirp-like burst) + weak diffuse noise, 1.2 s."""
    rng = np.random.default_rng(seed)
    n = int(1.2 * SR)
    t = np.arange(n) / SR
    x = scene(0.4, 0.2, rng.standard_normal(n).astype(np.float32) * 0.1)
    x += scene(-2.0, -0.3, (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    x += scene(2.8, 0.6, (0.1 * np.sin(2 * np.pi * (300 + 2000 * t) * t)).astype(np.float32))
    return x + 0.01 * rng.standard_normal(x.shape).astype(np.float32)


@pytest.mark.parametrize("cfg", list(valid_combos()), ids=lambda c: f"{c.audio_format}-{c.feature}")
def test_stft_once_equals_the_per_crop_path(cfg):
    """Rotating/beamforming the STFT (one 4-channel STFT per clip) gives the features of
    rotating/beamforming the signal and taking an STFT per crop, flipped crops included."""
    x = mixed_scene()
    az = np.array([0.4, -2.0, 2.8, 1.3, -0.7, 3.1])
    el = np.array([0.2, -0.3, 0.6, 0.0, 0.45, -0.5])
    mirror = np.array([False, True, False, True, True, False])
    once = crop_audio_features(x, SR, az, el, cfg, mirror=mirror, stft_once=True)
    per_crop = crop_audio_features(x, SR, az, el, cfg, mirror=mirror, stft_once=False)
    assert once.shape == per_crop.shape == (6, cfg.audio_channels, 100, 128)
    n_db = {"logmel": cfg.audio_channels, "foa-iv": 4, "icf": 2}[cfg.feature]
    # log-mel channels: z-normalised dB; 1e-3 is 0.0135 dB
    np.testing.assert_allclose(once[:, :n_db], per_crop[:, :n_db], atol=1e-3, rtol=0)
    np.testing.assert_allclose(once[:, n_db:], per_crop[:, n_db:], atol=1e-3, rtol=0)
    # the mirror matters where it should: stereo L/R, the IV's y; not the mono beam, nor
    # per-channel ambi log-mel (Y -> -Y keeps |Y|)
    flipped = crop_audio_features(x, SR, az, el, cfg, mirror=~mirror, stft_once=True)
    changes = cfg.audio_format == "stereo" or cfg.feature == "foa-iv"
    assert (np.abs(flipped - once).max() > 0.1) == changes
