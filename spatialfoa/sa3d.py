"""The SA3D box of Google's spatial-media RFC: ambisonic metadata in MP4/MOV files.

The box sits in the audio track's sample entry, moov/trak/mdia/minf/stbl/stsd/<mp4a, Opus,
lpcm, sowt, ...>/SA3D. Its payload is big-endian: uint8 version (0); uint8 with bit 7 =
head-locked stereo and bits 0-6 = ambisonic type (0 = periphonic); uint32 order; uint8 channel
ordering (0 = ACN); uint8 normalisation (0 = SN3D); uint32 channel count; one uint32 per
channel: the component each stored channel holds, in stored order (ACN index, then 4, 5 for
the head-locked L, R of a 6-channel file). A stored W, X, Y, Z file has the map 0, 3, 1, 2.
FFmpeg (and so PyAV) neither writes nor reads it; :func:`inject_sa3d` adds it.
"""
import os
import struct
import tempfile
from pathlib import Path

from .validation import FOAError

__all__ = ["read_sa3d", "inject_sa3d", "sa3d_to_ambix_order"]

_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")
# bytes of a sound sample entry before its child boxes, by QuickTime sound entry version
_SOUND_ENTRY_BYTES = {0: 28, 1: 44, 2: 64}


def read_sa3d(path):
    """Return the SA3D box of the first audio track of an MP4/MOV file as a dict, or None.

    Keys: ``version``, ``head_locked_stereo`` (bool), ``ambisonic_type`` (0 periphonic),
    ``order``, ``channel_ordering`` (0 ACN), ``normalization`` (0 SN3D), ``num_channels``,
    ``channel_map`` (list: component held by each stored channel), ``sample_entry`` (e.g.
    ``"mp4a"``). Files that are not ISO media (WAV, FLAC...) or carry no SA3D box give None.

    >>> read_sa3d("youtube_360.mp4")     # doctest: +SKIP
    {'version': 0, 'head_locked_stereo': False, 'ambisonic_type': 0, 'order': 1, ...}
    """
    path = Path(path)
    buf = moov_bytes(path)
    if buf is None:
        return None
    for entry in _audio_entries(buf):
        for kind, start, head, end in _boxes(buf, entry["children"], entry["end"]):
            if kind == b"SA3D":
                return _parse_sa3d(buf[start + head:end], path, entry["type"])
    return None


def moov_bytes(path):
    """The moov box of an MP4/MOV file (bytes, from its header), or None when there is none."""
    path = Path(path)
    if not path.is_file():
        raise FOAError(f"{path}: no such file")
    with open(path, "rb") as fh:
        moov = _read_moov(fh, os.fstat(fh.fileno()).st_size)
    return None if moov is None else moov[1]


def inject_sa3d(path_in, path_out, order=1, channel_map=None, num_channels=None,
                head_locked_stereo=False, channel_ordering=0, normalization=0,
                ambisonic_type=0):
    """Copy an MP4/MOV file to ``path_out`` with an SA3D box in its first audio track.

    Defaults describe ambiX (ACN, SN3D) of ``order``: ``num_channels`` = (order + 1)², plus 2
    with ``head_locked_stereo`` (stored W, Y, Z, X, L, R); ``channel_map`` = 0, 1, ... (give
    e.g. ``[0, 3, 1, 2]`` for stored W, X, Y, Z). An SA3D box already there is replaced. Box
    sizes are fixed up, and so are the stco/co64 chunk offsets when ``moov`` precedes the media
    data (fast-start files). ``path_out`` may equal ``path_in``. Fragmented MP4 is refused.

    >>> inject_sa3d("foa_from_ffmpeg.mp4", "foa_youtube.mp4")   # doctest: +SKIP
    """
    path_in, path_out = Path(path_in), Path(path_out)
    if not path_in.is_file():
        raise FOAError(f"{path_in}: no such file")
    order = int(order)
    if num_channels is None:
        num_channels = (len(channel_map) if channel_map is not None
                        else (order + 1) ** 2 + (2 if head_locked_stereo else 0))
    channel_map = list(range(num_channels)) if channel_map is None else list(channel_map)
    if len(channel_map) != num_channels:
        raise FOAError(f"SA3D channel_map has {len(channel_map)} entries for "
                       f"{num_channels} channels")
    if not 0 <= ambisonic_type < 128:
        raise FOAError(f"SA3D ambisonic_type must be 0..127, got {ambisonic_type}")
    payload = struct.pack(">BBIBBI", 0, (0x80 if head_locked_stereo else 0) | ambisonic_type,
                          order, channel_ordering, normalization, num_channels)
    payload += struct.pack(f">{num_channels}I", *channel_map)
    box = struct.pack(">I4s", 8 + len(payload), b"SA3D") + payload

    with open(path_in, "rb") as fh:
        top, moov_start, buf = boxes_for_rewrite(fh, path_in)
        entries = _audio_entries(buf)
        if not entries:
            raise FOAError(f"{path_in}: no audio track to put an SA3D box in")
        entry = entries[0]
        old = [(s, e) for kind, s, _, e in _boxes(buf, entry["children"], entry["end"])
               if kind == b"SA3D"]
        cut_start, cut_end = old[0] if old else (entry["end"], entry["end"])
        delta = len(box) - (cut_end - cut_start)
        new = bytearray(buf[:cut_start] + box + buf[cut_end:])
        for start in entry["ancestors"] + [entry["start"]]:
            _add_to_size(new, start, delta)
        write_with_new_moov(fh, top, moov_start, new, delta, path_in, path_out)


def boxes_for_rewrite(fh, path_in):
    """(top-level boxes, moov offset, moov bytes) of the open MP4/MOV file ``fh``; raises
    FOAError for fragmented MP4 or a file without moov."""
    size = os.fstat(fh.fileno()).st_size
    top = list(_file_boxes(fh, size))
    if any(kind == b"moof" for kind, *_ in top):
        raise FOAError(f"{path_in}: fragmented MP4 is not supported")
    moov = _read_moov(fh, size)
    if moov is None:
        raise FOAError(f"{path_in}: no moov box (not an MP4/MOV file, or truncated)")
    return top, moov[0], moov[1]


def write_with_new_moov(fh, top, moov_start, new, delta, path_in, path_out):
    """Write ``path_out`` atomically: the top-level boxes ``top`` of the open file ``fh`` with
    the moov box at ``moov_start`` replaced by ``new`` (``delta`` bytes longer; chunk offsets
    pointing past it are shifted when media data follows it)."""
    if delta and any(kind != b"moov" and start > moov_start for kind, start, _, _ in top):
        _shift_chunk_offsets(new, moov_start, delta, path_in)
    fd, tmp = tempfile.mkstemp(dir=path_out.parent, prefix=path_out.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for kind, start, _, end in top:
                if start == moov_start:
                    out.write(new)
                    continue
                fh.seek(start)
                remaining = end - start
                while remaining:
                    chunk = fh.read(min(remaining, 1 << 22))
                    out.write(chunk)
                    remaining -= len(chunk)
        os.replace(tmp, path_out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sa3d_to_ambix_order(sa3d):
    """Stored-channel indices of W, Y, Z, X given an SA3D dict (for
    :func:`spatialfoa.formats.remap_channels`), or None when the map lacks one of ACN 0-3.

    >>> sa3d_to_ambix_order({"channel_map": [4, 5, 0, 1, 2, 3]})
    [2, 3, 4, 5]
    """
    cmap = list(sa3d["channel_map"])
    if not all(k in cmap for k in range(4)):
        return None
    return [cmap.index(k) for k in range(4)]


def _parse_sa3d(payload, path, entry_type):
    if len(payload) < 12:
        raise FOAError(f"{path}: malformed SA3D box ({len(payload)} payload bytes)")
    version, flags, order, ordering, norm, n = struct.unpack(">BBIBBI", payload[:12])
    if len(payload) < 12 + 4 * n:
        raise FOAError(f"{path}: malformed SA3D box ({n} channels declared, "
                       f"{(len(payload) - 12) // 4} mapped)")
    return {"version": version, "head_locked_stereo": bool(flags & 0x80),
            "ambisonic_type": flags & 0x7F, "order": order, "channel_ordering": ordering,
            "normalization": norm, "num_channels": n,
            "channel_map": list(struct.unpack(f">{n}I", payload[12:12 + 4 * n])),
            "sample_entry": entry_type.decode("latin-1")}


def _file_boxes(fh, size):
    """Top-level boxes of a file: (type, start, header size, end); stops at anything invalid."""
    pos = 0
    while pos + 8 <= size:
        fh.seek(pos)
        head = fh.read(16)
        n, kind = struct.unpack(">I4s", head[:8])
        hsize = 8
        if n == 1:
            if len(head) < 16:
                return
            n, hsize = struct.unpack(">Q", head[8:16])[0], 16
        elif n == 0:
            n = size - pos
        if n < hsize or pos + n > size or not kind.isascii():
            return
        yield kind, pos, hsize, pos + n
        pos += n


def _read_moov(fh, size):
    """(file offset, bytes) of the moov box, or None."""
    for kind, start, _, end in _file_boxes(fh, size):
        if kind == b"moov":
            fh.seek(start)
            return start, fh.read(end - start)
    return None


def _boxes(buf, pos, end):
    """Boxes in buf[pos:end]: (type, start, header size, end)."""
    while pos + 8 <= end:
        n, kind = struct.unpack_from(">I4s", buf, pos)
        hsize = 8
        if n == 1:
            if pos + 16 > end:
                return
            n, hsize = struct.unpack_from(">Q", buf, pos + 8)[0], 16
        elif n == 0:
            n = end - pos
        if n < hsize or pos + n > end:
            return
        yield kind, pos, hsize, pos + n
        pos += n


def _audio_entries(buf):
    """Sound sample entries of the audio tracks in a moov buffer, in track order."""
    found = []

    def walk(pos, end, ancestors, in_audio):
        for kind, start, head, stop in _boxes(buf, pos, end):
            if kind == b"trak":
                walk(start + head, stop, ancestors + [start], False)
            elif kind in _CONTAINERS:
                audio = in_audio or (kind == b"mdia" and _handler(buf, start + head, stop)
                                     == b"soun")
                walk(start + head, stop, ancestors + [start], audio)
            elif kind == b"stsd" and in_audio:
                # full box: version/flags (4 bytes) and entry count (4 bytes), then entries
                for etype, e_start, e_head, e_end in _boxes(buf, start + head + 8, stop):
                    body = e_start + e_head
                    version = (struct.unpack_from(">H", buf, body + 8)[0]
                               if body + 10 <= e_end else 0)
                    skip = _SOUND_ENTRY_BYTES.get(version, 28)
                    found.append({"type": etype, "start": e_start, "end": e_end,
                                  "children": min(body + skip, e_end),
                                  "ancestors": ancestors + [start]})

    walk(0, len(buf), [], False)
    return found


def _handler(buf, pos, end):
    for kind, start, head, _ in _boxes(buf, pos, end):
        if kind == b"hdlr":  # full box header (4), pre_defined (4), handler_type (4)
            return bytes(buf[start + head + 8:start + head + 12])
    return None


def _add_to_size(buf, start, delta):
    n = struct.unpack_from(">I", buf, start)[0]
    if n == 1:
        struct.pack_into(">Q", buf, start + 8, struct.unpack_from(">Q", buf, start + 8)[0] + delta)
    else:
        struct.pack_into(">I", buf, start, n + delta)


def _shift_chunk_offsets(buf, moov_start, delta, path):
    """Add ``delta`` to every stco/co64 chunk offset that points past the moov box."""
    def walk(pos, end):
        for kind, start, head, stop in _boxes(buf, pos, end):
            if kind in _CONTAINERS:
                walk(start + head, stop)
            elif kind in (b"stco", b"co64"):
                fmt, width = (">I", 4) if kind == b"stco" else (">Q", 8)
                count = struct.unpack_from(">I", buf, start + head + 4)[0]
                at = start + head + 8
                for i in range(count):
                    value = struct.unpack_from(fmt, buf, at + i * width)[0]
                    if value > moov_start:
                        value += delta
                        if kind == b"stco" and value >= 1 << 32:
                            raise FOAError(f"{path}: chunk offsets overflow stco after "
                                           "inserting SA3D")
                        struct.pack_into(fmt, buf, at + i * width, value)

    walk(0, len(buf))
