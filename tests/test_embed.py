"""avsa-embed and load_pretrained: known answers with a tiny random model saved as a checkpoint.

Audio is ambiX (ACN W, Y, Z, X; SN3D), azimuth counter-clockwise from the front (+90° = left),
degrees on the command line. The references are computed through the public pieces
(crop_audio_features + the encoder), rotations (spatialfoa.rotate) and colour-coded videos.
"""
import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

import spatialfoa
from avsa_learn import embed
from avsa_learn.checkpoint import CheckpointError, save_checkpoint
from avsa_learn.config import resolve_config
from avsa_learn.data.crop_audio import crop_audio_features
from avsa_learn.data.video import write_video
from avsa_learn.models import build_model
from avsa_learn.pretrained import load_pretrained

SR = 24000
TINY = ["data.crop_size=32", "data.n_frames=2", "data.n_mels=32", "model.video_widths=[8, 32]",
        "model.video_blocks=[1, 1]", "model.audio_width=4", "model.proj_dim=8",
        "model.transformer_ff=16"]


def _randomise_batchnorm(model, seed):
    """Non-trivial BatchNorm running statistics, so that loading them is visible."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """(checkpoint path, config, the saved model in eval mode)."""
    cfg = resolve_config("cpu", overrides=TINY)
    torch.manual_seed(0)
    model = build_model(cfg)
    _randomise_batchnorm(model, 1)
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    save_checkpoint(path, {"config": cfg.to_dict(), "model": model.state_dict()})
    return path, cfg, model.eval()


def scene(seconds, seed, azimuth=0.5, elevation=0.2):
    """A plane wave of white noise (RMS 0.1) as ambiX (4, n) float32 at SR."""
    s = 0.1 * np.random.default_rng(seed).standard_normal(int(round(seconds * SR)))
    return spatialfoa.encode(s, azimuth, elevation).astype(np.float32)


def write_wav(path, x, sr=SR):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(x).T, sr, subtype="FLOAT")
    return path


def run(args, capsys):
    code = embed.main([str(a) for a in args] + ["--no-progress"])
    return code, capsys.readouterr().err


def read_index(out):
    with open(out / "index.csv", newline="") as fh:
        return [(r["file"], float(r["start_s"]), float(r["end_s"])) for r in csv.DictReader(fh)]


@torch.no_grad()
def direct(model, cfg, x, azimuth=0.0, elevation=0.0):
    """Reference embedding of one window: crop_audio_features then the audio encoder."""
    f = crop_audio_features(x, SR, azimuth, elevation, cfg.data)
    return model.encoders.encode_audio(torch.from_numpy(f)[None])[0].numpy()


# ------------------------------------------------------------------ load_pretrained
def test_load_pretrained_restores_weights_in_eval_mode(ckpt, tmp_path):
    path, cfg, saved = ckpt
    model, cfg2 = load_pretrained(path)
    assert cfg2 == cfg and not model.training
    x = torch.randn(3, cfg.data.audio_channels, cfg.data.audio_frames, cfg.data.n_mels)
    with torch.no_grad():
        torch.testing.assert_close(model.encoders.encode_audio(x), saved.encoders.encode_audio(x))
        other = build_model(cfg).eval()  # same architecture, other weights/statistics
        assert not torch.allclose(other.encoders.encode_audio(x), saved.encoders.encode_audio(x))
    with pytest.raises(CheckpointError, match="not found"):
        load_pretrained(tmp_path / "missing.pt")
    save_checkpoint(tmp_path / "nomodel.pt", {"config": cfg.to_dict()})
    with pytest.raises(CheckpointError, match="no model"):
        load_pretrained(tmp_path / "nomodel.pt")


# ------------------------------------------------------------------ windows
@pytest.mark.parametrize("n, window, hop, expected", [
    (60000, 24000, 12000, [0, 12000, 24000, 36000]),
    (48000, 24000, 24000, [0, 24000]),
    (47999, 24000, 24000, [0]),
    (24000, 24000, 12000, [0]),
    (1000, 24000, 12000, [0]),     # shorter than a window: one zero-padded window
])
def test_window_starts(n, window, hop, expected):
    np.testing.assert_array_equal(embed.window_starts(n, window, hop), expected)


# ------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("in")
    write_wav(d / "a.wav", scene(2.5, 1))
    write_wav(d / "sub" / "b.wav", scene(1.0, 2))
    write_wav(d / "c.wav", scene(0.6, 3))
    (d / "notes.txt").write_text("not audio")
    return d


def test_clip_and_frame_level_rows(ckpt, folder, tmp_path, capsys):
    path, cfg, model = ckpt
    code, _ = run([path, folder, "--out", tmp_path / "clip"], capsys)
    assert code == 0
    emb = np.load(tmp_path / "clip" / "embeddings.npy")
    assert emb.shape == (3, 32) and emb.dtype == np.float32
    # 1 s windows without overlap; the 0.5 s tail of a.wav is left out; c.wav is padded.
    assert read_index(tmp_path / "clip") == [("a.wav", 0.0, 2.0), ("c.wav", 0.0, 0.6),
                                             ("sub/b.wav", 0.0, 1.0)]
    code, _ = run([path, folder, "--out", tmp_path / "frames", "--frame-level"], capsys)
    assert code == 0
    assert read_index(tmp_path / "frames") == [
        ("a.wav", 0.0, 1.0), ("a.wav", 0.5, 1.5), ("a.wav", 1.0, 2.0), ("a.wav", 1.5, 2.5),
        ("c.wav", 0.0, 0.6), ("sub/b.wav", 0.0, 1.0)]
    frames = np.load(tmp_path / "frames" / "embeddings.npy")
    assert frames.shape == (6, 32)
    meta = json.loads((tmp_path / "frames" / "meta.json").read_text())
    assert meta["level"] == "frame" and meta["hop_s"] == 0.5 and meta["rows"] == 6

    # Each row is the encoder output of its window, computed here from the public pieces.
    x, _ = sf.read(str(folder / "a.wav"), dtype="float32")
    for row, start in enumerate([0, 12000, 24000, 36000]):
        np.testing.assert_allclose(frames[row], direct(model, cfg, x.T[:, start:start + SR]),
                                   rtol=1e-5, atol=1e-6)
    c, _ = sf.read(str(folder / "c.wav"), dtype="float32")
    np.testing.assert_allclose(emb[1], direct(model, cfg, c.T), rtol=1e-5, atol=1e-6)


def test_clip_embedding_is_the_mean_of_non_overlapping_frames(ckpt, folder, tmp_path, capsys):
    path = ckpt[0]
    run([path, folder, "--out", tmp_path / "clip"], capsys)
    run([path, folder, "--out", tmp_path / "f", "--frame-level", "--hop", "1.0"], capsys)
    clip, frames = (np.load(tmp_path / d / "embeddings.npy") for d in ("clip", "f"))
    rows = read_index(tmp_path / "f")
    assert [r[1] for r in rows if r[0] == "a.wav"] == [0.0, 1.0]
    np.testing.assert_allclose(clip[0], frames[:2].mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(clip[1:], frames[2:], rtol=1e-6, atol=1e-7)


def test_identical_files_give_identical_embeddings(ckpt, folder, tmp_path, capsys):
    d = tmp_path / "in"
    shutil.copytree(folder, d)
    shutil.copy(d / "a.wav", d / "a_copy.wav")
    code, _ = run([ckpt[0], d, "--out", tmp_path / "o"], capsys)
    assert code == 0
    names = [r[0] for r in read_index(tmp_path / "o")]
    emb = np.load(tmp_path / "o" / "embeddings.npy")
    i, j = names.index("a.wav"), names.index("a_copy.wav")
    np.testing.assert_array_equal(emb[i], emb[j])
    assert not np.allclose(emb[i], emb[names.index("c.wav")])


def test_bad_files_are_skipped_and_reported(ckpt, folder, tmp_path, capsys):
    d = tmp_path / "in"
    shutil.copytree(folder, d)
    (d / "garbage.wav").write_bytes(b"RIFF not really a wave file" * 20)
    write_wav(d / "stereo.wav", scene(1.0, 4)[:2])
    code, err = run([ckpt[0], d, "--out", tmp_path / "o"], capsys)
    assert code == 0
    assert [r[0] for r in read_index(tmp_path / "o")] == ["a.wav", "c.wav", "sub/b.wav"]
    with open(tmp_path / "o" / "skipped.csv", newline="") as fh:
        skipped = {r["file"]: r["error"] for r in csv.DictReader(fh)}
    assert set(skipped) == {"garbage.wav", "stereo.wav"}
    assert "stereo" in skipped["stereo.wav"]
    assert "skipped garbage.wav" in err and "skipped stereo.wav" in err
    # Nothing usable: exit status 1.
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(d / "garbage.wav", bad)
    code, _ = run([ckpt[0], bad, "--out", tmp_path / "o2"], capsys)
    assert code == 1


def test_usage_errors(ckpt, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        embed.main([str(ckpt[0]), str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert e.value.code == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as e:
        embed.main([str(ckpt[0]), str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert e.value.code == 2
    write_wav(tmp_path / "w" / "a.wav", scene(1.0, 0))
    code, err = run([tmp_path / "missing.pt", tmp_path / "w", "--out", tmp_path / "o"], capsys)
    assert code == 1 and "checkpoint not found" in err


def test_look_direction_is_a_rotation_of_the_scene(ckpt, tmp_path, capsys):
    """Looking at +90° (left) hears the scene rotated by yaw 90° (the left source moves to the
    front) looked at from the front."""
    x = scene(1.0, 5, azimuth=np.pi / 2, elevation=0.0)
    write_wav(tmp_path / "left" / "s.wav", x)
    write_wav(tmp_path / "front" / "s.wav", spatialfoa.rotate(x, np.pi / 2))
    run([ckpt[0], tmp_path / "left", "--out", tmp_path / "l90", "--azimuth", "90"], capsys)
    run([ckpt[0], tmp_path / "left", "--out", tmp_path / "l0"], capsys)
    run([ckpt[0], tmp_path / "front", "--out", tmp_path / "f0"], capsys)
    l90, l0, f0 = (np.load(tmp_path / d / "embeddings.npy")[0] for d in ("l90", "l0", "f0"))
    scale = np.abs(f0).max()
    np.testing.assert_allclose(l90, f0, atol=1e-4 * scale)
    assert np.abs(l0 - f0).max() > 1e-2 * scale


def test_other_sample_rates_are_resampled_or_refused(ckpt, tmp_path, capsys):
    """Band-limited noise (< 10 kHz, periodic, made by an FFT mask) sampled at 48 kHz and its
    every other sample (the same signal at 24 kHz) embed alike; 4 kHz is refused."""
    rng = np.random.default_rng(6)
    n48 = 48000
    spec = np.fft.rfft(rng.standard_normal(n48))
    spec[np.fft.rfftfreq(n48, 1 / 48000) >= 10000] = 0
    s48 = np.fft.irfft(spec, n48)
    s48 *= 0.1 / s48.std()
    other = np.fft.irfft(np.where(spec != 0, np.fft.rfft(rng.standard_normal(n48)), 0), n48)
    d = tmp_path / "in"
    write_wav(d / "hi.wav", spatialfoa.encode(s48, 0.3, 0.0), 48000)
    write_wav(d / "lo.wav", spatialfoa.encode(s48[::2], 0.3, 0.0))
    write_wav(d / "other.wav", spatialfoa.encode(0.1 * other[::2] / other.std(), 0.3, 0.0))
    write_wav(d / "tiny.wav", scene(1.0, 7)[:, ::6], 4000)
    code, err = run([ckpt[0], d, "--out", tmp_path / "o"], capsys)
    assert code == 0
    assert "resampled" in err and "1 at 48000 Hz" in err
    assert "tiny.wav" in err and "not supported" in err
    names = [r[0] for r in read_index(tmp_path / "o")]
    assert names == ["hi.wav", "lo.wav", "other.wav"]
    hi, lo, oth = np.load(tmp_path / "o" / "embeddings.npy")
    assert np.linalg.norm(hi - lo) < 0.1 * np.linalg.norm(oth - lo)
    assert json.loads((tmp_path / "o" / "meta.json").read_text())["resampled"] == {"48000": 1}


def write_equirect_mp4(path, left_rgb, right_rgb, seconds=1.25, fps=16, width=128):
    """Lossless h264 equirect video: azimuths 0..180° (left half, columns < W/2) in
    ``left_rgb``, the rest in ``right_rgb``; 4-channel AAC ambiX noise."""
    height = width // 2
    img = np.empty((height, width, 3), np.uint8)
    img[:, :width // 2] = left_rgb
    img[:, width // 2:] = right_rgb
    x = scene(seconds, 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.broadcast_to(img, (int(seconds * fps),) + img.shape)
    return write_video(path, frames, fps, x, SR, crf=0)


def test_video_embeddings_crop_at_the_look_direction(ckpt, tmp_path, capsys):
    """Left half red, right half blue: looking left (+90°) sees what an all-red video shows at
    the front; looking right (-90°) sees blue."""
    red, blue = (220, 30, 30), (30, 30, 220)
    for name, left, right in (("half", red, blue), ("red", red, red), ("blue", blue, blue)):
        write_equirect_mp4(tmp_path / name / f"{name}.mp4", left, right)
    out = {}
    for name, az in (("half", 90), ("half", -90), ("red", 0), ("blue", 0)):
        code, _ = run([ckpt[0], tmp_path / name, "--out", tmp_path / f"{name}{az}", "--video",
                       "--azimuth", az], capsys)
        assert code == 0
        out[name, az] = np.load(tmp_path / f"{name}{az}" / "video_embeddings.npy")
        assert out[name, az].shape == np.load(tmp_path / f"{name}{az}" / "embeddings.npy").shape
    assert out["half", 90].shape == (1, 32)
    scale = np.abs(out["red", 0]).max()
    np.testing.assert_allclose(out["half", 90], out["red", 0], atol=1e-4 * scale)
    np.testing.assert_allclose(out["half", -90], out["blue", 0], atol=1e-4 * scale)
    assert np.abs(out["red", 0] - out["blue", 0]).max() > 1e-2 * scale
