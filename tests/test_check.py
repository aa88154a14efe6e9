"""check_ambix / check_array: the Eq. 13 energy test on files, with known answers.

A diffuse ambiX field has E_xyz / E_w = 1; FuMa's W at -3 dB doubles it (2); N3D's dipoles
x sqrt(3) triple it (3). Files are made here; real ones come from ../shared/data when present.
"""
import json

import numpy as np
import pytest
import soundfile as sf

from spatialfoa import FOAError
from spatialfoa.audio_io import write_audio
from spatialfoa.check import CheckResult, check_ambix, check_array, load_ambix
from spatialfoa.encoding import diffuse_field
from spatialfoa.sa3d import inject_sa3d

SR = 24000


@pytest.fixture(scope="module")
def field():
    """A diffuse ambiX field (4, 1 s), RMS of W = 0.1, float32."""
    return (0.1 * diffuse_field(SR, rng=7)).astype(np.float32)


def _wav(tmp_path, name, x, sr=SR):
    path = tmp_path / name
    write_audio(path, x, sr)
    return path


def test_diffuse_ambix_wav_passes(tmp_path, field):
    r = check_ambix(_wav(tmp_path, "good.wav", field))
    assert r.passes and r.reason is None and r.hint is None and r.error is None
    assert r.ratio == pytest.approx(1.0, abs=0.05)
    assert (r.channels, r.sample_rate, r.layout, r.sa3d) == (4, SR, "ambix", None)
    assert r.duration == pytest.approx(1.0)


def test_fuma_scaled_fails_with_the_fuma_hint_and_passes_as_fuma(tmp_path, field):
    w, y, z, x = field
    fuma = np.stack([w / np.sqrt(2), x, y, z])           # W, X, Y, Z; W at -3 dB
    path = _wav(tmp_path, "fuma.wav", fuma)
    r = check_ambix(path)
    assert not r.passes and r.ratio == pytest.approx(2.0, abs=0.1)
    assert "fuma_to_ambix" in r.hint and f"{r.ratio:.2f}" in r.reason
    r = check_ambix(path, layout="fuma")
    assert r.passes and r.ratio == pytest.approx(1.0, abs=0.05) and r.layout == "fuma"


def test_n3d_fails_with_the_n3d_hint(tmp_path, field):
    n3d = field * np.array([[1.0], [np.sqrt(3)], [np.sqrt(3)], [np.sqrt(3)]], np.float32)
    r = check_ambix(_wav(tmp_path, "n3d.wav", n3d))
    assert not r.passes and r.ratio == pytest.approx(3.0, abs=0.15)
    assert "n3d_to_sn3d" in r.hint
    assert check_ambix(tmp_path / "n3d.wav", layout="n3d").passes


def test_tau_is_the_tolerance(field):
    # dipoles x sqrt(1.15): ratio 1.15 (independent of the low-pass: every channel is scaled)
    x = field * np.array([[1.0], [1.15 ** 0.5], [1.15 ** 0.5], [1.15 ** 0.5]], np.float32)
    assert not check_array(x, SR, tau=0.1).passes
    r = check_array(x, SR, tau=0.2)
    assert r.passes and r.ratio == pytest.approx(1.15 * check_array(field, SR).ratio, rel=1e-4)


def test_stereo_padded_with_silent_channels_fails_although_its_ratio_is_one(tmp_path, noise):
    lr = noise(2, SR, SR, seed=1)
    lr[1] = 0.8 * lr[0] + 0.6 * lr[1]        # correlated L/R of equal energy: E_R / E_L = 1
    padded = np.concatenate([lr, np.zeros_like(lr)])
    assert np.sum(padded[1:] ** 2) / np.sum(padded[0] ** 2) == pytest.approx(1.0, abs=0.05)
    r = check_ambix(_wav(tmp_path, "padded.wav", padded))
    assert not r.passes and r.ratio is None
    assert "Z, X channels are silent" in r.reason and "stereo" in r.reason


def test_two_channel_file_fails_as_stereo(tmp_path, noise):
    r = check_ambix(_wav(tmp_path, "st.wav", noise(2, SR // 2, SR)))
    assert not r.passes and r.reason == "2 channels: stereo, not ambisonic"
    assert r.layout == "stereo" and r.channels == 2 and r.error is None
    r = check_ambix(_wav(tmp_path, "three.wav", noise(3, SR // 2, SR)))
    assert not r.passes and r.reason.startswith("3 channels: not first-order ambisonic")
    r = check_ambix(_wav(tmp_path, "mono.wav", noise(1, SR // 2, SR)))
    assert r.reason == "1 channel: mono, not ambisonic"


def test_youtube_six_channel_layout(tmp_path, field):
    w, y, z, x = field
    zero = np.zeros_like(w)
    six = np.stack([x, y, w, zero, z, zero])              # what PyAV decodes from YouTube AAC
    path = _wav(tmp_path, "yt.wav", six)
    r = check_ambix(path, layout="youtube-aac-6ch")
    assert r.passes and r.channels == 6 and r.layout == "youtube-aac-6ch"
    assert r.ratio == pytest.approx(check_array(field, SR).ratio, rel=1e-6)
    r = check_ambix(path)                                  # a 6-channel WAV is W,Y,Z,X,L,R
    assert not r.passes and r.layout == "ambix-6ch"


def test_six_channel_aac_mp4_is_read_as_youtube(tmp_path, field, write_foa_mp4):
    w, y, z, x = field
    zero = np.zeros_like(w)
    six = np.stack([x, y, w, zero, z, zero])
    path = write_foa_mp4(tmp_path / "yt.mp4", six, SR, layout="5.1", video=False)
    r = check_ambix(path)
    assert r.layout == "youtube-aac-6ch" and r.passes, r
    x4, sr, info = load_ambix(path)
    c = np.corrcoef(np.concatenate([x4, field]))[:4, 4:]   # AAC of white noise: lossy
    assert np.all(np.diag(c) > 0.7) and np.all(np.abs(c - np.diag(np.diag(c))) < 0.1), c


def test_ambix_six_channel_wav_with_head_locked_pair(tmp_path, field, noise):
    six = np.concatenate([field, noise(2, SR, SR, seed=9)])   # W, Y, Z, X, L, R
    r = check_ambix(_wav(tmp_path, "six.wav", six))
    assert r.passes and r.layout == "ambix-6ch"
    assert check_array(six, SR).layout == "ambix-6ch"


def test_sa3d_channel_map_is_used(tmp_path, field, noise, write_foa_mp4):
    w, y, z, x = field
    stored = np.stack([x, y, z, w])                       # ACN components 3, 1, 2, 0
    plain = write_foa_mp4(tmp_path / "plain.mp4", stored, SR, video=False)
    r = check_ambix(plain)                                # read as W, Y, Z, X: X taken for W
    assert not r.passes and r.ratio == pytest.approx(5.0, rel=0.1)   # (1/3 + 1/3 + 1) / (1/3)
    inject_sa3d(plain, tmp_path / "mapped.mp4", channel_map=[3, 1, 2, 0])
    r = check_ambix(tmp_path / "mapped.mp4")
    assert r.passes and r.layout == "sa3d" and r.sa3d["channel_map"] == [3, 1, 2, 0]
    x4, _, info = load_ambix(tmp_path / "mapped.mp4")
    c = np.corrcoef(np.concatenate([x4, field]))[:4, 4:]
    assert np.all(np.diag(c) > 0.7) and info["layout"] == "sa3d", c

    lr = noise(2, SR, SR, seed=4)
    six = np.concatenate([lr, field])                     # L, R, W, Y, Z, X
    plain6 = write_foa_mp4(tmp_path / "plain6.mp4", six, SR, layout="6.0", video=False)
    inject_sa3d(plain6, tmp_path / "mapped6.mp4", channel_map=[4, 5, 0, 1, 2, 3],
                head_locked_stereo=True)
    r = check_ambix(tmp_path / "mapped6.mp4")
    assert r.passes and r.channels == 6 and r.sa3d["head_locked_stereo"]


def test_nan_silent_corrupt_and_truncated_files(tmp_path, field):
    bad = field.copy()
    bad[3, 1200] = np.nan                  # write_audio refuses NaN: write it with soundfile
    sf.write(tmp_path / "nan.wav", bad.T, SR, subtype="FLOAT")
    r = check_ambix(tmp_path / "nan.wav")
    assert not r.passes and r.error is None
    assert r.reason == "1 non-finite samples (NaN or inf), the first in channel 3 at 0.050 s"

    r = check_ambix(_wav(tmp_path, "zero.wav", np.zeros((4, SR), np.float32)))
    assert not r.passes and r.reason == "W channel is silent" and r.ratio is None

    (tmp_path / "junk.wav").write_bytes(np.random.default_rng(0).bytes(5000))
    r = check_ambix(tmp_path / "junk.wav")
    assert not r.passes and r.reason == "unreadable" and "junk.wav" in r.error
    assert str(r).startswith("FAIL ") and "unreadable" in str(r)

    data = _wav(tmp_path, "full.wav", field).read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:len(data) // 2])
    r = check_ambix(tmp_path / "cut.wav")
    assert r.passes and "truncated" in r.warning and r.duration < 0.55

    r = check_ambix(tmp_path / "missing.wav")
    assert not r.passes and "no such file" in r.error


def test_short_signals_and_low_sample_rates(field):
    r = check_array(field[:, :50], SR)          # shorter than the 4 kHz low-pass filter
    assert not r.passes and r.ratio is None and "too short" in r.reason
    # at 8 kHz the signal is already below 4 kHz: no filter, the plain ratio is used
    slow = (0.1 * diffuse_field(8000, rng=1)).astype(np.float32)
    r = check_array(slow, 8000)
    assert r.passes
    assert r.ratio == pytest.approx(np.sum(slow[1:] ** 2.0) / np.sum(slow[0] ** 2.0), rel=1e-5)


def test_result_serialises_and_prints_on_one_line(tmp_path, field):
    r = check_ambix(_wav(tmp_path, "good.wav", field))
    d = json.loads(json.dumps(r.to_dict()))
    assert d["passes"] is True and d["path"].endswith("good.wav") and d["channels"] == 4
    assert set(d) == {f for f in CheckResult.__dataclass_fields__}
    text = str(r)
    assert "\n" not in text and text.startswith("PASS ") and f"ratio {r.ratio:.3f}" in text


def test_check_array_agrees_with_check_ambix_and_validates(tmp_path, field):
    path = _wav(tmp_path, "good.wav", field)
    assert check_array(field, SR).ratio == pytest.approx(check_ambix(path).ratio, rel=1e-6)
    assert check_ambix(path, max_seconds=0.5).duration == pytest.approx(1.0)
    with pytest.raises(FOAError, match="2-D"):
        check_array(field[0], SR)
    with pytest.raises(FOAError, match="sample rate"):
        check_array(field, -5)
    with pytest.raises(FOAError, match="tau"):
        check_ambix(path, tau=0)
    with pytest.raises(FOAError, match="cutoff"):
        check_array(field, SR, cutoff=-1.0)


def test_load_ambix_refuses_stereo(tmp_path, noise):
    with pytest.raises(FOAError, match="st.wav: 2 channels: stereo"):
        load_ambix(_wav(tmp_path, "st.wav", noise(2, 100, SR)))


# --- real data (skipped when ../shared/data is absent) --------------------------------------

def test_real_eigenmike_recording_passes(data_dir):
    r = check_ambix(data_dir / "foa" / "eigenmike_hall_recording_foa_ambix.wav")
    assert r.passes and r.ratio == pytest.approx(0.96, abs=0.02) and r.sample_rate == 44100


def test_real_n3d_rir_fails_with_n3d_hint(data_dir):
    path = data_dir / "foa" / "gewandhaus_rir_acn_n3d.wav"
    r = check_ambix(path)
    assert not r.passes and r.ratio == pytest.approx(3.03, abs=0.05) and "n3d" in r.hint
    assert check_ambix(path, layout="n3d").ratio == pytest.approx(1.01, abs=0.03)


def test_real_fuma_rir_fails_with_fuma_hint(data_dir):
    path = data_dir / "foa" / "room_rir_fuma_wxyz.wav"
    r = check_ambix(path)
    assert not r.passes and r.ratio == pytest.approx(2.03, abs=0.05) and "fuma" in r.hint
    assert check_ambix(path, layout="fuma").ratio == pytest.approx(1.01, abs=0.03)


def test_real_congo_mp4_fails_as_stereo(data_dir):
    r = check_ambix(data_dir / "equirect" / "congo_360_topbottom_stereo_audio.mp4")
    assert not r.passes and r.reason == "2 channels: stereo, not ambisonic"
    assert r.sa3d is None and r.duration == pytest.approx(10.0, abs=0.2)
