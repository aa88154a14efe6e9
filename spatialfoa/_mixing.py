"""numba kernels: matrix mixing of (4, samples) FOA signals, the hot path of rotate/beamform.

Arrays are (channels, samples). Arithmetic is done in float64 (coefficients are float64 and each
float32 sample is widened before the multiply-adds); the result is rounded once to the input
dtype, so float32 input gives float32 output and float64 gives float64.

:func:`mix` validates its input with :func:`spatialfoa.validation.as_audio`, but for a float
(4, n) array it lets the kernel do the finiteness scan on the fly instead of a separate pass over
the data (a NaN or inf in any input channel makes every output non-finite, since 0 * NaN = NaN);
only when the kernel reports a non-finite output is ``as_audio`` run to raise its message.
"""
import numpy as np
from numba import prange

from . import _jit
from .validation import as_audio

CHUNK = 16384  # samples per parallel work item (4 float32 rows = 256 KiB, stays in L2)
PARALLEL_MIN_SAMPLES = 1 << 17  # below this, threads cost more than they save: run serially


@_jit.kernel(inline="always")
def _mix_chunk(m, x, out, start, stop):
    """out[:, start:stop] = m @ x[:, start:stop]; True if any output is NaN or inf."""
    # contiguous 1-D row views let LLVM vectorise the inner loop (2-D indexing does not)
    x0 = x[0, start:stop]
    x1 = x[1, start:stop]
    x2 = x[2, start:stop]
    x3 = x[3, start:stop]
    flag = False
    if m.shape[0] == 4:
        # rotations: all four outputs in one pass (each input sample is widened once)
        o0, o1, o2, o3 = out[0, start:stop], out[1, start:stop], out[2, start:stop], \
            out[3, start:stop]
        a00, a01, a02, a03 = m[0, 0], m[0, 1], m[0, 2], m[0, 3]
        a10, a11, a12, a13 = m[1, 0], m[1, 1], m[1, 2], m[1, 3]
        a20, a21, a22, a23 = m[2, 0], m[2, 1], m[2, 2], m[2, 3]
        a30, a31, a32, a33 = m[3, 0], m[3, 1], m[3, 2], m[3, 3]
        for i in range(stop - start):
            w, y, z, v = np.float64(x0[i]), np.float64(x1[i]), np.float64(x2[i]), \
                np.float64(x3[i])
            r0 = a00 * w + a01 * y + a02 * z + a03 * v
            r1 = a10 * w + a11 * y + a12 * z + a13 * v
            r2 = a20 * w + a21 * y + a22 * z + a23 * v
            r3 = a30 * w + a31 * y + a32 * z + a33 * v
            o0[i] = r0
            o1[i] = r1
            o2[i] = r2
            o3[i] = r3
            s = r0 + r1 + r2 + r3
            flag |= (s - s) != 0.0          # NaN or inf in any output
        return flag
    for j in range(m.shape[0]):
        o = out[j, start:stop]
        m0 = m[j, 0]
        m1 = m[j, 1]
        m2 = m[j, 2]
        m3 = m[j, 3]
        for i in range(stop - start):
            r = m0 * x0[i] + m1 * x1[i] + m2 * x2[i] + m3 * x3[i]
            o[i] = r
            flag |= (r - r) != 0.0     # NaN or inf
    return flag


# Two distinct Python functions (not one compiled twice): numba's on-disk cache is keyed by the
# function, so one function compiled with and without parallel=True would serve whichever
# variant was cached first for both.
@_jit.kernel(parallel=True)
def _mix_parallel(m, x, out, chunk, bad):
    n = x.shape[1]
    for c in prange(bad.shape[0]):
        bad[c] = _mix_chunk(m, x, out, c * chunk, min(c * chunk + chunk, n))


@_jit.kernel()
def _mix_serial(m, x, out, chunk, bad):
    n = x.shape[1]
    for c in range(bad.shape[0]):
        bad[c] = _mix_chunk(m, x, out, c * chunk, min(c * chunk + chunk, n))


@_jit.kernel(inline="always")
def _crossfade_block(prev, cur, x, out, block_size, b):
    n = x.shape[1]
    inv = 1.0 / block_size
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


@_jit.kernel(parallel=True)
def _crossfade_parallel(prev, cur, x, out, block_size):
    for b in prange(prev.shape[0]):
        _crossfade_block(prev, cur, x, out, block_size, b)


@_jit.kernel()
def _crossfade_serial(prev, cur, x, out, block_size):
    for b in range(prev.shape[0]):
        _crossfade_block(prev, cur, x, out, block_size, b)


def mix(m, x, name="x"):
    """Return ``m @ x`` for a (k, 4) matrix and a (4, n) FOA signal ``x``, validated.

    Output (k, n) in the dtype of ``x`` (float32 or float64; other dtypes become float64),
    accumulated in float64; parallel over chunks of samples for
    long signals (>= PARALLEL_MIN_SAMPLES, one thread at a time: see :mod:`spatialfoa._jit`). Raises FOAError for a bad ``x``.
    """
    arr = np.asarray(x)
    if not (arr.ndim == 2 and arr.shape[0] == 4 and arr.shape[1] >= 1
            and arr.dtype in (np.float32, np.float64)):
        arr = as_audio(x, channels=4, name=name)     # raises, or converts the dtype
    arr = np.ascontiguousarray(arr)
    m = np.ascontiguousarray(m, dtype=np.float64)
    out = np.empty((m.shape[0], arr.shape[1]), dtype=arr.dtype)
    bad = np.zeros((arr.shape[1] + CHUNK - 1) // CHUNK, dtype=np.bool_)
    _jit.run(_mix_parallel, _mix_serial, arr.shape[1] >= PARALLEL_MIN_SAMPLES,
             m, arr, out, CHUNK, bad)
    if bad.any():
        as_audio(arr, channels=4, name=name)         # non-finite input: raise its message
    return out                                        # (finite input that overflowed: inf)


def crossfade(prev, cur, x, block_size):
    """Block-wise time-varying mix with a linear cross-fade of matrices (as SAF's rotator).

    ``prev`` and ``cur`` are (n_blocks, 4, 4); sample t (0-based) of block b is mixed with
    ``(1 - g) * prev[b] + g * cur[b]``, g = (t + 1) / block_size, so a full block ends exactly on
    ``cur[b]``. ``x`` is an already validated (4, n) float signal, n_blocks = ceil(n /
    block_size); output (4, n) in its dtype, accumulated in float64, parallel over blocks for
    long signals (>= PARALLEL_MIN_SAMPLES).
    """
    prev = np.ascontiguousarray(prev, dtype=np.float64)
    cur = np.ascontiguousarray(cur, dtype=np.float64)
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _jit.run(_crossfade_parallel, _crossfade_serial, x.shape[1] >= PARALLEL_MIN_SAMPLES,
             prev, cur, x, out, int(block_size))
    return out
