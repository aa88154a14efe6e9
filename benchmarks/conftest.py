"""Shared benchmark fixtures, and a summary that prints each benchmark's mean time as a ratio to
its group's baseline (the benchmark that sets ``benchmark.extra_info["baseline"] = True``)."""
import numpy as np
import pytest

N_SAMPLES = 10 ** 7


@pytest.fixture(scope="session")
def foa_float32():
    """(4, 10^7) float32 ambiX-shaped white noise (about 7 minutes at 24 kHz, 160 MB)."""
    return np.random.default_rng(0).standard_normal((4, N_SAMPLES), dtype=np.float32)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    benches = [b for b in getattr(session, "benchmarks", []) if b.stats]
    if not benches:
        return
    terminalreporter.section("mean time relative to the group baseline")
    for group in sorted({b.group or "" for b in benches}):
        members = [b for b in benches if (b.group or "") == group]
        base = next((b for b in members if b.extra_info.get("baseline")), None)
        terminalreporter.write_line(f"{group}:")
        for b in sorted(members, key=lambda b: b["mean"]):
            ratio = f"{b['mean'] / base['mean']:6.2f}x {base.name}" if base else ""
            terminalreporter.write_line(f"  {b.name:<40} mean {b['mean'] * 1e3:8.2f} ms "
                                        f"(min {b['min'] * 1e3:8.2f} ms)  {ratio}")
