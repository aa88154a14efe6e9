"""Damaged media: seeded byte mutations and truncations of small WAV, FLAC, MP4 and M4A files
(4- and 6-channel AAC) written here. Every read is a result or a FOAError naming the file,
never another exception, a crash or a hang (the reads run in a subprocess, which reports the
file it is on before each decode), and ``spatialfoa check`` over the folder reports every file.
A stream whose frames change channel count mid-way (ADTS 4-channel frames, then 6-channel ones)
stops at the change with a warning instead of converting the frame."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from conftest import _write_mp4, band_noise
from spatialfoa.audio_io import read_audio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SR = 24000
N_VARIANTS = 10          # per source file


def _mutants(folder, rng):
    """Sources and their seeded damaged variants in ``folder``; returns the list of files."""
    x4 = band_noise(4, SR // 4, SR, rng)
    x6 = band_noise(6, SR // 4, SR, rng)
    sources = [folder / "src4.wav", folder / "src4.flac"]
    sf.write(str(sources[0]), x4.T, SR, subtype="PCM_16")
    sf.write(str(sources[1]), x4.T, SR, subtype="PCM_16")
    sources.append(_write_mp4(folder / "src4.mp4", x4, SR, video=True))
    sources.append(_write_mp4(folder / "src4.m4a", x4, SR, video=False))
    sources.append(_write_mp4(folder / "src6.m4a", x6, SR, video=False))
    files = list(sources)
    for src in sources:
        data = src.read_bytes()
        for k in range(N_VARIANTS):
            b = bytearray(data)
            if k % 3 == 0:                           # scattered byte changes
                for i in rng.integers(0, len(b), rng.integers(1, 20)):
                    b[i] = rng.integers(0, 256)
            elif k % 3 == 1:                         # cut short
                b = b[:rng.integers(1, len(b))]
            else:                                    # a run of random bytes
                i, n = rng.integers(0, len(b)), rng.integers(1, 64)
                b[i:i + n] = rng.integers(0, 256, len(b[i:i + n]), dtype=np.uint8).tobytes()
            path = folder / f"{src.stem}_{k:02d}{src.suffix}"
            path.write_bytes(bytes(b))
            files.append(path)
    return files


READER = """
    import sys
    from pathlib import Path
    from spatialfoa.audio_io import read_audio
    from spatialfoa.validation import FOAError
    for path in sys.argv[1:]:
        print("FILE", path, flush=True)
        try:
            x, sr, info = read_audio(path)
            ok = x.ndim == 2 and x.shape[1] > 0 and x.dtype.name == "float32"
            print("RESULT" if ok else "BAD", x.shape, flush=True)
        except FOAError as err:
            print("FOAERROR" if path in str(err) else "BAD", flush=True)
        except BaseException as err:
            print("OTHER", type(err).__name__, err, flush=True)
"""


def test_fuzzed_files_give_a_result_or_foaerror_and_check_reports_every_file(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    files = _mutants(folder, np.random.default_rng(20261202))
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(READER), *map(str, files)],
                          capture_output=True, text=True, timeout=180, env=env)
    lines = proc.stdout.splitlines()
    current = [ln for ln in lines if ln.startswith("FILE")]
    assert proc.returncode == 0, f"reader died (rc {proc.returncode}) on {current[-1:]}"
    outcomes = [ln.split()[0] for ln in lines if not ln.startswith("FILE")]
    assert len(outcomes) == len(files)
    assert set(outcomes) <= {"RESULT", "FOAERROR"}, [ln for ln in lines if "OTHER" in ln
                                                      or "BAD" in ln]
    assert outcomes.count("RESULT") >= 5 and outcomes.count("FOAERROR") >= 5

    proc = subprocess.run([sys.executable, "-m", "spatialfoa.cli", "check", str(folder),
                           "--jobs", "2", "--json", "-", "-q"], capture_output=True, text=True,
                          timeout=180, env=env)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert sorted(r["path"] for r in report) == sorted(map(str, files))
    unreadable = {r["path"] for r in report if r["reason"] == "unreadable"}
    assert unreadable == {str(f) for f, o in zip(files, outcomes) if o == "FOAERROR"}


def test_frames_changing_channel_count_stop_with_a_warning(tmp_path):
    rng = np.random.default_rng(3)
    # raw AAC (ADTS, from the .aac suffix): every frame carries its own header
    four = _write_mp4(tmp_path / "four.aac", band_noise(4, SR // 2, SR, rng), SR, video=False)
    six = _write_mp4(tmp_path / "six.aac", band_noise(6, SR // 2, SR, rng), SR, video=False)
    mixed = tmp_path / "mixed.aac"
    mixed.write_bytes(four.read_bytes() + six.read_bytes())
    ref, _, _ = read_audio(four)
    x, sr, info = read_audio(mixed)
    assert x.shape[0] == 4 and sr == SR
    assert any("6 channels, the stream 4" in w for w in info["warnings"])
    np.testing.assert_array_equal(x, ref[:, :x.shape[1]])
    assert x.shape[1] >= ref.shape[1] - 2048        # up to where the 6-channel frames begin


@pytest.mark.parametrize("kind", ["no decoder", "damaged"])
def test_unexpected_decoder_errors_become_foaerror(tmp_path, kind):
    # An MP4 cut inside its sample tables, or with its audio track header damaged, must never
    # surface as a raw AttributeError / ValueError.
    rng = np.random.default_rng(11)
    src = _write_mp4(tmp_path / "a.m4a", band_noise(4, SR // 4, SR, rng), SR, video=False)
    data = bytearray(src.read_bytes())
    at = data.find(b"mp4a" if kind == "no decoder" else b"esds")
    data[at:at + 4] = b"zzzz"
    bad = tmp_path / "bad.m4a"
    bad.write_bytes(bytes(data))
    try:
        x, _, _ = read_audio(bad)
        assert x.shape[0] == 4
    except Exception as err:
        assert type(err).__name__ == "FOAError" and str(bad) in str(err)
