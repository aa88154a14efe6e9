"""Sounds of the synthetic scenes: source signals, on/off activity, a diffuse music bed,
diffuse ambience and a synthetic first-order Ambisonics reverberation tail.

Every function is deterministic in its ``rng`` (a ``numpy.random.Generator``). Signals are
(samples,) mono or ambiX (4, samples) (ACN W, Y, Z, X; SN3D), at ``sr`` Hz.

Diffuse parts (ambience, music bed, reverberation) use the first-order statistics of an
isotropic field: W and the three dipoles mutually uncorrelated, each dipole with a third of
W's power (SN3D), so E_xyz / E_w = 1 and such parts pass the paper's Eq. 13 test.
"""
import numpy as np

from spatialfoa.validation import FOAError

#: Sound types; :func:`source_sound` makes each. The easy scenes use the first six, one per
#: visual class; the hard scenes draw from all of them (see ``synth.HARD_SOUNDS``).
SOUND_TYPES = ("tone", "harmonic", "band_noise", "chirp", "clicks", "beeps", "warble",
               "am_noise", "honk")


def source_sound(sound, rng, n, sr):
    """A mono signal (n,) of a sound type (:data:`SOUND_TYPES`), RMS 1; its parameters are
    drawn from ``rng`` within the type's range (docs/data.md)."""
    from scipy.signal import butter, sosfilt

    t = np.arange(n) / sr
    if sound == "tone":
        f = rng.uniform(300, 700)
        phase = 2 * np.pi * f * t + 0.02 * f / 5 * np.sin(2 * np.pi * 5 * t)
        s = np.sin(phase) + 0.2 * np.sin(2 * phase)
    elif sound == "harmonic":
        f0 = rng.uniform(110, 220)
        s = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k for k in range(1, 13)
                if k * f0 < 0.45 * sr)
    elif sound == "band_noise":
        fc = rng.uniform(1200, 3000)
        sos = butter(4, [fc / 1.41, fc * 1.41], btype="band", fs=sr, output="sos")
        s = sosfilt(sos, rng.standard_normal(n))
    elif sound == "chirp":
        period = rng.uniform(0.4, 0.7)
        tau = np.mod(t, period) / period
        f_lo, f_hi = rng.uniform(300, 600), rng.uniform(2500, 4000)
        inst = f_lo * (f_hi / f_lo) ** tau                    # exponential sweep per period
        phase = 2 * np.pi * np.cumsum(inst) / sr
        s = np.sin(phase) * np.sin(np.pi * tau) ** 0.5
    elif sound == "clicks":
        rate = rng.uniform(3, 8)
        s = np.zeros(n)
        burst = rng.standard_normal(int(0.008 * sr)) * np.exp(-np.arange(int(0.008 * sr))
                                                              / (0.002 * sr))
        for start in (np.arange(0, n / sr, 1 / rate) * sr).astype(int):
            seg = s[start:start + len(burst)]
            seg += burst[:len(seg)]
    elif sound == "beeps":
        f = rng.uniform(1200, 2500)
        on = np.mod(t, 0.25) < 0.1
        s = np.sin(2 * np.pi * f * t) * on
    elif sound == "warble":                                   # siren-like FM tone
        f, depth, rate = rng.uniform(600, 1400), rng.uniform(0.1, 0.3), rng.uniform(1.5, 6)
        inst = f * (1 + depth * np.sin(2 * np.pi * rate * t))
        s = np.sin(2 * np.pi * np.cumsum(inst) / sr)
    elif sound == "am_noise":                                 # engine / rain-like rumble
        fc = rng.uniform(200, 800)
        sos = butter(2, fc, btype="low", fs=sr, output="sos")
        rate = rng.uniform(4, 14)
        s = sosfilt(sos, rng.standard_normal(n)) * (1 + 0.8 * np.sin(2 * np.pi * rate * t))
    elif sound == "honk":                                     # harmonic bursts
        f0, period = rng.uniform(250, 450), rng.uniform(0.5, 0.9)
        on = np.mod(t, period) < rng.uniform(0.15, 0.35)
        s = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * on
    else:
        raise FOAError(f"unknown sound type {sound!r}; choose from {', '.join(SOUND_TYPES)}")
    rms = np.sqrt(np.mean(s ** 2))
    return s / rms if rms > 0 else s


def activity(rng, n, sr, on=(0.6, 2.0), off=(0.3, 1.2), p_start=0.7, ramp=0.02):
    """On/off gain (n,) in [0, 1]: alternating on and off spans with durations uniform in
    ``on`` / ``off`` (s), starting on with probability ``p_start``, with ``ramp``-second linear
    fades. Example: ``activity(rng, 96000, 24000)`` for a 4 s clip."""
    gate = np.zeros(n)
    pos, state = 0, rng.random() < p_start
    while pos < n:
        length = int(rng.uniform(*(on if state else off)) * sr)
        if state:
            gate[pos:pos + length] = 1.0
        pos += max(length, 1)
        state = not state
    from scipy.ndimage import uniform_filter1d

    return uniform_filter1d(gate, max(1, int(ramp * sr)), mode="nearest")


def diffuse_noise(rng, n, lowpass_hz=None, sr=None):
    """ambiX (4, n) isotropic-field noise (see module doc), mean W power 1; ``lowpass_hz``
    colours it with a 1st-order low-pass (a darker, more natural ambience)."""
    x = rng.standard_normal((4, n))
    if lowpass_hz:
        from scipy.signal import butter, sosfilt
        x = sosfilt(butter(1, lowpass_hz, fs=sr, output="sos"), x, axis=1)
    x /= np.sqrt(np.mean(x ** 2, axis=1, keepdims=True))
    x[1:] /= np.sqrt(3.0)
    return x


def decorrelated_diffuse(s, rng):
    """ambiX (4, n) diffuse field of mono ``s``: W = s and three dipoles that are copies of s
    with random spectral phases (the same magnitude spectrum, uncorrelated with W and with each
    other), each at a third of W's power."""
    spec = np.fft.rfft(s)
    phases = np.exp(2j * np.pi * rng.random((3, spec.size)))
    phases[:, 0] = 1.0
    dipoles = np.fft.irfft(spec * phases, n=len(s)) / np.sqrt(3.0)
    return np.concatenate([s[None], dipoles])


def music_bed(rng, n, sr):
    """A mono music bed (n,), RMS 1: a chord progression (3 notes with 4 harmonics each, a
    new chord every 0.5-1 s, soft attacks) and a bass note an octave below the root."""
    t = np.arange(n) / sr
    s = np.zeros(n)
    pos = 0
    root = rng.uniform(110, 220)
    while pos < n:
        length = int(rng.uniform(0.5, 1.0) * sr)
        seg = slice(pos, pos + length)
        tt = t[seg] - t[pos]
        env = (1 - np.exp(-tt / 0.03)) * np.exp(-tt / 1.5)
        base = root * 2 ** (int(rng.integers(0, 12)) / 12)
        for step in (0, int(rng.choice([3, 4])), 7):
            f = base * 2 ** (step / 12)
            s[seg] += env * sum(np.sin(2 * np.pi * k * f * tt) / k ** 1.5 for k in range(1, 5))
        s[seg] += 0.6 * env * np.sin(np.pi * base * tt)
        pos += length
    return s / np.sqrt(np.mean(s ** 2))


def reverb_ir(rng, rt60, sr, predelay=0.005):
    """ambiX (4, L) late-reverberation impulse response: isotropic-field noise (module doc)
    under an exponential envelope whose energy falls 60 dB in ``rt60`` seconds, starting
    ``predelay`` s after the direct sound; L = predelay + 1.2 rt60. Scaled so that the W
    response has energy 1 (the direct sound's, for a unit-gain plane wave)."""
    if not 0.05 <= rt60 <= 5.0:
        raise FOAError(f"rt60 must be in [0.05, 5] s, got {rt60}")
    length = int((predelay + 1.2 * rt60) * sr)
    t = np.arange(length) / sr
    env = np.where(t >= predelay, 10 ** (-3 * (t - predelay) / rt60), 0.0)   # amplitude
    h = rng.standard_normal((4, length)) * env
    h[1:] /= np.sqrt(3.0)
    return h / np.sqrt(np.sum(h[0] ** 2))


def reverberate(dry_w, rng, rt60, drr_db, sr, change_hz=40.0):
    """ambiX (4, n) diffuse tail of the dry omni mix ``dry_w`` (n,), scaled so the
    direct-to-reverberant energy ratio is ``drr_db``.

    A slowly changing room (moving air and people): two independent responses h1, h2
    (:func:`reverb_ir`) mixed as ``h1 * (d cos phi) + h2 * (d sin phi)`` with a phase phi(t)
    wandering at about ``change_hz`` turns per second. With one fixed response a steady tone and
    its reverberation keep one phase relation for the whole clip, and their cross terms alone
    push E_xyz / E_w of a valid clip tens of percent off 1; the wandering phase averages them
    out over the clip while keeping the tail's energy and decay."""
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import oaconvolve

    n = len(dry_w)
    rate = change_hz * (1 + 0.5 * uniform_filter1d(rng.standard_normal(n), int(0.2 * sr)
                                                   ) * np.sqrt(0.2 * sr))
    phi = 2 * np.pi * np.cumsum(rate) / sr + rng.uniform(0, 2 * np.pi)
    gain = 10 ** (-drr_db / 20)
    out = np.zeros((4, n))
    for part in (np.cos(phi), np.sin(phi)):
        h = reverb_ir(rng, rt60, sr) * gain
        out += oaconvolve(h, (dry_w * part)[None], axes=1)[:, :n]
    return out
