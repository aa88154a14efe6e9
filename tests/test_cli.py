"""The spatialfoa command line: exit status, reports, and outputs checked against the library."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spatialfoa.audio_io import read_audio, write_audio
from spatialfoa.beamforming import to_stereo
from spatialfoa.cli import main
from spatialfoa.encoding import diffuse_field, encode
from spatialfoa.rotation import rotate
from spatialfoa.sa3d import inject_sa3d

ROOT = Path(__file__).resolve().parents[1]
SR = 24000


@pytest.fixture(scope="module")
def field():
    return (0.1 * diffuse_field(SR // 2, rng=3)).astype(np.float32)


@pytest.fixture
def mixed_folder(tmp_path, field):
    """good.wav (ambiX), sub/fuma.wav (FuMa: fails), sub/junk.wav (corrupt), notes.txt."""
    folder = tmp_path / "set"
    (folder / "sub").mkdir(parents=True)
    write_audio(folder / "good.wav", field, SR)
    w, y, z, x = field
    write_audio(folder / "sub" / "fuma.wav", np.stack([w / np.sqrt(2), x, y, z]), SR)
    (folder / "sub" / "junk.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    (folder / "notes.txt").write_text("not audio")
    return folder


def _plane_wave(azimuth, elevation, n=SR // 4):
    s = np.random.default_rng(1).standard_normal(n) * 0.1
    return encode(s, azimuth, elevation).astype(np.float32), s


def test_check_folder_with_good_bad_and_corrupt_files(tmp_path, mixed_folder, capsys):
    rc = main(["check", str(mixed_folder), "--json", str(tmp_path / "r.json"),
               "--csv", str(tmp_path / "r.csv")])
    assert rc == 1
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0].split()[:2] == ["file", "ch"]
    row = {Path(line.split()[0]).name: line for line in lines[1:-1]}
    assert set(row) == {"good.wav", "fuma.wav", "junk.wav"}       # notes.txt is not walked
    assert " PASS" in row["good.wav"] and " FAIL" in row["fuma.wav"]
    assert "fuma_to_ambix" in row["fuma.wav"] and "cannot read" in row["junk.wav"]
    assert lines[-1] == "3 files: 1 passed, 2 failed"
    assert "checking" in out.err                                   # the tqdm bar, on stderr

    report = json.loads((tmp_path / "r.json").read_text())
    passes = {Path(r["path"]).name: r["passes"] for r in report}
    assert passes == {"good.wav": True, "fuma.wav": False, "junk.wav": False}
    by_name = {Path(r["path"]).name: r for r in report}
    assert by_name["fuma.wav"]["ratio"] == pytest.approx(2.0, abs=0.1)
    assert by_name["junk.wav"]["error"] and by_name["junk.wav"]["ratio"] is None

    with open(tmp_path / "r.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {Path(r["path"]).name: r["passes"] for r in rows} == {
        "good.wav": "True", "fuma.wav": "False", "junk.wav": "False"}
    assert float(next(r for r in rows if r["path"].endswith("good.wav"))["ratio"]) == \
        pytest.approx(by_name["good.wav"]["ratio"])


def test_check_all_good_returns_0_and_layout_option(tmp_path, field, capsys):
    write_audio(tmp_path / "a.wav", field, SR)
    write_audio(tmp_path / "b.flac", field, SR)
    assert main(["check", str(tmp_path / "a.wav"), str(tmp_path / "b.flac"), "-q"]) == 0
    assert capsys.readouterr().out == ""                          # --quiet prints nothing
    w, y, z, x = field
    write_audio(tmp_path / "f.wav", np.stack([w / np.sqrt(2), x, y, z]), SR)
    assert main(["check", str(tmp_path / "f.wav"), "-q"]) == 1
    assert main(["check", str(tmp_path / "f.wav"), "--layout", "fuma", "-q"]) == 0
    assert main(["check", str(tmp_path / "f.wav"), "--tau", "1.5", "-q"]) == 0


def test_check_json_to_stdout_keeps_stdout_pure_json(mixed_folder, capsys):
    assert main(["check", str(mixed_folder), "--json", "-"]) == 1
    out = capsys.readouterr()
    assert len(json.loads(out.out)) == 3
    assert "3 files: 1 passed, 2 failed" in out.err


@pytest.mark.parametrize("argv", [
    [], ["nonsense"], ["check"], ["check", "/no/such/path.wav"], ["check", "x.wav", "--jobs", "0"],
    ["check", "x.wav", "--tau", "abc"], ["check", "x.wav", "--cutoff", "-1"], ["rotate", "in.wav"], ["plot-pattern", "out.jpg"],
    ["stereo", "in.wav", "out.wav", "--pattern", "shotgun"],
])
def test_usage_errors_return_2(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_audio(tmp_path / "x.wav", np.zeros((4, 10), np.float32), SR)
    assert main(argv) == 2
    assert "usage" in capsys.readouterr().err


def test_empty_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 2
    assert "no audio/video files" in capsys.readouterr().err


def test_help_returns_0_and_says_degrees(capsys):
    assert main(["rotate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "degrees" in text and "--yaw" in text and "example" in text
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(c in text for c in ("check", "info", "rotate", "stereo", "plot-pattern",
                                   "plot-map"))


def test_rotate_writes_spatialfoa_rotate_of_the_input(tmp_path):
    x, s = _plane_wave(np.radians(30), np.radians(10))
    write_audio(tmp_path / "in.wav", x, SR)
    assert main(["rotate", str(tmp_path / "in.wav"), str(tmp_path / "out.wav"),
                 "--yaw", "30", "--pitch", "-10", "--roll", "7"]) == 0
    y, sr, _ = read_audio(tmp_path / "out.wav")
    assert sr == SR
    np.testing.assert_allclose(y, rotate(x, np.radians(30), np.radians(-10), np.radians(7)),
                               atol=1e-6)
    # known answer: yaw 30 then pitch -10 bring the source at (30, 10) degrees to the front
    assert main(["rotate", str(tmp_path / "in.wav"), str(tmp_path / "front.wav"),
                 "--yaw", "30", "--pitch", "-10"]) == 0
    f, _, _ = read_audio(tmp_path / "front.wav")
    np.testing.assert_allclose(f, np.stack([s, 0 * s, 0 * s, s]), atol=1e-5)


def test_stereo_writes_to_stereo_of_the_input(tmp_path):
    x, s = _plane_wave(np.pi / 2, 0.0)                     # a source on the left
    write_audio(tmp_path / "in.wav", x, SR)
    assert main(["stereo", str(tmp_path / "in.wav"), str(tmp_path / "lr.wav")]) == 0
    y, _, _ = read_audio(tmp_path / "lr.wav")
    # two hypercardioids at +-90 degrees: L = 0.25 W + 0.75 Y = s, R = 0.25 W - 0.75 Y = -s/2
    np.testing.assert_allclose(y, np.stack([s, -0.5 * s]), atol=1e-6)
    assert main(["stereo", str(tmp_path / "in.wav"), str(tmp_path / "c.flac"), "--azimuth",
                 "45", "--elevation", "20", "--pattern", "cardioid"]) == 0
    y, _, _ = read_audio(tmp_path / "c.flac")
    want = to_stereo(x, np.radians(45), np.radians(20), pattern="cardioid")
    np.testing.assert_allclose(y, want, atol=2.0 ** -22)


def test_rotate_fails_cleanly_on_stereo_input(tmp_path, capsys):
    write_audio(tmp_path / "st.wav", np.zeros((2, 100), np.float32), SR)
    assert main(["rotate", str(tmp_path / "st.wav"), str(tmp_path / "o.wav"), "--yaw", "5"]) == 1
    assert "2 channels: stereo" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()
    write_audio(tmp_path / "ok.wav", np.ones((4, 100), np.float32), SR)
    assert main(["rotate", str(tmp_path / "ok.wav"), str(tmp_path / "no_dir" / "o.wav")]) == 1
    assert "no_dir" in capsys.readouterr().err


def test_info_shows_sa3d_and_ratio(tmp_path, field, write_foa_mp4, capsys):
    plain = write_foa_mp4(tmp_path / "p.mp4", field, SR, video=False)
    inject_sa3d(plain, tmp_path / "s.mp4")
    assert main(["info", str(tmp_path / "s.mp4")]) == 0
    out = capsys.readouterr().out
    assert "order 1, ACN, SN3D, 4 channels, map 0 1 2 3" in out
    assert "aac" in out and f"{SR} Hz" in out and "PASS" in out
    (tmp_path / "junk.mp4").write_bytes(b"\0" * 100)
    assert main(["info", str(tmp_path / "junk.mp4")]) == 1
    assert "junk.mp4" in capsys.readouterr().err


def _png(path):
    import matplotlib.image as mpimg

    assert path.stat().st_size > 1000
    return mpimg.imread(path)


def test_plot_pattern_writes_a_png_of_the_requested_size(tmp_path):
    assert main(["plot-pattern", str(tmp_path / "p.png"), "--size", "640", "480"]) == 0
    img = _png(tmp_path / "p.png")
    assert img.shape[:2] == (480, 640) and img[..., :3].std() > 0.05
    assert main(["plot-pattern", str(tmp_path / "c.png"), "--patterns", "cardioid"]) == 0
    assert _png(tmp_path / "c.png").shape[:2] == (600, 800)


def test_plot_map_writes_a_png_of_the_requested_size_with_left_on_the_left(tmp_path):
    columns = {}
    for side, azimuth in (("left", np.pi / 2), ("right", -np.pi / 2)):
        x, _ = _plane_wave(azimuth, 0.0, n=SR)
        write_audio(tmp_path / f"{side}.wav", x, SR)
        png = tmp_path / f"{side}.png"
        assert main(["plot-map", str(tmp_path / f"{side}.wav"), str(png),
                     "--size", "720", "360"]) == 0
        img = _png(png)
        assert img.shape[:2] == (360, 720) and img[..., :3].std() > 0.05
        # the 0 dB colour of magma is pale yellow; the colorbar sits right of column 0.65 W
        rgb = img[:, :int(0.65 * 720), :3]
        hot = np.argwhere((rgb[..., 0] > 0.9) & (rgb[..., 1] > 0.85) & (rgb[..., 2] < 0.85))
        assert len(hot) > 0
        columns[side] = hot[:, 1].mean() / 720
    # equirectangular: +90 (left) is drawn left of the centre, -90 (right) right of it
    assert columns["left"] < columns["right"] - 0.2, columns


def test_subprocess_check_in_parallel_gives_the_serial_results(tmp_path, mixed_folder):
    assert main(["check", str(mixed_folder), "-q", "--json", str(tmp_path / "serial.json")]) == 1
    serial = json.loads((tmp_path / "serial.json").read_text())
    out = subprocess.run([sys.executable, "-m", "spatialfoa.cli", "check", str(mixed_folder),
                          "--jobs", "2", "--json", "-"], capture_output=True, text=True,
                         cwd=ROOT, timeout=180)
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert [Path(r["path"]).name for r in report] == ["good.wav", "fuma.wav", "junk.wav"]
    assert [r["passes"] for r in report] == [True, False, False]
    assert report == serial
    assert "3 files: 1 passed, 2 failed" in out.stderr
