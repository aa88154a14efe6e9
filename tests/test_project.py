"""Project-level contracts: the README's commands, CI, and spatialfoa's independence from torch."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    commands = _readme_commands()
    assert len(commands) >= 2
    main_job, test_job = commands[0], commands[1]
    assert main_job.endswith("avsa-train")
    assert "pytest" in test_job
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_job in ci, ".ci/run must run the README's test command verbatim"


def test_spatialfoa_never_imports_torch():
    modules = sorted(p.stem for p in (ROOT / "spatialfoa").glob("*.py") if p.stem != "__main__")
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module('spatialfoa.' + m if m != '__init__' else 'spatialfoa')\n"
        "import spatialfoa\n"
        "[getattr(spatialfoa, n) for n in spatialfoa.__all__]\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "print(len(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


def test_every_lazy_export_exists():
    import spatialfoa

    missing = [n for n in spatialfoa.__all__ if not hasattr(spatialfoa, n)]
    assert not missing
