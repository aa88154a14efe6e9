"""Reading and writing multichannel audio files, keeping the channel order.

Arrays are (channels, samples) float32. WAV/FLAC/OGG/AIFF go through soundfile (libsndfile);
MP4/MOV/MKV/WebM/M4A/AAC/Opus/MP3 go through PyAV (FFmpeg), decoding only the requested span
and stacking the decoded planes in stream order (no down-mix, no re-ordering). Give ``layout``
to map the file to ambiX (ACN W, Y, Z, X; SN3D) with :func:`spatialfoa.formats.to_ambix`.

Damaged files: a file that is cut short (truncated WAV/FLAC, an MP4 whose ``moov`` box comes
first) is read up to where it stops, with a line in ``info["warnings"]``; a file from which no
audio at all can be decoded (random bytes, an MP4 cut before its ``moov`` box, no audio stream,
zero samples) raises :class:`spatialfoa.validation.FOAError` naming the file. A decoded
frame whose channel count, sample format or buffer size differs from the stream's (damaged
headers can make FFmpeg decode, say, 24 channels from a 6-channel stream) is never converted
(``to_ndarray`` would read past its buffers): reading stops there with a warning, or raises
FOAError if it is the first frame. Any other error of the decoders is a FOAError naming the file.
"""
import contextlib
import math
import os
import struct
from pathlib import Path

import numpy as np

from .sa3d import read_sa3d  # re-exported: spatialfoa.read_sa3d lives here in the public API
from .validation import FOAError, as_audio, check_sample_rate

__all__ = ["read_audio", "write_audio", "read_sa3d", "collect_files", "SOUNDFILE_EXTENSIONS",
           "PYAV_EXTENSIONS", "AUDIO_EXTENSIONS"]

#: Extensions read with soundfile (libsndfile).
SOUNDFILE_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".aifc",
                                  ".w64", ".rf64", ".caf"})
#: Extensions read with PyAV (FFmpeg).
PYAV_EXTENSIONS = frozenset({".mp4", ".mov", ".m4a", ".m4v", ".mkv", ".mka", ".webm", ".aac",
                             ".opus", ".mp3"})
#: Every extension :func:`read_audio` reads (used by :func:`collect_files` to walk folders).
AUDIO_EXTENSIONS = SOUNDFILE_EXTENSIONS | PYAV_EXTENSIONS


def collect_files(paths):
    """Files named in ``paths`` plus the audio/video files (:data:`AUDIO_EXTENSIONS`) found
    recursively in the folders among them, each folder's sorted; a list of Paths.

    Raises FOAError for a path that does not exist."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*")
                                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS))
        elif p.exists():
            files.append(p)
        else:
            raise FOAError(f"{p}: no such file or folder")
    return files

_BLOCK = 4096  # frames per soundfile read (small: a damaged file loses at most one block)
_ONE_READ = 1 << 18  # spans up to this many frames are first tried in one read
_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


def read_audio(path, *, layout=None, max_seconds=None, offset=0.0):
    """Read an audio or video file's first audio stream as (channels, samples) float32.

    Parameters: ``path``; ``layout`` None (channels as stored) or a name of
    :data:`spatialfoa.formats.LAYOUTS` (e.g. ``"fuma"``, ``"youtube-aac-6ch"``) to convert to
    ambiX (ACN W, Y, Z, X; SN3D; 4 channels); ``max_seconds`` read at most this long;
    ``offset`` start time in seconds (PyAV seeks, so only the needed span is decoded).

    Returns ``(x, sr, info)``; ``info`` holds ``path``, ``format``, ``codec``, ``channels``
    (as stored), ``sample_rate``, ``duration`` (s, whole stream), ``channel_layout`` (FFmpeg
    layout name, None for soundfile formats), ``offset``, ``samples`` (read), ``layout`` and
    ``warnings`` (list of str, e.g. for a truncated file).

    Raises :class:`~spatialfoa.validation.FOAError` (naming the file) when the file is missing,
    unreadable, has no audio stream or no samples in the requested span.

    >>> x, sr, info = read_audio("scene.wav", max_seconds=10)   # doctest: +SKIP
    >>> x.shape, info["codec"]                                  # doctest: +SKIP
    ((4, 480000), 'FLOAT')
    """
    path = Path(path)
    if not path.exists():
        raise FOAError(f"{path}: no such file")
    if not path.is_file():
        raise FOAError(f"{path}: not a file")
    offset = float(offset)
    if not np.isfinite(offset) or offset < 0:
        raise FOAError(f"{path}: offset must be a finite number of seconds >= 0, got {offset}")
    if max_seconds is not None:
        max_seconds = float(max_seconds)
        if not max_seconds > 0:
            raise FOAError(f"{path}: max_seconds must be > 0, got {max_seconds}")
    reader = _read_soundfile if path.suffix.lower() in SOUNDFILE_EXTENSIONS else _read_pyav
    try:
        x, info = reader(path, max_seconds, offset)
    except FOAError:
        raise
    except MemoryError:
        raise FOAError(f"{path}: damaged file: its header asks for more memory than "
                       "available") from None
    except Exception as err:   # a decoder's own error on a damaged file (AttributeError...)
        raise FOAError(f"{path}: cannot read (damaged or unsupported file): "
                       f"{type(err).__name__}: {err}") from None
    if x.shape[1] == 0:
        raise FOAError(f"{path}: no audio samples"
                       + (f" after offset {offset} s" if offset > 0 else ""))
    info.update(path=str(path), offset=offset, samples=int(x.shape[1]), layout=layout)
    if layout is not None:
        from .formats import to_ambix
        try:
            x = to_ambix(x, layout=layout)
        except FOAError as err:
            raise FOAError(f"{path}: {err}") from None
        x = np.ascontiguousarray(x, dtype=np.float32)
    return x, info["sample_rate"], info


def write_audio(path, x, sr):
    """Write (channels, samples) audio ``x`` at ``sr`` Hz to a WAV (32-bit float) or FLAC
    (24-bit) file, chosen by the extension. FLAC cannot hold samples beyond ±1: such input
    raises :class:`~spatialfoa.validation.FOAError` (write a WAV instead).

    >>> write_audio("out.wav", np.zeros((4, 48000), np.float32), 48000)   # doctest: +SKIP
    """
    import soundfile as sf

    x = as_audio(x, name="x")
    sr = check_sample_rate(sr)
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".wav":
        subtype = "FLOAT"
    elif ext == ".flac":
        subtype = "PCM_24"
        peak = float(np.max(np.abs(x)))
        if peak > 1.0:
            raise FOAError(f"{path}: FLAC holds samples in [-1, 1], the peak is {peak:.3g}; "
                           "scale the signal or write a .wav (32-bit float)")
    else:
        raise FOAError(f"{path}: write_audio writes .wav or .flac, not {ext or 'no extension'!r}")
    try:
        sf.write(str(path), x.T, sr, subtype=subtype)
    except (sf.SoundFileError, OSError) as err:
        raise FOAError(f"{path}: cannot write: {err}") from None


#: Lowest sample rate :func:`resample` accepts as input.
MIN_SAMPLE_RATE = 8000
#: Largest up/down factor of the rational resampling (44100 -> 24000 is 80/147).
MAX_RESAMPLE_FACTOR = 1000


def resample(x, sr, target, *, name="x"):
    """``x`` (channels, samples) at ``sr`` Hz resampled to ``target`` Hz, float32.

    Polyphase filtering (:func:`scipy.signal.resample_poly`) by the rational factor
    target/sr; returned unchanged when the rates are equal. Raises :class:`FOAError` below
    ``MIN_SAMPLE_RATE`` or when the factor's terms exceed ``MAX_RESAMPLE_FACTOR``. Upsampling
    leaves the band above sr/2 empty.

    >>> resample(np.ones((4, 48000), np.float32), 48000, 24000).shape
    (4, 24000)
    """
    sr, target = check_sample_rate(sr), check_sample_rate(target)
    if sr == target:
        return x
    if sr < MIN_SAMPLE_RATE:
        raise FOAError(f"{name}: sample rate {sr} Hz is not supported (at least "
                       f"{MIN_SAMPLE_RATE} Hz; {target} Hz is expected)")
    g = math.gcd(sr, target)
    up, down = target // g, sr // g
    if max(up, down) > MAX_RESAMPLE_FACTOR:
        raise FOAError(f"{name}: cannot resample {sr} Hz to {target} Hz (factor {up}/{down}); "
                       f"convert the file to {target} Hz first")
    from scipy.signal import resample_poly

    return resample_poly(x, up, down, axis=1).astype(np.float32)


def _read_soundfile(path, max_seconds, offset):
    import soundfile as sf

    try:
        f = sf.SoundFile(str(path))
    except Exception as err:  # libsndfile errors are RuntimeErrors with odd messages
        raise FOAError(f"{path}: cannot read as a {path.suffix.lstrip('.').upper()} audio file "
                       f"(corrupt or not audio): {err}") from None
    warnings = []
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: f.close())      # the file open at the end (see below)
        sr, channels, total = f.samplerate, f.channels, f.frames
        info = {"format": f.format, "codec": f.subtype, "channels": channels,
                "sample_rate": sr, "duration": total / sr, "channel_layout": None}
        declared = _wav_declared_frames(path, channels, f.subtype) if f.format in (
            "WAV", "WAVEX") else None
        if declared is not None and declared > total:
            warnings.append(f"truncated: the header declares {declared / sr:.3f} s, "
                            f"the file holds {total / sr:.3f} s")
        start = min(int(round(offset * sr)), total)
        want = total - start
        if max_seconds is not None:
            want = min(want, int(round(max_seconds * sr)))
        blocks, got = [], 0
        try:
            f.seek(start)
            if want <= _ONE_READ:
                try:     # one read: each soundfile read also asks libsndfile for the
                    # position, which costs as much as a FLAC seek (1 s at 24 kHz: 1.6 ms
                    # instead of 3.2 ms in 4096-frame blocks)
                    blocks = [f.read(want, dtype="float32", always_2d=True)]
                    got = len(blocks[0])
                except Exception:      # damaged: again in blocks, keeping the ones
                    blocks, got = [], 0  # before the damage, on a fresh open (the failed
                    f.close()            # read can leave libsndfile unable to seek)
                    f = sf.SoundFile(str(path))
                    f.seek(start)
            while got < want:
                block = f.read(min(_BLOCK, want - got), dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                blocks.append(block)
                got += len(block)
        except Exception as err:
            if got == 0:
                raise FOAError(f"{path}: cannot decode audio (corrupt file): {err}") from None
            warnings.append(f"damaged or truncated: decoding stopped at "
                            f"{(start + got) / sr:.3f} s of {total / sr:.3f} s ({err})")
            info["duration"] = (start + got) / sr
    info["warnings"] = warnings
    x = (np.zeros((channels, 0), np.float32) if not blocks else blocks[0].T if len(blocks) == 1
         else np.concatenate(blocks).T)
    return np.ascontiguousarray(x), info


def _wav_declared_frames(path, channels, subtype):
    """Frames the WAV header's data chunk declares (None when it cannot be told)."""
    bits = {"PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32,
            "DOUBLE": 64}.get(subtype)
    if bits is None:
        return None
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            cid, size = struct.unpack("<4sI", chunk)
            if cid == b"data":
                return size // (channels * bits // 8)
            fh.seek(size + (size & 1), os.SEEK_CUR)


def _read_pyav(path, max_seconds, offset):
    import av

    try:
        container = av.open(str(path))
    except Exception as err:
        raise FOAError(f"{path}: cannot open as an audio/video file (corrupt, truncated before "
                       f"its index, or not media): {err}") from None
    with container:
        if not container.streams.audio:
            kinds = ", ".join(s.type for s in container.streams) or "no streams"
            raise FOAError(f"{path}: no audio stream (the file has {kinds})")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        if ctx is None:
            raise FOAError(f"{path}: the audio stream has no decoder (damaged or unsupported "
                           f"codec)")
        sr = int(ctx.sample_rate or stream.rate or 0)
        if sr <= 0:
            raise FOAError(f"{path}: the audio stream has no sample rate")
        channels = int(ctx.channels)
        if channels <= 0:
            raise FOAError(f"{path}: the audio stream declares no channels")
        fmt_name = ctx.format.name if ctx.format is not None else None
        stream_duration = (float(stream.duration * stream.time_base)
                           if stream.duration is not None and stream.time_base is not None
                           else None)
        duration = stream_duration
        if duration is None and container.duration is not None:
            duration = container.duration / 1e6
        info = {"format": container.format.name, "codec": ctx.name, "channels": channels,
                "sample_rate": sr, "duration": duration,
                "channel_layout": ctx.layout.name if ctx.layout is not None else None}
        start = int(round(offset * sr))
        want = None if max_seconds is None else int(round(max_seconds * sr))
        if start > 0 and stream.time_base is not None:
            # seek a little early: the frames right after a seek point may need warming up
            target = max(0.0, offset - 0.2)
            try:
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
            except av.error.FFmpegError:
                container.seek(0, stream=stream)
        pieces, got, pos, warnings = [], 0, None, []
        try:
            for frame in container.decode(stream):
                if frame.pts is not None:
                    pos = int(round(frame.pts * stream.time_base * sr))
                elif pos is None:
                    pos = 0
                fmt_name = fmt_name or frame.format.name
                bad = _frame_mismatch(frame, channels, fmt_name)
                if bad is not None:
                    if got == 0 and not pieces:
                        raise FOAError(f"{path}: cannot decode audio (damaged file): {bad}")
                    warnings.append(f"damaged: decoding stopped at {(start + got) / sr:.3f} s "
                                    f"({bad})")
                    info["duration"] = (start + got) / sr
                    break
                a = _frame_to_float(frame, channels)
                lo = max(0, start - pos)
                pos += a.shape[1]
                if lo >= a.shape[1]:
                    continue
                a = a[:, lo:]
                if want is not None and got + a.shape[1] >= want:
                    pieces.append(a[:, :want - got])
                    got = want
                    break
                pieces.append(a)
                got += a.shape[1]
        except av.error.FFmpegError as err:
            if got == 0:
                raise FOAError(f"{path}: cannot decode audio (corrupt file): {err}") from None
            warnings.append(f"damaged or truncated: decoding stopped at "
                            f"{(start + got) / sr:.3f} s ({err})")
            info["duration"] = (start + got) / sr
        x = np.concatenate(pieces, axis=1) if pieces else np.zeros((channels, 0), np.float32)
        if stream_duration is not None:
            end = max(0, int(round(stream_duration * sr)) - start)
            if x.shape[1] > end:  # drop the padding of the last coded frame
                x = x[:, :end]
            elif (x.shape[1] < min(end, want or end) - max(1024, sr // 20)
                  and not warnings):
                warnings.append(f"truncated: the container declares {stream_duration:.3f} s, "
                                f"audio decodes to {(start + x.shape[1]) / sr:.3f} s")
                info["duration"] = (start + x.shape[1]) / sr
        info["warnings"] = warnings
    return np.ascontiguousarray(x, dtype=np.float32), info


def _frame_mismatch(frame, channels, fmt_name):
    """Why a decoded PyAV frame cannot be the stream's (channels, format), or None if it can.

    Checked before ``to_ndarray``, which trusts the frame's layout and would read past the
    plane buffers of a frame that a damaged stream decoded inconsistently."""
    n = frame.layout.nb_channels
    fmt = frame.format
    if n != channels:
        return f"a decoded frame has {n} channels, the stream {channels}"
    if fmt.name != fmt_name or fmt.name.rstrip("p") not in ("flt", "dbl", *_SCALE):
        return f"a decoded frame has sample format {fmt.name}, the stream {fmt_name}"
    planes = frame.planes
    if len(planes) != (channels if fmt.is_planar else 1):
        return f"a decoded frame has {len(planes)} planes for {channels} channels"
    need = frame.samples * fmt.bytes * (1 if fmt.is_planar else channels)
    if any(p.buffer_size < need for p in planes):
        return "a decoded frame's buffers are shorter than its samples"
    return None


def _frame_to_float(frame, channels):
    """Decoded PyAV frame → (channels, samples) float32, channel order as stored."""
    a = frame.to_ndarray()
    fmt = frame.format
    if not fmt.is_planar:  # packed: (1, samples * channels), interleaved
        a = a.reshape(-1, channels).T
    name = fmt.name.rstrip("p")
    if name in ("flt", "dbl"):
        return a.astype(np.float32, copy=False)
    if name == "u8":
        return ((a.astype(np.float32) - 128.0) / 128.0)
    return (a / _SCALE[name]).astype(np.float32)
