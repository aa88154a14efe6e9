"""numba kernels behind :mod:`spatialfoa.features`, :mod:`spatialfoa.validity` and
:mod:`spatialfoa.acoustic_map` (private: callers validate and shape the inputs).

Mel bands are passed in a compressed sparse form, since each Slaney mel filter is non-zero on a
short run of consecutive FFT bins: band ``m`` covers bins ``lo[m] .. lo[m] + ptr[m+1] - ptr[m] - 1``
with weights ``weights[ptr[m]:ptr[m+1]]`` (see ``features._mel_bands``). Spectra are complex
(channels, frames, bins); sums are accumulated in float64, outputs written into float32 arrays
given by the caller. Band kernels write mel *powers* (+ eps) and leave the 10·log10 to numpy,
whose SIMD log is ~25x faster than numba's scalar one. ambiX channel order is W, Y, Z, X (ACN);
intensity outputs are x, y, z. Each kernel has a plain-numpy reference in the tests.

Parallelism: kernels are single-threaded and release the GIL (``nogil``); callers cut long
signals into blocks of frames (or output samples) and :func:`run_blocks` spreads whole blocks
(window, FFT, band kernel) over a thread pool. Unlike ``prange`` inside each kernel, this also
runs the FFT in parallel and has no per-kernel barrier, which made numba's parallel regions
several times *slower* than one thread on a busy machine (measured with 2 cores shared).
"""
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from . import _jit

#: Signals at least this long (samples per channel, ~11 s at 24 kHz) are processed on
#: ``numba.get_num_threads()`` threads; shorter ones (e.g. 1 s training clips) on the caller's.
PARALLEL_MIN_SAMPLES = 1 << 18


def run_blocks(work, starts, n_samples):
    """``[work(s) for s in starts]``, on ``numba.get_num_threads()`` threads when the signal has
    at least PARALLEL_MIN_SAMPLES samples per channel (set ``numba.set_num_threads(1)`` or
    NUMBA_NUM_THREADS=1 to stay on one core)."""
    starts = list(starts)
    threads = min(numba.get_num_threads(), len(starts))
    if n_samples < PARALLEL_MIN_SAMPLES or threads < 2:
        return [work(s) for s in starts]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work, starts))


@_jit.kernel()
def windowed_frames(x, window, hop, pad, t0, out):
    """out[c, i, :] = window · x[c, s : s + n_fft] with s = (t0 + i)·hop − pad; samples outside
    0..n−1 read as zeros (centred frames of a zero-padded signal when pad = n_fft // 2)."""
    n_ch, n = x.shape
    n_fft = window.size
    for i in range(out.shape[1]):
        start = (t0 + i) * hop - pad
        for c in range(n_ch):
            row = x[c]
            frame = out[c, i]
            if start >= 0 and start + n_fft <= n:
                seg = row[start:start + n_fft]
                for j in range(n_fft):
                    frame[j] = window[j] * seg[j]
            else:
                for j in range(n_fft):
                    s = start + j
                    frame[j] = window[j] * row[s] if 0 <= s < n else 0.0


@_jit.kernel()
def mel_powers(spec, weights, ptr, lo, eps, out):
    """out[c, t, m] = Σ_k mel[m, k]·|spec[c, t, k]|² + eps (the caller takes 10·log10).

    Channels are taken four at a time with four independent accumulators (one per channel),
    which keeps the short band sums from being bound by the latency of a single add chain.
    """
    n_ch, n_frames, n_bins = spec.shape
    n_mels = lo.size
    for t in range(n_frames):
        q = np.zeros((4, n_bins))
        for c0 in range(0, n_ch, 4):
            nc = min(4, n_ch - c0)
            for c in range(nc):
                row = spec[c0 + c, t]
                qc = q[c]
                for k in range(n_bins):
                    re, im = np.float64(row[k].real), np.float64(row[k].imag)
                    qc[k] = re * re + im * im
            for m in range(n_mels):
                a0 = a1 = a2 = a3 = 0.0
                k = lo[m]
                for j in range(ptr[m], ptr[m + 1]):
                    g = weights[j]
                    a0 += g * q[0, k]
                    a1 += g * q[1, k]
                    a2 += g * q[2, k]
                    a3 += g * q[3, k]
                    k += 1
                out[c0, t, m] = a0 + eps
                if nc > 1:
                    out[c0 + 1, t, m] = a1 + eps
                if nc > 2:
                    out[c0 + 2, t, m] = a2 + eps
                if nc > 3:
                    out[c0 + 3, t, m] = a3 + eps


@_jit.kernel()
def foa_bands(spec, weights, ptr, lo, eps, out, per_bin):
    """FOA-IV (paper Eq. 7-8) from ambiX spectra (4, frames, bins) into out (7, frames, mels).

    out[0:4] = mel powers of W, Y, Z, X + eps as in :func:`mel_powers` (the caller takes
    10·log10). out[4:7] = intensity x, y, z: with ``per_bin`` False (aggregation "band"),
    Σ_k mel·2Re(W*·[X, Y, Z]) / Σ_k mel·(|W|² + |X|² + |Y|² + |Z|²); with ``per_bin`` True
    (aggregation "bin"), Σ_k mel·I_k / Σ_k mel with the per-bin I_k = 2Re(W*·[X, Y, Z]) /
    (|W|² + |X|² + |Y|² + |Z|²) (0 where that is <= eps). 0 where the band power <= eps.
    """
    n_frames, n_bins = spec.shape[1], spec.shape[2]
    n_mels = lo.size
    for t in range(n_frames):
        q = np.empty((7, n_bins))             # per bin: |W|², |Y|², |Z|², |X|², Re(W*·X, Y, Z)
        w, y, z, x = spec[0, t], spec[1, t], spec[2, t], spec[3, t]
        for k in range(n_bins):
            wr, wi = np.float64(w[k].real), np.float64(w[k].imag)
            yr, yi = np.float64(y[k].real), np.float64(y[k].imag)
            zr, zi = np.float64(z[k].real), np.float64(z[k].imag)
            xr, xi = np.float64(x[k].real), np.float64(x[k].imag)
            q[0, k] = wr * wr + wi * wi
            q[1, k] = yr * yr + yi * yi
            q[2, k] = zr * zr + zi * zi
            q[3, k] = xr * xr + xi * xi
            q[4, k] = wr * xr + wi * xi
            q[5, k] = wr * yr + wi * yi
            q[6, k] = wr * zr + wi * zi
            if per_bin:
                den = q[0, k] + q[1, k] + q[2, k] + q[3, k]
                scale = 1.0 / den if den > eps else 0.0
                q[4, k] *= scale
                q[5, k] *= scale
                q[6, k] *= scale
        for m in range(n_mels):
            pw = py = pz = px = ix = iy = iz = gs = 0.0
            k = lo[m]
            for j in range(ptr[m], ptr[m + 1]):
                g = weights[j]
                pw += g * q[0, k]
                py += g * q[1, k]
                pz += g * q[2, k]
                px += g * q[3, k]
                ix += g * q[4, k]
                iy += g * q[5, k]
                iz += g * q[6, k]
                gs += g
                k += 1
            out[0, t, m] = pw + eps
            out[1, t, m] = py + eps
            out[2, t, m] = pz + eps
            out[3, t, m] = px + eps
            den = pw + py + pz + px
            if den > eps:
                norm = 2.0 / gs if per_bin else 2.0 / den
                out[4, t, m] = ix * norm
                out[5, t, m] = iy * norm
                out[6, t, m] = iz * norm
            else:
                out[4, t, m] = 0.0
                out[5, t, m] = 0.0
                out[6, t, m] = 0.0


@_jit.kernel()
def stereo_bands(spec, weights, ptr, lo, eps, out):
    """ICF parts (paper Eq. 10-12) from stereo spectra (2, frames, bins) into out (5, frames,
    mels): out[0:2] = mel powers of L, R + eps (the caller takes 10·log10 and sets out[2] to
    the ILD); out[3:5] = cos, sin of the angle of C = Σ_k mel·L·conj(R) (IPD = ∠L − ∠R),
    (1, 0) where |C| <= eps. out[2] is left untouched.
    """
    n_frames, n_bins = spec.shape[1], spec.shape[2]
    n_mels = lo.size
    for t in range(n_frames):
        q = np.empty((4, n_bins))             # per bin: |L|², |R|², Re and Im of L·conj(R)
        left, right = spec[0, t], spec[1, t]
        for k in range(n_bins):
            lr, li = np.float64(left[k].real), np.float64(left[k].imag)
            rr, ri = np.float64(right[k].real), np.float64(right[k].imag)
            q[0, k] = lr * lr + li * li
            q[1, k] = rr * rr + ri * ri
            q[2, k] = lr * rr + li * ri
            q[3, k] = li * rr - lr * ri
        for m in range(n_mels):
            pl = pr = cre = cim = 0.0
            k = lo[m]
            for j in range(ptr[m], ptr[m + 1]):
                g = weights[j]
                pl += g * q[0, k]
                pr += g * q[1, k]
                cre += g * q[2, k]
                cim += g * q[3, k]
                k += 1
            out[0, t, m] = pl + eps
            out[1, t, m] = pr + eps
            mag = np.hypot(cre, cim)
            if mag > eps:
                out[3, t, m] = cre / mag
                out[4, t, m] = cim / mag
            else:
                out[3, t, m] = 1.0
                out[4, t, m] = 0.0


@_jit.kernel()
def lowpass_energies(x, taps, m0, m1, block):
    """Σ_m y_c[m]² over m0 <= m < m1 for each row c of ``x``: (channels,) float64, where
    y_c[m] = Σ_j h[j]·x[c, m·D + j] is the 'valid' correlation of ``x`` with an FIR h, taken
    on every D-th sample. ``taps`` (D, Q) is h's polyphase split (taps[p, q] = h[q·D + p],
    zero-padded). D times this sum is the energy of the filtered signal when the filter output
    is band-limited below sr / (2D). Outputs are made ``block`` at a time: each phase is
    gathered into a contiguous buffer, then taps are applied four at a time in vectorisable
    loops over the block (fewer passes over the accumulator than one tap at a time).
    """
    n_ch, n = x.shape
    d, q_len = taps.shape
    out = np.zeros(n_ch)
    acc = np.empty(block, dtype=x.dtype)
    buf = np.empty(block + q_len - 1, dtype=x.dtype)
    for c in range(n_ch):
        row = x[c]
        for b0 in range(m0, m1, block):
            m = min(block, m1 - b0)
            a = acc[:m]
            a[:] = 0.0
            for p in range(d):
                base = b0 * d + p
                for i in range(m + q_len - 1):
                    idx = base + i * d
                    buf[i] = row[idx] if idx < n else 0.0
                q = 0
                while q + 4 <= q_len:
                    h0, h1, h2, h3 = taps[p, q], taps[p, q + 1], taps[p, q + 2], taps[p, q + 3]
                    s0, s1 = buf[q:q + m], buf[q + 1:q + 1 + m]
                    s2, s3 = buf[q + 2:q + 2 + m], buf[q + 3:q + 3 + m]
                    for i in range(m):
                        a[i] += h0 * s0[i] + h1 * s1[i] + h2 * s2[i] + h3 * s3[i]
                    q += 4
                for q in range(q, q_len):
                    h, seg = taps[p, q], buf[q:q + m]
                    for i in range(m):
                        a[i] += h * seg[i]
            s = 0.0
            for i in range(m):
                v = np.float64(a[i])
                s += v * v
            out[c] += s
    return out


@_jit.kernel()
def intensity_votes(spec, k0, k1, n_azimuth, n_elevation):
    """Histogram of per-bin active-intensity directions from ambiX spectra (4, frames, bins).

    For every frame and bin k0 <= k < k1: I = Re(conj(W)·[X, Y, Z]) (x, y, z); the bin votes
    |I| for the cell of its direction on an equirectangular grid (column c covers azimuths
    π − 2π(c+1)/n_az .. π − 2πc/n_az, row r elevations π/2 − π(r+1)/n_el .. π/2 − πr/n_el).
    Returns (hist (n_el, n_az), vec (n_el, n_az, 3)): the summed |I| and summed I per cell.
    """
    hist = np.zeros((n_elevation, n_azimuth))
    vec = np.zeros((n_elevation, n_azimuth, 3))
    az_scale = n_azimuth / (2.0 * np.pi)
    el_scale = n_elevation / np.pi
    n_bins = k1 - k0
    ix, iy, iz = np.empty(n_bins), np.empty(n_bins), np.empty(n_bins)
    for t in range(spec.shape[1]):
        w, y, z, x = spec[0, t], spec[1, t], spec[2, t], spec[3, t]
        for j in range(n_bins):
            k = k0 + j
            wr, wi = np.float64(w[k].real), np.float64(w[k].imag)
            ix[j] = wr * x[k].real + wi * x[k].imag
            iy[j] = wr * y[k].real + wi * y[k].imag
            iz[j] = wr * z[k].real + wi * z[k].imag
        for j in range(n_bins):
            a, b, c = ix[j], iy[j], iz[j]
            h2 = a * a + b * b
            mag = np.sqrt(h2 + c * c)
            if mag == 0.0:
                continue
            col = min(max(int((np.pi - np.arctan2(b, a)) * az_scale), 0), n_azimuth - 1)
            row = min(max(int((0.5 * np.pi - np.arctan2(c, np.sqrt(h2))) * el_scale), 0),
                      n_elevation - 1)
            hist[row, col] += mag
            vec[row, col, 0] += a
            vec[row, col, 1] += b
            vec[row, col, 2] += c
    return hist, vec
