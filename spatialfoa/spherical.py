"""Spherical-video metadata and the layout of a 360° video's frames (projection, stereo).

Google's spherical-video RFCs put the layout in the MP4/MOV file:

* V2: in the video track's sample entry (moov/trak/mdia/minf/stbl/stsd/<avc1, hev1, vp09,
  av01...>), an ``st3d`` full box (uint8 stereo mode: 0 mono, 1 top-bottom, 2 left-right) and an
  ``sv3d`` box holding ``svhd`` (metadata source string) and ``proj``: ``prhd`` (pose yaw, pitch,
  roll, 16.16 degrees) and one projection box: ``equi`` (crop bounds top, bottom, left, right,
  0.32 fractions), ``cbmp`` (layout, padding: layout 0 is the 3x2 grid right, left, up / down,
  front, back) or ``mshp`` (a mesh; YouTube's equi-angular cubemap (EAC) streams carry one, also
  under the name ``ytmp``).
* V1: a ``uuid`` box (ffcc8263-f855-4a93-8814-587a02521fdd) in the video ``trak`` holding
  ``GSpherical`` RDF/XML: ``ProjectionType`` (equirectangular) and ``StereoMode`` (mono,
  top-bottom, left-right).

FFmpeg (so PyAV) writes neither; :func:`write_spherical` adds them, :func:`read_spherical` reads
them, :func:`probe_layout` turns them (or the frame's aspect ratio, or the caller's flags) into a
:class:`VideoLayout`, and :func:`equirect_filter` gives the FFmpeg filter chain (``crop``,
``v360``, ``scale``) that turns such frames into one eye's 2:1 equirect RGB, which
:func:`read_equirect_frame` uses to grab one frame (e.g. under an acoustic map).

Projections: "equirect" (any aspect ratio: the pixel grid spans 360° x 180°, so a 16:9 stream as
YouTube serves it is a squeezed equirect), "eac" (YouTube's 3x2 equi-angular cubemap, FFmpeg
``v360`` input ``eac``: top row left, front, right; bottom row down, back, up, each turned a
quarter), "cubemap" (the V2 ``cbmp`` layout 0, ``v360`` input ``c3x2``). Stereo: "mono",
"top-bottom", "left-right" (the top / left eye is used).

>>> probe_layout("congo_360_topbottom.mp4")                   # doctest: +SKIP
VideoLayout(projection='equirect', stereo='top-bottom', width=1920, height=1080, ...)
"""
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .sa3d import (_add_to_size, _boxes, _handler, boxes_for_rewrite, moov_bytes,
                   write_with_new_moov)
from .validation import FOAError

__all__ = ["VideoLayout", "LayoutError", "PROJECTIONS", "STEREO_MODES", "read_spherical",
           "write_spherical", "probe_layout", "equirect_filter", "equirect_graph",
           "read_equirect_frame", "video_frame"]

PROJECTIONS = ("equirect", "eac", "cubemap")
STEREO_MODES = ("mono", "top-bottom", "left-right")
#: |aspect - target| / target allowed when the layout is guessed from the frame size.
ASPECT_TOLERANCE = 0.02

V1_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")
_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")
_VISUAL_ENTRY_BYTES = 78          # a visual sample entry's fields before its child boxes
_ST3D = {0: "mono", 1: "top-bottom", 2: "left-right"}
_V1_PROJECTION = {"equirectangular": "equirect"}
_V1_STEREO = {"mono": "mono", "top-bottom": "top-bottom", "left-right": "left-right"}
_V360_INPUT = {"eac": "eac", "cubemap": "c3x2"}
_V360_STEREO = {"mono": "2d", "top-bottom": "tb", "left-right": "sbs"}


class LayoutError(FOAError):
    """A video whose frame layout cannot be known or used; the message names the file and the
    ``--projection`` / ``--stereo`` flag that settles it."""


@dataclass(frozen=True)
class VideoLayout:
    """How a video's frames hold the sphere.

    ``projection`` ("equirect", "eac", "cubemap"), ``stereo`` ("mono", "top-bottom",
    "left-right"), ``width`` x ``height`` (pixels, the coded frame), ``source`` (where the
    layout came from: "sv3d", "GSpherical", "aspect" (guessed from the frame size) or "flag"),
    ``pose`` (yaw, pitch, roll in degrees from V2 ``prhd``; recorded, not applied).
    """

    projection: str
    stereo: str
    width: int
    height: int
    source: str = "aspect"
    pose: tuple = (0.0, 0.0, 0.0)

    @property
    def eye_size(self):
        """(width, height) of one eye's picture, pixels."""
        if self.stereo == "top-bottom":
            return self.width, self.height // 2
        if self.stereo == "left-right":
            return self.width // 2, self.height
        return self.width, self.height

    def equirect_size(self, width=None):
        """(width, height) of the 2:1 equirect this layout converts to: ``width`` (even) or, by
        default, the eye's width (equirect) or 4 cube faces (cubemaps)."""
        if width is None:
            w, h = self.eye_size
            width = w if self.projection == "equirect" else 4 * (h // 2)
        width = int(width)
        if width < 2 or width % 2:
            raise LayoutError(f"equirect width must be an even number of pixels >= 2, "
                              f"got {width}")
        return width, width // 2


def read_spherical(path):
    """Spherical metadata of the first video track of an MP4/MOV file, or None when it has none.

    Returns dict(version 2 or 1, projection ("equirect", "eac", "cubemap" or the box name of an
    unknown one), stereo (STEREO_MODES or None when not stated), pose (yaw, pitch, roll degrees),
    crop (equi bounds (top, bottom, left, right) as fractions; all 0 = uncropped), cubemap
    (layout, padding) or None, metadata_source (str)). V2 boxes take precedence over V1 XML.
    Files that are not ISO media give None.
    """
    path = Path(path)
    buf = moov_bytes(path)
    if buf is None:
        return None
    track = _video_track(buf)
    if track is None:
        return None
    v2 = _parse_v2(buf, track, path)
    if v2 is not None:
        return v2
    for kind, start, head, end in _boxes(buf, track["start"] + 8, track["end"]):
        if kind == b"uuid" and bytes(buf[start + head:start + head + 16]) == V1_UUID:
            return _parse_v1(bytes(buf[start + head + 16:end]), path)
    return None


def write_spherical(path_in, path_out, projection="equirect", stereo="mono", version=2,
                    pose=(0.0, 0.0, 0.0), cubemap_layout=0, padding=0,
                    metadata_source="spatialfoa"):
    """Copy an MP4/MOV file to ``path_out`` with spherical metadata in its first video track.

    ``version=2``: ``st3d`` + ``sv3d`` boxes in the sample entry (``projection`` "equirect" ->
    ``equi``, "cubemap" -> ``cbmp`` (``cubemap_layout``, ``padding``), "eac" -> an empty
    ``mshp`` as YouTube's EAC files have); ``version=1``: the GSpherical ``uuid`` box in the
    track (equirect only). Boxes of the same kind already there are replaced; box sizes and
    chunk offsets are fixed up. ``path_out`` may equal ``path_in``.
    """
    path_in, path_out = Path(path_in), Path(path_out)
    if not path_in.is_file():
        raise FOAError(f"{path_in}: no such file")
    if projection not in PROJECTIONS or stereo not in STEREO_MODES:
        raise FOAError(f"projection must be one of {PROJECTIONS} and stereo one of "
                       f"{STEREO_MODES}, got {projection!r}, {stereo!r}")
    with open(path_in, "rb") as fh:
        top, moov_start, buf = boxes_for_rewrite(fh, path_in)
        track = _video_track(buf)
        if track is None:
            raise FOAError(f"{path_in}: no video track to put spherical metadata in")
        if version == 2:
            parent, ancestors = track["entry"], track["entry_ancestors"]
            children = track["entry_children"]
            drop = (b"st3d", b"sv3d")
            box = _st3d_box(stereo) + _sv3d_box(projection, pose, cubemap_layout, padding,
                                                metadata_source)
        elif version == 1:
            if projection != "equirect":
                raise FOAError("V1 spherical metadata (GSpherical) only describes equirect video")
            parent, ancestors = (track["start"], track["end"]), track["ancestors"]
            children = track["start"] + 8
            drop = (b"uuid",)
            box = _v1_box(stereo, metadata_source)
        else:
            raise FOAError(f"spherical metadata version must be 1 or 2, got {version!r}")
        new = bytearray(buf)
        delta = 0
        for kind, s, head, e in reversed(list(_boxes(buf, children, parent[1]))):
            if kind in drop and (kind != b"uuid" or bytes(buf[s + head:s + head + 16]) == V1_UUID):
                del new[s:e]
                delta -= e - s
        at = parent[1] + delta
        new[at:at] = box
        delta += len(box)
        for start in ancestors + [parent[0]]:
            _add_to_size(new, start, delta)
        write_with_new_moov(fh, top, moov_start, new, delta, path_in, path_out)
    return path_out


def probe_layout(path, projection="auto", stereo="auto"):
    """The :class:`VideoLayout` of a video file: from its spherical metadata, else its aspect.

    ``projection`` / ``stereo`` ("auto" or one of :data:`PROJECTIONS` / :data:`STEREO_MODES`)
    force the layout (flags beat metadata). Without metadata, "auto" means mono equirect when
    the frame (one eye's, when ``stereo`` is forced) is 2:1 or 16:9 (YouTube's squeezed
    equirect); any other frame raises :class:`LayoutError` naming the file and the flags.
    Cached per (file, size, mtime).
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        raise LayoutError(f"{path}: no such file") from None
    return _probe_layout(str(path), st.st_size, st.st_mtime_ns, projection, stereo)


@lru_cache(maxsize=1024)
def _probe_layout(path, _size, _mtime, projection, stereo):
    import av

    for name, value, allowed in (("projection", projection, PROJECTIONS),
                                 ("stereo", stereo, STEREO_MODES)):
        if value != "auto" and value not in allowed:
            raise LayoutError(f"--{name} must be auto or one of {', '.join(allowed)}, "
                              f"got {value!r}")
    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise LayoutError(f"{path}: no video stream")
            ctx = c.streams.video[0].codec_context
            width, height = int(ctx.width), int(ctx.height)
    except av.error.FFmpegError as err:
        raise LayoutError(f"{path}: cannot open as a video ({err})") from None
    meta = read_spherical(path) if _is_iso_media(path) else None
    forced = projection != "auto" or stereo != "auto"
    pose = (0.0, 0.0, 0.0)
    if meta is not None:
        pose = meta["pose"]
        if projection == "auto":
            projection = meta["projection"]
            if projection not in PROJECTIONS:
                raise LayoutError(f"{path}: spherical metadata names projection "
                                  f"{projection!r}, which is not supported; pass --projection "
                                  f"({', '.join(PROJECTIONS)}) to override")
            if any(meta["crop"]):
                raise LayoutError(f"{path}: cropped equirect (equi bounds {meta['crop']}) is "
                                  "not supported; pass --projection equirect to use the frame "
                                  "as a full sphere")
        if stereo == "auto":
            stereo = meta["stereo"] or "mono"
    if stereo == "auto":
        if not _near_aspect(width, height):
            raise LayoutError(
                f"{path}: no spherical metadata and the {width}x{height} frame is neither 2:1 "
                "nor 16:9, so its layout is unknown; pass --stereo (mono, top-bottom, "
                "left-right) and --projection (equirect, eac, cubemap)")
        stereo = "mono"
    if projection == "auto":
        w, h = VideoLayout("equirect", stereo, width, height).eye_size
        if not _near_aspect(w, h):
            raise LayoutError(
                f"{path}: no spherical metadata and the {w}x{h} picture ({stereo}) is neither "
                "2:1 nor 16:9, so its projection is unknown; pass --projection (equirect, eac, "
                "cubemap)")
        projection = "equirect"
    source = ("flag" if forced else "aspect" if meta is None
              else "sv3d" if meta["version"] == 2 else "GSpherical")
    return VideoLayout(projection, stereo, width, height, source, pose)


def equirect_filter(layout, width=None):
    """The FFmpeg filter chain (a string for ``av.filter.Graph``, or "" for none) that turns
    ``layout`` frames into one eye's 2:1 equirect ``rgb24`` of ``width`` pixels (default
    :meth:`VideoLayout.equirect_size`): ``crop`` (+ ``scale``) for equirect, ``v360`` for
    cubemaps (bilinear, ``in_stereo`` picking the top / left eye)."""
    w, h = layout.equirect_size(width)
    steps = []
    if layout.projection == "equirect":
        if layout.stereo == "top-bottom":
            steps.append("crop=iw:ih/2:0:0")
        elif layout.stereo == "left-right":
            steps.append("crop=iw/2:ih:0:0")
        if layout.eye_size != (w, h):
            ew, eh = layout.eye_size
            flags = "area" if w <= ew and h <= eh else "bicubic"
            steps.append(f"scale={w}:{h}:flags={flags}")
    else:
        steps.append(f"v360=input={_V360_INPUT[layout.projection]}:output=e:w={w}:h={h}:"
                     f"in_stereo={_V360_STEREO[layout.stereo]}:out_stereo=2d:interp=linear")
    if not steps:
        return ""
    return ",".join(steps + ["format=rgb24"])


def equirect_graph(stream, layout, width=None):
    """A configured PyAV filter graph turning ``stream``'s frames into 2:1 equirect rgb24
    (:func:`equirect_filter`), or None when the frames are already that (then convert them with
    ``frame.to_ndarray(format="rgb24")``). Push a decoded frame, pull the converted one (one in,
    one out: the graph is cached and shared by later calls with the same input format)."""
    import av

    chain = equirect_filter(layout, width)
    if not chain:
        return None
    ctx = stream.codec_context
    key = (chain, ctx.width, ctx.height, ctx.format.name if ctx.format else None,
           stream.time_base)
    if key in _GRAPHS:        # v360 computes its remap tables when configured: ~0.7 s at 1600 px
        return _GRAPHS[key]
    graph = av.filter.Graph()
    src = graph.add_buffer(template=stream)
    nodes = [src]
    for step in chain.split(","):
        name, _, args = step.partition("=")
        nodes.append(graph.add(name, args))
    nodes.append(graph.add("buffersink"))
    graph.link_nodes(*nodes).configure()
    if len(_GRAPHS) >= 4:
        _GRAPHS.pop(next(iter(_GRAPHS)))
    _GRAPHS[key] = graph
    return graph


_GRAPHS = {}   # configured graphs by (chain, input size, pixel format, time base), per process


def read_equirect_frame(path, time=0.0, width=None, layout=None):
    """The video frame shown at ``time`` (s from the first frame) as 2:1 equirect uint8 RGB
    (H, W, 3), W = ``width`` (default :meth:`VideoLayout.equirect_size`), converted from the
    file's layout (``layout``: a :class:`VideoLayout`, default :func:`probe_layout`)."""
    import av

    path = Path(path)
    layout = probe_layout(path) if layout is None else layout
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as err:
        raise FOAError(f"{path}: cannot open as a video ({err})") from None
    with container:
        stream = container.streams.video[0]
        tb = stream.time_base
        t0 = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        time = max(0.0, float(time))
        if time > 0:
            container.seek(int((t0 + time) / tb), stream=stream, backward=True)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is not None and frame.time - t0 + 0.5 / rate > time:
                break
        if chosen is None:
            raise FOAError(f"{path}: no video frame at {time:.3f} s")
        graph = equirect_graph(stream, layout, width)
        if graph is None:
            return chosen.to_ndarray(format="rgb24")
        graph.push(chosen)
        return graph.pull().to_ndarray(format="rgb24")


def video_frame(path, time, width=1024):
    """The equirect frame (H, W, 3) of a media file at ``time`` s as
    :func:`read_equirect_frame` gives it, or None when the file has no video stream (audio-only
    files, cover art only) or is not a container FFmpeg reads."""
    import av

    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0] if c.streams.video else None
            if stream is None or stream.disposition & av.stream.Disposition.attached_pic:
                return None
    except av.error.FFmpegError:
        return None
    return read_equirect_frame(path, time, width)


def _near_aspect(width, height):
    a = width / height
    return any(abs(a - t) <= ASPECT_TOLERANCE * t for t in (2.0, 16.0 / 9.0))


def _is_iso_media(path):
    with open(path, "rb") as fh:
        head = fh.read(12)
    return len(head) == 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free",
                                             b"skip", b"uuid", b"pnot")


def _video_track(buf):
    """The first video track of a moov buffer: dict(start, end, ancestors, entry (start, end),
    entry_children, entry_ancestors), or None."""
    for kind, start, head, end in _boxes(buf, 8, len(buf)):
        if kind != b"trak":
            continue
        found = {}

        def walk(pos, stop, ancestors):
            for k, s, h, e in _boxes(buf, pos, stop):
                if k in _CONTAINERS:
                    if k == b"mdia" and _handler(buf, s + h, e) != b"vide":
                        return
                    walk(s + h, e, ancestors + [s])
                elif k == b"stsd" and "entry" not in found:
                    for ek, es, eh, ee in _boxes(buf, s + h + 8, e):
                        found.update(entry=(es, ee), entry_ancestors=ancestors + [s],
                                     entry_children=min(es + eh + _VISUAL_ENTRY_BYTES, ee))
                        break

        walk(start + head, end, [0, start])
        if "entry" in found:
            return dict(found, start=start, end=end, ancestors=[0])
    return None


def _parse_v2(buf, track, path):
    es, ee = track["entry"]
    stereo, sv3d = None, None
    for kind, s, h, e in _boxes(buf, track["entry_children"], ee):
        if kind == b"st3d" and e - s >= h + 5:
            mode = buf[s + h + 4]
            stereo = _ST3D.get(mode, f"st3d mode {mode}")
        elif kind == b"sv3d":
            sv3d = (s + h, e)
    if sv3d is None:
        return None if stereo is None else {
            "version": 2, "projection": "equirect", "stereo": stereo, "pose": (0.0, 0.0, 0.0),
            "crop": (0.0, 0.0, 0.0, 0.0), "cubemap": None, "metadata_source": ""}
    out = {"version": 2, "projection": None, "stereo": stereo, "pose": (0.0, 0.0, 0.0),
           "crop": (0.0, 0.0, 0.0, 0.0), "cubemap": None, "metadata_source": ""}
    for kind, s, h, e in _boxes(buf, *sv3d):
        if kind == b"svhd":
            out["metadata_source"] = bytes(buf[s + h + 4:e]).split(b"\0")[0].decode("utf-8",
                                                                                    "replace")
        elif kind == b"proj":
            for pk, ps, ph, pe in _boxes(buf, s + h, e):
                body = ps + ph + 4                     # after the full box's version/flags
                if pk == b"prhd" and pe - body >= 12:
                    out["pose"] = tuple(v / 65536.0 for v in struct.unpack_from(">3i", buf, body))
                elif pk == b"equi" and pe - body >= 16:
                    out["projection"] = "equirect"
                    out["crop"] = tuple(v / 2.0 ** 32 for v in struct.unpack_from(">4I", buf,
                                                                                   body))
                elif pk == b"cbmp" and pe - body >= 8:
                    out["projection"] = "cubemap"
                    out["cubemap"] = struct.unpack_from(">2I", buf, body)
                elif pk in (b"mshp", b"ytmp"):
                    out["projection"] = "eac"
                elif pk != b"prhd" and out["projection"] is None:
                    out["projection"] = pk.decode("latin-1")
    if out["projection"] is None:
        raise LayoutError(f"{path}: sv3d box without a projection box; pass --projection")
    if out["projection"] == "cubemap" and out["cubemap"] != (0, 0):
        raise LayoutError(f"{path}: cubemap layout/padding {out['cubemap']} is not supported "
                          "(only layout 0 without padding); pass --projection to override")
    return out


def _parse_v1(xml, path):
    text = xml.decode("utf-8", "replace")

    def tag(name):
        m = re.search(rf"<GSpherical:{name}>\s*([^<]*?)\s*</GSpherical:{name}>", text)
        return m.group(1) if m else None

    proj = tag("ProjectionType") or "equirectangular"
    stereo = tag("StereoMode")
    crop = (0.0, 0.0, 0.0, 0.0)
    full = [tag(k) for k in ("FullPanoWidthPixels", "CroppedAreaImageWidthPixels",
                             "FullPanoHeightPixels", "CroppedAreaImageHeightPixels")]
    if all(full) and (full[0] != full[1] or full[2] != full[3]):
        crop = (1.0, 1.0, 1.0, 1.0)      # cropped: marked, the exact bounds are not needed
    return {"version": 1, "projection": _V1_PROJECTION.get(proj.lower(), proj),
            "stereo": _V1_STEREO.get(stereo.lower(), stereo) if stereo else None,
            "pose": (0.0, 0.0, 0.0), "crop": crop, "cubemap": None,
            "metadata_source": tag("StitchingSoftware") or ""}


def _box(kind, payload):
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full_box(kind, payload):
    return _box(kind, b"\0\0\0\0" + payload)


def _st3d_box(stereo):
    return _full_box(b"st3d", bytes([{v: k for k, v in _ST3D.items()}[stereo]]))


def _sv3d_box(projection, pose, cubemap_layout, padding, source):
    svhd = _full_box(b"svhd", source.encode() + b"\0")
    prhd = _full_box(b"prhd", struct.pack(">3i", *(round(v * 65536) for v in pose)))
    if projection == "equirect":
        kind = _full_box(b"equi", struct.pack(">4I", 0, 0, 0, 0))
    elif projection == "cubemap":
        kind = _full_box(b"cbmp", struct.pack(">2I", cubemap_layout, padding))
    else:
        kind = _full_box(b"mshp", struct.pack(">I4s", 0, b"raw "))
    return _box(b"sv3d", svhd + _box(b"proj", prhd + kind))


def _v1_box(stereo, source):
    xml = ('<?xml version="1.0"?><rdf:SphericalVideo\n'
           'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"\n'
           'xmlns:GSpherical="http://ns.google.com/videos/1.0/spherical/">'
           "<GSpherical:Spherical>true</GSpherical:Spherical>"
           "<GSpherical:Stitched>true</GSpherical:Stitched>"
           f"<GSpherical:StitchingSoftware>{source}</GSpherical:StitchingSoftware>"
           "<GSpherical:ProjectionType>equirectangular</GSpherical:ProjectionType>"
           + (f"<GSpherical:StereoMode>{stereo}</GSpherical:StereoMode>"
              if stereo != "mono" else "") + "</rdf:SphericalVideo>")
    return _box(b"uuid", V1_UUID + xml.encode())
