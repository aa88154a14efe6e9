"""Is this file first-order ambiX? The energy test of the paper (Eq. 13) on files and arrays.

A file passes when, after a low-pass at ``cutoff`` Hz, the dipole energy E_xyz = Σ(X² + Y² + Z²)
is within ``tau`` of the omni energy E_w = ΣW² (|E_xyz / E_w − 1| ≤ τ), W, Y, Z, X being the
ambiX channels (ACN, SN3D) picked from the file:

- 4 channels: ambiX (or the SA3D channel map when the MP4 has one; or ``layout``);
- 6 channels: the SA3D channel map if present; else an AAC stream is taken as a YouTube download
  decoded by PyAV, [X, Y, W, -, Z, -] (``"youtube-aac-6ch"``); else W, Y, Z, X, L, R
  (``"ambix-6ch"``);
- any other count fails ("2 channels: stereo, not ambisonic").

It also fails, with a reason, when W is silent, when two or more dipoles are digitally silent
(stereo padded to 4 channels), or when a sample is NaN/inf. Failing ratios get a hint from
:func:`spatialfoa.validity.diagnose_ratio` (≈2: FuMa → ``fuma_to_ambix``; ≈3: N3D →
``n3d_to_sn3d``...).
"""
import math
import multiprocessing
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from multiprocessing.connection import wait

import numpy as np

from .audio_io import read_audio
from .sa3d import read_sa3d, sa3d_to_ambix_order
from .validation import FOAError, check_sample_rate

__all__ = ["CheckResult", "check_ambix", "check_array", "check_loaded", "check_files",
           "load_ambix"]

_NAMES = "WYZX"


@dataclass
class CheckResult:
    """Outcome of the ambiX check of one file or array.

    ``passes``; ``ratio`` E_xyz / E_w after the low-pass (None when not computed);
    ``channels`` as stored; ``sample_rate`` (Hz); ``duration`` (s); ``layout`` detected or
    assumed (``"ambix"``, ``"ambix-6ch"``, ``"youtube-aac-6ch"``, ``"sa3d"``, ``"stereo"``...);
    ``sa3d`` (dict or None); ``reason`` why it fails (None when it passes); ``hint`` the
    conversion that would fix it; ``error`` the read error of an unreadable file; ``warning``
    e.g. a truncated file.
    """

    path: str | None
    passes: bool
    ratio: float | None = None
    channels: int | None = None
    sample_rate: int | None = None
    duration: float | None = None
    layout: str | None = None
    sa3d: dict | None = None
    reason: str | None = None
    hint: str | None = None
    error: str | None = None
    warning: str | None = None

    def to_dict(self):
        """A JSON-serialisable dict of all fields."""
        return asdict(self)

    def __str__(self):
        name = self.path if self.path is not None else "<array>"
        head = f"{'PASS' if self.passes else 'FAIL'} {name}"
        if self.error is not None:
            return f"{head}: unreadable: {self.error}"
        facts = [f"{self.channels} ch" if self.channels is not None else None,
                 f"{self.sample_rate} Hz" if self.sample_rate is not None else None,
                 f"{self.duration:.2f} s" if self.duration is not None else None,
                 self.layout,
                 f"ratio {self.ratio:.3f}" if self.ratio is not None else None]
        text = f"{head} ({', '.join(f for f in facts if f)})"
        if self.reason:
            text += f": {self.reason}"
        if self.hint:
            text += f"; hint: {self.hint}"
        if self.warning:
            text += f" [warning: {self.warning}]"
        return text


def check_array(x, sr, *, tau=0.1, cutoff=4000.0, layout="ambix"):
    """Check a (channels, samples) array; ``layout`` names how its channels map to ambiX
    (a 6-channel array with ``"ambix"`` is taken as W, Y, Z, X, L, R).

    >>> from spatialfoa import diffuse_field
    >>> check_array(diffuse_field(48000, rng=0), 48000).passes
    True
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise FOAError(f"x: expected a 2-D array (channels, samples), got shape {x.shape}")
    sr = check_sample_rate(sr)
    info = {"channels": x.shape[0], "sample_rate": sr, "duration": x.shape[1] / sr,
            "codec": None, "warnings": []}
    return check_loaded(x, sr, info, tau=tau, cutoff=cutoff, layout=layout)


def check_ambix(path, *, tau=0.1, cutoff=4000.0, layout=None, max_seconds=None):
    """Read ``path`` (first ``max_seconds`` s, all by default) and check it is ambiX.

    ``layout`` None detects it (see the module doc), or names one of
    :data:`spatialfoa.formats.LAYOUTS`. Never raises for a bad file: an unreadable one gives
    ``passes=False`` with ``error`` set.

    >>> r = check_ambix("scene.mp4")        # doctest: +SKIP
    >>> r.passes, r.ratio, r.hint           # doctest: +SKIP
    (False, 2.03, 'fuma_to_ambix ...')
    """
    path = str(path)
    try:
        x, sr, info = read_audio(path, max_seconds=max_seconds)
    except FOAError as err:
        return CheckResult(path=path, passes=False, reason="unreadable", error=str(err))
    return check_loaded(x, sr, info, sa3d=_sa3d_or_none(path), tau=tau, cutoff=cutoff,
                        layout=layout, path=path)


def check_files(paths, *, tau=0.1, cutoff=4000.0, layout=None, max_seconds=None, jobs=1,
                timeout=None, progress=None):
    """:func:`check_ambix` of every file in ``paths``, each decoded in a worker process.

    ``jobs`` worker processes take one file at a time; a worker that dies (a decoder crash on a
    damaged file) or takes longer than ``timeout`` seconds on one file (None: no limit) makes
    that file's result ``passes=False, reason="unreadable"`` with the cause in ``error``, and
    a fresh worker takes the next file: every file gets a result. Any other exception of one
    file is that file's failure too. ``progress`` is called with no argument after each file.
    Returns the CheckResults in the order of ``paths``. Workers are forked when this process
    has a single thread (fast), else spawned.
    """
    paths = [str(p) for p in paths]
    options = dict(tau=tau, cutoff=cutoff, layout=layout, max_seconds=max_seconds)
    results = [None] * len(paths)
    if not paths:
        return results
    method = "fork" if (threading.active_count() == 1 and
                        "fork" in multiprocessing.get_all_start_methods()) else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "fork":            # forked workers inherit these imports (scipy.signal: ~1 s)
        import av  # noqa: F401
        import soundfile  # noqa: F401

        from . import validity  # noqa: F401
    todo = deque(range(len(paths)))
    workers = []                                   # [process, connection, file index, start]

    def start():
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_check_worker, args=(child, options), daemon=True)
        proc.start()
        child.close()
        workers.append([proc, parent, None, 0.0])

    def finish(worker, result):
        results[worker[2]] = result
        worker[2] = None
        if progress is not None:
            progress()

    def stop(worker, why):
        worker[0].kill()
        worker[0].join()
        worker[1].close()
        workers.remove(worker)
        finish(worker, CheckResult(path=paths[worker[2]], passes=False, reason="unreadable",
                                   error=why))

    try:
        while todo or any(w[2] is not None for w in workers):
            while todo and len(workers) < max(1, int(jobs)):
                start()
            for w in workers:
                if w[2] is None and todo:
                    w[2] = todo.popleft()
                    w[3] = time.monotonic()
                    w[1].send(paths[w[2]])
            busy = [w for w in workers if w[2] is not None]
            ready = wait([w[1] for w in busy] + [w[0].sentinel for w in busy], timeout=0.5)
            for w in busy:
                if w[1] in ready:
                    try:
                        finish(w, w[1].recv())
                        continue
                    except (EOFError, OSError):
                        pass
                if w[1] in ready or w[0].sentinel in ready:
                    w[0].join()
                    stop(w, f"the decoder crashed (worker process exit code {w[0].exitcode})")
                elif timeout is not None and time.monotonic() - w[3] > timeout:
                    stop(w, f"timed out after {timeout:g} s")
    finally:
        for w in workers:
            try:
                w[1].send(None)
            except OSError:
                pass
            w[0].join(timeout=5)
            if w[0].is_alive():
                w[0].kill()
    return results


def _check_worker(conn, options):
    """Worker loop of :func:`check_files`: receive paths, send back CheckResults."""
    while True:
        try:
            path = conn.recv()
        except EOFError:
            return
        if path is None:
            return
        conn.send(check_guarded(path, **options))


def check_guarded(path, *, tau=0.1, cutoff=4000.0, layout=None, max_seconds=None):
    """:func:`check_ambix`, turning any exception into that file's failed result."""
    try:
        return check_ambix(path, tau=tau, cutoff=cutoff, layout=layout, max_seconds=max_seconds)
    except Exception as err:
        return CheckResult(path=str(path), passes=False, reason="unreadable",
                           error=f"{type(err).__name__}: {err}")


def check_loaded(x, sr, info, *, sa3d=None, tau=0.1, cutoff=4000.0, layout=None,
                 path=None):
    """Check audio already read: ``x, sr, info`` as returned by
    :func:`spatialfoa.audio_io.read_audio` (channels as stored), ``sa3d`` from
    :func:`spatialfoa.audio_io.read_sa3d`. Used by :func:`check_ambix` and the CLI."""
    sr = check_sample_rate(sr)
    tau = _positive(tau, "tau must be a positive number")
    if cutoff is not None:
        cutoff = _positive(cutoff, "cutoff must be a positive frequency in Hz or None")
    warning = "; ".join(info.get("warnings") or []) or None
    result = CheckResult(path=path, passes=False, channels=int(x.shape[0]), sample_rate=sr,
                         duration=info.get("duration"), sa3d=sa3d, warning=warning)
    bad = ~np.isfinite(x)
    if bad.any():
        c, t = np.argwhere(bad)[0]
        result.reason = (f"{int(bad.sum())} non-finite samples (NaN or inf), the first in "
                         f"channel {c} at {t / sr:.3f} s")
        return result
    x4, result.layout, result.reason = _pick_four(x, info.get("codec"), sa3d, layout)
    if x4 is None:
        return result
    result.reason = _silent_channels(x4)
    if result.reason is not None:
        return result
    from .validity import diagnose_ratio, energy_ratio

    if cutoff is not None and cutoff >= sr / 2:
        cutoff = None          # already band-limited below the cutoff: nothing to filter
    try:
        ratio = energy_ratio(x4, sr, cutoff=cutoff)
    except FOAError as err:    # W silent below the cutoff, shorter than the filter
        result.reason = str(err)
        return result
    result.ratio = ratio
    result.passes = abs(ratio - 1.0) <= tau
    if not result.passes:
        guess, result.hint = diagnose_ratio(ratio)
        result.reason = f"energy ratio {ratio:.2f} is outside 1 ± {tau:g} (closest: {guess})"
    return result


def load_ambix(path, *, layout=None, max_seconds=None, offset=0.0):
    """Read a file as ambiX (4, samples) float32, picking and ordering its channels as
    :func:`check_ambix` does (SA3D map, YouTube 6-channel AAC, ``layout``...).

    Returns ``(x, sr, info)``, ``info`` from :func:`~spatialfoa.audio_io.read_audio` plus
    ``layout`` (the one used) and ``sa3d``. Raises FOAError when the file is not 4/6 channels.
    """
    x, sr, info = read_audio(path, max_seconds=max_seconds, offset=offset)
    sa3d = _sa3d_or_none(path)
    x4, label, reason = _pick_four(x, info.get("codec"), sa3d, layout)
    if x4 is None:
        raise FOAError(f"{path}: {reason}")
    info.update(layout=label, sa3d=sa3d)
    return np.ascontiguousarray(x4, dtype=np.float32), sr, info


def _positive(value, message):
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise FOAError(f"{message}, got {value!r}")
    return number


def _sa3d_or_none(path):
    try:
        return read_sa3d(path)
    except Exception:  # a malformed or damaged box: treat the file as unlabelled
        return None


def _pick_four(x, codec, sa3d, layout):
    """(ambiX (4, n) or None, layout label, reason when None)."""
    from .formats import remap_channels, to_ambix

    n = x.shape[0]
    if n == 1:
        return None, "mono", "1 channel: mono, not ambisonic"
    if n == 2:
        return None, "stereo", "2 channels: stereo, not ambisonic"
    if n not in (4, 6):
        return None, f"{n}ch", (f"{n} channels: not first-order ambisonic (expects 4, or 6 "
                                "with a head-locked stereo pair)")
    if layout is None and sa3d is not None and sa3d["num_channels"] == n:
        order = sa3d_to_ambix_order(sa3d)
        if order is None:
            return None, "sa3d", (f"the SA3D channel map {sa3d['channel_map']} lacks one of "
                                  "the first-order components 0-3")
        if order != [0, 1, 2, 3]:
            return remap_channels(x, order), "sa3d", None
        layout = "ambix"
    if layout is None:
        layout = "youtube-aac-6ch" if n == 6 and codec == "aac" else "ambix"
    if layout == "ambix" and n == 6:
        layout = "ambix-6ch"
    try:
        return to_ambix(x, layout=layout), layout, None
    except FOAError as err:
        return None, layout, str(err)


def _silent_channels(x4):
    """Reason why finite (4, n) ambiX cannot be tested (silent channels), or None."""
    if not np.any(x4[0]):
        return "W channel is silent"
    silent = [_NAMES[c] for c in (1, 2, 3) if not np.any(x4[c])]
    if len(silent) >= 2:
        return (f"{', '.join(silent)} channels are silent: at most two channels carry signal "
                "(stereo or mono padded to 4 channels), not ambisonic")
    return None
