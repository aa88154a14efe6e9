"""audio_io (soundfile + PyAV reading, channel order) and sa3d (SA3D box) against known answers."""
import struct

import numpy as np
import pytest
import soundfile as sf

import spatialfoa
from spatialfoa import FOAError
from spatialfoa.audio_io import read_audio, write_audio
from spatialfoa.sa3d import inject_sa3d, read_sa3d, sa3d_to_ambix_order

SR = 48000


def _corr(a, b):
    """Correlation-coefficient matrix between the rows of a and the rows of b."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a @ b.T) / np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))


def _truncate(src, dst):
    data = src.read_bytes()
    dst.write_bytes(data[:len(data) // 2])
    return dst


# --- soundfile formats ----------------------------------------------------------------------

def test_wav_round_trip_is_exact_float32(tmp_path, noise):
    x = noise(4, SR // 2, SR)
    write_audio(tmp_path / "a.wav", x, SR)
    y, sr, info = read_audio(tmp_path / "a.wav")
    assert sr == SR and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, x)
    assert info["channels"] == 4 and info["sample_rate"] == SR and info["codec"] == "FLOAT"
    assert info["duration"] == pytest.approx(0.5) and info["warnings"] == []


def test_float64_input_is_written_and_read_as_float32(tmp_path, noise):
    x = noise(4, 1000, SR).astype(np.float64) * 1.2345
    write_audio(tmp_path / "a.wav", x, SR)
    y, _, _ = read_audio(tmp_path / "a.wav")
    np.testing.assert_array_equal(y, x.astype(np.float32))


def test_pcm16_wav_written_by_soundfile_reads_as_scaled_integers(tmp_path):
    ints = np.array([[0, 1, -1, 32767, -32768], [100, -100, 5, 7, 9]], dtype=np.int16)
    sf.write(tmp_path / "i.wav", ints.T, SR, subtype="PCM_16")
    y, _, info = read_audio(tmp_path / "i.wav")
    np.testing.assert_array_equal(y, ints / 32768.0)
    assert info["codec"] == "PCM_16"


def test_flac_round_trip_within_24_bit_quantisation(tmp_path, noise):
    x = noise(4, SR // 4, SR)
    write_audio(tmp_path / "a.flac", x, SR)
    y, _, info = read_audio(tmp_path / "a.flac")
    assert info["format"] == "FLAC"
    np.testing.assert_allclose(y, x, atol=2.0 ** -23)


def test_offset_and_max_seconds_slice_exactly(tmp_path, noise):
    x = noise(4, SR, SR)
    for ext in ("wav", "flac"):
        write_audio(tmp_path / f"a.{ext}", x, SR)
        full, _, _ = read_audio(tmp_path / f"a.{ext}")
        part, _, info = read_audio(tmp_path / f"a.{ext}", offset=0.25, max_seconds=0.5)
        np.testing.assert_array_equal(part, full[:, SR // 4:SR // 4 + SR // 2])
        assert info["offset"] == 0.25 and info["samples"] == SR // 2
        tail, _, _ = read_audio(tmp_path / f"a.{ext}", offset=0.75)
        np.testing.assert_array_equal(tail, full[:, 3 * SR // 4:])


@pytest.mark.parametrize("one_read", [True, False])
def test_spans_read_in_one_piece_or_in_blocks_are_the_same(tmp_path, noise, monkeypatch,
                                                           one_read):
    """Short spans are read in one soundfile read, longer ones in 4096-frame blocks: the same
    samples (the block reads forced with a zero one-read limit)."""
    import spatialfoa.audio_io as audio_io

    if not one_read:
        monkeypatch.setattr(audio_io, "_ONE_READ", 0)
    x = noise(4, SR, SR, seed=5)
    for ext, atol in (("wav", 0.0), ("flac", 2.0 ** -23)):
        write_audio(tmp_path / f"a.{ext}", x, SR)
        for offset, seconds in ((0.0, None), (0.1, 0.3), (0.37, 0.6), (0.9, 0.5)):
            got, _, info = read_audio(tmp_path / f"a.{ext}", offset=offset, max_seconds=seconds)
            i0 = int(round(offset * SR))
            want = x[:, i0:] if seconds is None else x[:, i0:i0 + int(round(seconds * SR))]
            assert got.flags.c_contiguous and got.dtype == np.float32
            np.testing.assert_allclose(got, want, atol=atol, rtol=0)
            assert info["samples"] == want.shape[1] and not info["warnings"]


def test_layout_maps_a_fuma_plane_wave_to_ambix(tmp_path):
    az, el = np.radians(60), np.radians(20)
    s = np.sin(2 * np.pi * 440 * np.arange(2000) / SR)
    fuma = np.stack([s / np.sqrt(2), np.cos(az) * np.cos(el) * s, np.sin(az) * np.cos(el) * s,
                     np.sin(el) * s])
    write_audio(tmp_path / "f.wav", fuma, SR)
    y, _, info = read_audio(tmp_path / "f.wav", layout="fuma")
    want = np.stack([s, np.sin(az) * np.cos(el) * s, np.sin(el) * s, np.cos(az) * np.cos(el) * s])
    np.testing.assert_allclose(y, want, atol=1e-6)
    assert y.dtype == np.float32 and info["layout"] == "fuma"


def test_write_audio_rejects_bad_input(tmp_path, noise):
    x = noise(4, 100, SR)
    with pytest.raises(FOAError, match="wav or .flac"):
        write_audio(tmp_path / "a.mp3", x, SR)
    with pytest.raises(FOAError, match="peak"):
        write_audio(tmp_path / "a.flac", 2 * x / np.abs(x).max(), SR)
    bad = x.copy()
    bad[2, 10] = np.nan
    with pytest.raises(FOAError, match="non-finite"):
        write_audio(tmp_path / "a.wav", bad, SR)
    with pytest.raises(FOAError, match="sample rate"):
        write_audio(tmp_path / "a.wav", x, 0)
    with pytest.raises(FOAError, match="missing_dir.*cannot write"):
        write_audio(tmp_path / "missing_dir" / "a.wav", x, SR)


# --- PyAV formats ---------------------------------------------------------------------------

def test_quad_aac_mp4_keeps_channel_order(tmp_path, noise, write_foa_mp4):
    x = noise(4, SR, SR)
    path = write_foa_mp4(tmp_path / "q.mp4", x, SR)
    y, sr, info = read_audio(path)
    assert sr == SR and y.shape == x.shape and y.dtype == np.float32
    assert info["codec"] == "aac" and info["channel_layout"] == "quad"
    assert info["channels"] == 4 and info["duration"] == pytest.approx(1.0)
    c = _corr(y, x)      # AAC is lossy: the channels must match by correlation, in order
    assert np.all(np.diag(c) > 0.95), c
    assert np.all(np.abs(c - np.diag(np.diag(c))) < 0.1), c


def test_six_channel_aac_keeps_order_when_labelled_6_0_and_loses_the_lfe_slot_as_5_1(
        tmp_path, noise, write_foa_mp4):
    x = noise(6, SR // 2, SR, seed=3)
    path = write_foa_mp4(tmp_path / "six.mp4", x, SR, video=False, layout="6.0")
    y, _, info = read_audio(path)
    assert info["channels"] == 6 and y.shape == x.shape
    c = _corr(y, x)
    assert np.all(np.diag(c) > 0.95) and np.all(np.abs(c - np.diag(np.diag(c))) < 0.1), c
    # the pitfall of foa-facts.md: as 5.1, channel 3 is the LFE and is low-passed away
    path = write_foa_mp4(tmp_path / "51.mp4", x, SR, video=False, layout="5.1")
    y, _, info = read_audio(path)
    c = np.diag(_corr(y, x))
    assert info["channel_layout"] == "5.1" and c[3] < 0.5 and np.all(np.delete(c, 3) > 0.95), c


def test_packed_integer_flac_in_mp4_is_lossless(tmp_path, noise, write_foa_mp4):
    # FLAC in this FFmpeg build encodes packed s16: exercises the interleaved decode path
    x = noise(4, SR // 4, SR, seed=5)
    path = write_foa_mp4(tmp_path / "f.mp4", x, SR, video=False, codec="flac")
    y, _, info = read_audio(path)
    assert info["codec"] == "flac"
    np.testing.assert_allclose(y, np.round(x * 32767) / 32768, atol=1.5 / 32768)


def test_mp4_offset_and_max_seconds(tmp_path, noise, write_foa_mp4):
    x = noise(4, 2 * SR, SR, seed=1)
    path = write_foa_mp4(tmp_path / "q.mp4", x, SR, video=False)
    y, _, info = read_audio(path, offset=1.0, max_seconds=0.5)
    assert y.shape == (4, SR // 2) and info["samples"] == SR // 2
    c = _corr(y, x[:, SR:SR + SR // 2])    # aligned to the sample, order kept
    assert np.all(np.diag(c) > 0.95), c
    tail, _, _ = read_audio(path, offset=1.5)
    assert tail.shape == (4, SR // 2)
    with pytest.raises(FOAError, match="no audio samples after offset"):
        read_audio(path, offset=3.0)


def test_missing_corrupt_and_empty_files_raise_naming_the_file(tmp_path, noise):
    with pytest.raises(FOAError, match="nope.wav: no such file"):
        read_audio(tmp_path / "nope.wav")
    rng = np.random.default_rng(0)
    for name in ("junk.wav", "junk.mp4", "junk.flac"):
        (tmp_path / name).write_bytes(rng.bytes(4000))
        with pytest.raises(FOAError, match=name):
            read_audio(tmp_path / name)
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(FOAError, match="empty.wav"):
        read_audio(tmp_path / "empty.wav")
    sf.write(tmp_path / "zero.wav", np.zeros((0, 4)), SR)
    with pytest.raises(FOAError, match="zero.wav: no audio samples"):
        read_audio(tmp_path / "zero.wav")
    with pytest.raises(FOAError, match="offset"):
        read_audio(tmp_path / "zero.wav", offset=-1)


def test_video_without_audio_raises(tmp_path):
    import av

    with av.open(str(tmp_path / "v.mp4"), "w") as out:
        v = out.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = 64, 32, "yuv420p"
        for k in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 64, 3), np.uint8), format="rgb24")
            frame.pts = k
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
    with pytest.raises(FOAError, match="v.mp4: no audio stream"):
        read_audio(tmp_path / "v.mp4")


def test_truncated_wav_and_flac_read_the_prefix_with_a_warning(tmp_path, noise):
    x = noise(4, SR, SR, seed=2)
    write_audio(tmp_path / "a.wav", x, SR)
    y, _, info = read_audio(_truncate(tmp_path / "a.wav", tmp_path / "t.wav"))
    assert 0.45 * SR < y.shape[1] < 0.5 * SR
    np.testing.assert_array_equal(y, x[:, :y.shape[1]])
    assert any("truncated" in w for w in info["warnings"])
    assert info["duration"] == pytest.approx(y.shape[1] / SR)

    write_audio(tmp_path / "a.flac", x, SR)
    y, _, info = read_audio(_truncate(tmp_path / "a.flac", tmp_path / "t.flac"))
    assert 0 < y.shape[1] < 0.6 * SR
    np.testing.assert_allclose(y, x[:, :y.shape[1]], atol=2.0 ** -23)
    assert any("truncated" in w for w in info["warnings"])


def test_truncated_mp4(tmp_path, noise, write_foa_mp4):
    x = noise(4, SR, SR, seed=4)
    # FFmpeg writes moov after mdat: cut in half, the index is gone -> a clear error
    path = write_foa_mp4(tmp_path / "a.mp4", x, SR)
    with pytest.raises(FOAError, match="t.mp4: cannot open"):
        read_audio(_truncate(path, tmp_path / "t.mp4"))
    # fast-start (moov first): the surviving half decodes, with a warning
    path = write_foa_mp4(tmp_path / "fs.mp4", x, SR, options={"movflags": "faststart"})
    y, _, info = read_audio(_truncate(path, tmp_path / "tfs.mp4"))
    assert 0.2 * SR < y.shape[1] < 0.9 * SR
    assert any("truncated" in w for w in info["warnings"])
    c = _corr(y[:, :-2048], x[:, :y.shape[1] - 2048])
    assert np.all(np.diag(c) > 0.95), c


# --- SA3D -----------------------------------------------------------------------------------

def _raw_sa3d(path):
    """Independent parse: the SA3D bytes found by searching the file."""
    data = path.read_bytes()
    at = data.index(b"SA3D") - 4
    size = struct.unpack(">I", data[at:at + 4])[0]
    body = data[at + 8:at + size]
    n = struct.unpack(">I", body[8:12])[0]
    return {"version": body[0], "flags": body[1], "order": struct.unpack(">I", body[2:6])[0],
            "ordering": body[6], "norm": body[7], "n": n,
            "map": list(struct.unpack(f">{n}I", body[12:12 + 4 * n])), "count": data.count(b"SA3D")}


def test_sa3d_inject_then_read_back(tmp_path, noise, write_foa_mp4):
    x = noise(4, SR // 2, SR)
    src = write_foa_mp4(tmp_path / "src.mp4", x, SR)
    assert read_sa3d(src) is None
    inject_sa3d(src, tmp_path / "out.mp4", channel_map=[0, 3, 1, 2])
    got = read_sa3d(tmp_path / "out.mp4")
    assert got == {"version": 0, "head_locked_stereo": False, "ambisonic_type": 0, "order": 1,
                   "channel_ordering": 0, "normalization": 0, "num_channels": 4,
                   "channel_map": [0, 3, 1, 2], "sample_entry": "mp4a"}
    raw = _raw_sa3d(tmp_path / "out.mp4")
    assert raw == {"version": 0, "flags": 0, "order": 1, "ordering": 0, "norm": 0, "n": 4,
                   "map": [0, 3, 1, 2], "count": 1}
    assert (tmp_path / "out.mp4").stat().st_size == src.stat().st_size + 20 + 4 * 4
    y0, _, _ = read_audio(src)
    y1, _, _ = read_audio(tmp_path / "out.mp4")
    np.testing.assert_array_equal(y1, y0)
    assert sa3d_to_ambix_order(got) == [0, 2, 3, 1]      # stored W, X, Y, Z -> W, Y, Z, X


def test_sa3d_six_channels_head_locked_replaces_an_existing_box(tmp_path, noise, write_foa_mp4):
    x = noise(6, SR // 4, SR)
    src = write_foa_mp4(tmp_path / "src.mp4", x, SR, layout="6.0")
    inject_sa3d(src, tmp_path / "a.mp4")
    inject_sa3d(tmp_path / "a.mp4", tmp_path / "a.mp4", head_locked_stereo=True,
                channel_map=[4, 5, 0, 1, 2, 3])          # in place, replacing the first box
    got = read_sa3d(tmp_path / "a.mp4")
    assert got["head_locked_stereo"] and got["num_channels"] == 6
    assert got["channel_map"] == [4, 5, 0, 1, 2, 3]
    raw = _raw_sa3d(tmp_path / "a.mp4")
    assert raw["flags"] == 0x80 and raw["count"] == 1
    assert sa3d_to_ambix_order(got) == [2, 3, 4, 5]
    # defaults: ambiX order 1 with a head-locked pair = W, Y, Z, X, L, R
    inject_sa3d(src, tmp_path / "b.mp4", head_locked_stereo=True)
    assert read_sa3d(tmp_path / "b.mp4")["channel_map"] == [0, 1, 2, 3, 4, 5]


def test_sa3d_fast_start_fixes_chunk_offsets(tmp_path, noise, write_foa_mp4):
    import av

    x = noise(4, SR // 2, SR)
    src = write_foa_mp4(tmp_path / "fs.mp4", x, SR, options={"movflags": "faststart"})
    data = src.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")   # moov really comes first
    inject_sa3d(src, tmp_path / "out.mp4")
    y0, _, _ = read_audio(src)
    y1, _, _ = read_audio(tmp_path / "out.mp4")
    np.testing.assert_array_equal(y1, y0)              # media found at the shifted offsets
    with av.open(str(src)) as a, av.open(str(tmp_path / "out.mp4")) as b:
        va = [f.to_ndarray() for f in a.decode(video=0)]
        vb = [f.to_ndarray() for f in b.decode(video=0)]
    assert len(va) == len(vb) > 0 and all(np.array_equal(p, q) for p, q in zip(va, vb))
    assert read_sa3d(tmp_path / "out.mp4")["channel_map"] == [0, 1, 2, 3]


def test_sa3d_in_quicktime_mov(tmp_path, noise, write_foa_mp4):
    src = write_foa_mp4(tmp_path / "a.mov", noise(4, SR // 4, SR), SR)
    inject_sa3d(src, tmp_path / "b.mov", channel_map=[0, 1, 2, 3])
    assert read_sa3d(tmp_path / "b.mov")["channel_map"] == [0, 1, 2, 3]
    y0, _, _ = read_audio(src)
    y1, _, _ = read_audio(tmp_path / "b.mov")
    np.testing.assert_array_equal(y1, y0)


def test_read_sa3d_of_other_files_and_errors(tmp_path, noise):
    write_audio(tmp_path / "a.wav", noise(4, 100, SR), SR)
    assert read_sa3d(tmp_path / "a.wav") is None
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    assert read_sa3d(tmp_path / "junk.mp4") is None
    with pytest.raises(FOAError, match="no such file"):
        read_sa3d(tmp_path / "nope.mp4")
    with pytest.raises(FOAError, match="no moov"):
        inject_sa3d(tmp_path / "a.wav", tmp_path / "b.mp4")
    assert not (tmp_path / "b.mp4").exists()
    assert spatialfoa.read_sa3d is read_sa3d


def test_real_congo_mp4_is_stereo_aac_without_sa3d(data_dir):
    path = data_dir / "equirect" / "congo_360_topbottom_stereo_audio.mp4"
    y, sr, info = read_audio(path, max_seconds=1.0)
    assert y.shape == (2, sr) and info["codec"] == "aac"
    assert info["duration"] == pytest.approx(10.0, abs=0.2)
    assert read_sa3d(path) is None


def test_resample_keeps_a_tone_and_rejects_unsupported_rates():
    from spatialfoa import resample

    t = np.arange(48000) / 48000
    x = np.stack([np.sin(2 * np.pi * 1000 * t)] * 4).astype(np.float32)
    y = resample(x, 48000, 24000)
    assert y.shape == (4, 24000) and y.dtype == np.float32
    ref = np.sin(2 * np.pi * 1000 * np.arange(24000) / 24000)
    np.testing.assert_allclose(y[:, 1000:-1000], np.stack([ref[1000:-1000]] * 4), atol=1e-3)
    assert resample(x, 24000, 24000) is x
    with pytest.raises(FOAError, match="4000 Hz is not supported"):
        resample(x, 4000, 24000)
    with pytest.raises(FOAError, match="factor"):
        resample(x, 44101, 24000)
