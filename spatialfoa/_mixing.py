"""numba kernels: matrix mixing of (4, samples) FOA signals, the hot path of rotate/beamform.

Arrays are (channels, samples). Arithmetic is done in float64 (coefficients are float64 and each
float32 sample is widened before the multiply-adds); the result is rounded once to the input
dtype, so float32 input gives float32 output and float64 gives float64.

:func:`mix` validates its input with :func:`spatialfoa.validation.as_audio`, but for a float
(4, n) array it lets the kernel do the finiteness scan on the fly instead of a separate pass over
the data (a NaN or inf in any input channel makes every output non-finite, since 0 * NaN = NaN);
only when the kernel reports a non-finite output is ``as_audio`` run to raise its message.
"""
import os

import numba
import numpy as np
from numba import njit, prange

from .validation import as_audio

# GNU OpenMP, numba's default layer here, makes a process that has run a parallel kernel unable
# to run one in a fork()ed child (DataLoader workers, multiprocessing pools). The workqueue layer
# is fork-safe; a user's NUMBA_THREADING_LAYER still wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

CHUNK = 16384  # samples per parallel work item (4 float32 rows = 256 KiB, stays in L2)
PARALLEL_MIN_SAMPLES = 1 << 17  # below this, threads cost more than they save: run serially


def _mix_loops(m, x, out, chunk, bad):
    n = x.shape[1]
    for c in prange(bad.shape[0]):
        start = c * chunk
        stop = min(start + chunk, n)
        # contiguous 1-D row views let LLVM vectorise the inner loop (2-D indexing does not)
        x0 = x[0, start:stop]
        x1 = x[1, start:stop]
        x2 = x[2, start:stop]
        x3 = x[3, start:stop]
        flag = False
        for j in range(m.shape[0]):
            o = out[j, start:stop]
            m0 = m[j, 0]
            m1 = m[j, 1]
            m2 = m[j, 2]
            m3 = m[j, 3]
            for i in range(stop - start):
                v = m0 * x0[i] + m1 * x1[i] + m2 * x2[i] + m3 * x3[i]
                o[i] = v
                flag |= (v - v) != 0.0     # NaN or inf
        bad[c] = flag


_mix_parallel = njit(cache=True, parallel=True)(_mix_loops)
_mix_serial = njit(cache=True)(_mix_loops)     # prange runs as range without parallel=True


@njit(cache=True, fastmath=False, parallel=True)
def _crossfade_kernel(prev, cur, x, out, block_size):
    n = x.shape[1]
    inv = 1.0 / block_size
    for b in prange(prev.shape[0]):
        start = b * block_size
        stop = min(start + block_size, n)
        x0 = x[0, start:stop]
        x1 = x[1, start:stop]
        x2 = x[2, start:stop]
        x3 = x[3, start:stop]
        for j in range(4):
            o = out[j, start:stop]
            a0 = prev[b, j, 0]
            a1 = prev[b, j, 1]
            a2 = prev[b, j, 2]
            a3 = prev[b, j, 3]
            d0 = cur[b, j, 0] - a0
            d1 = cur[b, j, 1] - a1
            d2 = cur[b, j, 2] - a2
            d3 = cur[b, j, 3] - a3
            for i in range(stop - start):
                g = (i + 1) * inv
                o[i] = (a0 * x0[i] + a1 * x1[i] + a2 * x2[i] + a3 * x3[i]) + g * (
                    d0 * x0[i] + d1 * x1[i] + d2 * x2[i] + d3 * x3[i])


def mix(m, x, name="x"):
    """Return ``m @ x`` for a (k, 4) matrix and a (4, n) FOA signal ``x``, validated.

    Output (k, n) in the dtype of ``x`` (float32 or float64; other dtypes become float64),
    accumulated in float64; parallel over chunks of samples for
    long signals (>= PARALLEL_MIN_SAMPLES). Raises FOAError for a bad ``x``.
    """
    arr = np.asarray(x)
    if not (arr.ndim == 2 and arr.shape[0] == 4 and arr.shape[1] >= 1
            and arr.dtype in (np.float32, np.float64)):
        arr = as_audio(x, channels=4, name=name)     # raises, or converts the dtype
    arr = np.ascontiguousarray(arr)
    m = np.ascontiguousarray(m, dtype=np.float64)
    out = np.empty((m.shape[0], arr.shape[1]), dtype=arr.dtype)
    bad = np.zeros((arr.shape[1] + CHUNK - 1) // CHUNK, dtype=np.bool_)
    kernel = _mix_parallel if arr.shape[1] >= PARALLEL_MIN_SAMPLES else _mix_serial
    kernel(m, arr, out, CHUNK, bad)
    if bad.any():
        as_audio(arr, channels=4, name=name)         # non-finite input: raise its message
    return out                                        # (finite input that overflowed: inf)


def crossfade(prev, cur, x, block_size):
    """Block-wise time-varying mix with a linear cross-fade of matrices (as SAF's rotator).

    ``prev`` and ``cur`` are (n_blocks, 4, 4); sample t (0-based) of block b is mixed with
    ``(1 - g) * prev[b] + g * cur[b]``, g = (t + 1) / block_size, so a full block ends exactly on
    ``cur[b]``. ``x`` is an already validated (4, n) float signal, n_blocks = ceil(n /
    block_size); output (4, n) in its dtype, accumulated in float64, parallel over blocks.
    """
    prev = np.ascontiguousarray(prev, dtype=np.float64)
    cur = np.ascontiguousarray(cur, dtype=np.float64)
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _crossfade_kernel(prev, cur, x, out, int(block_size))
    return out
