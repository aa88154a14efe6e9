"""Read-only installs: with the package folder and the user's cache folder not writable, numba
finds no cache locator; spatialfoa must fall back (a private temporary cache folder, or no
cache) with one warning, and compute the same results. The child runs as root without the
capabilities that bypass file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER),
so it is a user who cannot write the read-only folders (a user such as ``nobody`` could not run
this interpreter, which lives under root's 0700 home)."""
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import spatialfoa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETPRIV = shutil.which("setpriv")

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None,
                                reason="needs root and setpriv to drop write permissions")

CHILD = """
    import json, sys, tempfile, warnings
    tempfile.tempdir = sys.argv[1]
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        import numpy as np, spatialfoa
        from spatialfoa import _feature_kernels, _mixing     # every kernel module decorated
        x = np.random.default_rng(0).standard_normal((4, 4800)).astype(np.float32)
        y = spatialfoa.rotate(x, 0.3, 0.2, -0.1)
    import os
    print(json.dumps({"warnings": [str(w.message) for w in caught
                                   if "spatialfoa" in str(w.message)],
                      "y": y.tolist(),
                      "package_writable": os.access(spatialfoa.__path__[0], os.W_OK),
                      "hits": sum(_mixing._mix_serial.stats.cache_hits.values())}))
"""


def _read_only_tree(tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(os.path.join(ROOT, "spatialfoa"), pkg / "spatialfoa",
                    ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    for path in [pkg, home, *pkg.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return pkg, home


def _child(pkg, home, tempdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONPATH=str(pkg),
               PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [SETPRIV, "--bounding-set=-dac_override,-dac_read_search,-fowner", sys.executable,
         "-c", textwrap.dedent(CHILD), str(tempdir)],
        capture_output=True, text=True, timeout=240, env=env, cwd=str(home))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_read_only_package_and_cache_fall_back_with_one_warning(tmp_path):
    pkg, home = _read_only_tree(tmp_path)
    x = np.random.default_rng(0).standard_normal((4, 4800)).astype(np.float32)
    ref_y = spatialfoa.rotate(x, 0.3, 0.2, -0.1)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    try:
        for run, tempdir in enumerate([scratch, scratch, home]):
            out = _child(pkg, home, tempdir)
            assert not out["package_writable"]
            assert len(out["warnings"]) == 1, out["warnings"]
            np.testing.assert_array_equal(np.float32(out["y"]), ref_y)
            if tempdir == scratch:                # a private per-user cache folder
                assert str(scratch) in out["warnings"][0]
                assert out["hits"] == (0 if run == 0 else 1)
            else:                                 # nothing writable at all: no cache
                assert "without a cache" in out["warnings"][0]
                assert out["hits"] == 0
        cache = list(scratch.glob("spatialfoa-numba-cache-*"))
        assert len(cache) == 1 and stat.S_IMODE(cache[0].stat().st_mode) == 0o700
        assert any(cache[0].rglob("*.nbi"))
    finally:
        for path in [pkg, home, *pkg.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
