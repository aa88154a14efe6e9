"""Reading equirectangular video frames and probing media files with PyAV (FFmpeg).

Frames are uint8 RGB arrays (T, H, W, 3) in the equirect convention of docs/conventions.md
(column W/2 = front, azimuth growing to the left, top row = zenith). A file's
:class:`VideoLayout` (projection: equirect of any aspect ratio, YouTube's EAC cubemap, the V2
``cbmp`` cubemap; stereo: mono, top-bottom, left-right) comes from :func:`probe_layout`;
:func:`iter_equirect_frames` and :func:`read_frames` convert any of them to one eye's 2:1
equirect through FFmpeg filters (``crop``, ``scale``, ``v360``) in PyAV. Times are seconds from the
first frame of the video stream. Audio is read by :func:`spatialfoa.read_audio`.
:func:`write_video` writes such a video (h264, optional multichannel AAC) as MP4.

>>> frames = read_frames("video/clip.mp4", start=2.0, n_frames=8, fps=16.0)   # doctest: +SKIP
>>> frames.shape                                                             # doctest: +SKIP
(8, 128, 256, 3)
"""
import contextlib
import os
from pathlib import Path

import numpy as np

from spatialfoa.spherical import VideoLayout  # noqa: F401  (public name here)
from spatialfoa.validation import FOAError

#: Container extensions searched for equirectangular videos.
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov")

#: FFmpeg channel layout :func:`write_video` gives AAC audio of each channel count by default.
#: 6 channels are "6.0" (FL FR FC BL BR BC), not "5.1": the encoder low-passes 5.1's LFE channel.
AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 6: "6.0"}


class VideoError(FOAError):
    """A media file that cannot be used: missing, corrupt, truncated, without a video stream,
    or without frames at the requested time. The message names the file."""


def probe_layout(path, projection="auto", stereo="auto"):
    """The :class:`VideoLayout` (projection, stereo mode, coded size) of a video file, from its
    spherical metadata (V2 ``sv3d``/``st3d`` boxes, V1 GSpherical XML), else from its 2:1 or 16:9
    aspect; ``projection``/``stereo`` force it. Raises :class:`VideoError` naming the file and
    the ``--projection``/``--stereo`` flag when the layout cannot be known (see
    :func:`spatialfoa.spherical.probe_layout`)."""
    from spatialfoa.spherical import probe_layout as probe

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    try:
        return probe(path, projection, stereo)
    except FOAError as err:
        raise VideoError(str(err)) from None


def iter_equirect_frames(path, *, fps, width=None, layout=None, start=0.0, duration=None,
                         size=None):
    """Frames at times ``start + k / fps`` (s) as 2:1 equirect uint8 RGB (width / 2, width, 3).

    ``layout``: a :class:`VideoLayout` (default :func:`probe_layout` of the file): equirect of
    any aspect ratio is rescaled to 2:1, stereo gives the top / left eye, cubemaps (EAC,
    ``cbmp``) are converted with FFmpeg's ``v360`` (bilinear), all in one PyAV filter graph run
    only on the frames picked. ``width`` (even, pixels) defaults to the eye's width (4 cube
    faces for cubemaps). ``size=(H, W)`` instead resizes the converted frame to exactly that
    (area interpolation). Each time gets the nearest decoded frame; one decoder thread; the
    stream stops after ``duration`` s (times up to one frame interval past the last frame
    then get the last frame) or, without ``duration``, at the end of the last frame. Raises
    :class:`VideoError` naming the file.

    >>> for frame in iter_equirect_frames("clip.mp4", fps=16, width=1024):  # doctest: +SKIP
    ...     frame.shape
    (512, 1024, 3)
    """
    path = Path(path)
    start, fps = float(start), float(fps)
    if not np.isfinite(start) or start < 0:
        raise VideoError(f"{path}: start must be a finite time >= 0 s, got {start}")
    if not np.isfinite(fps) or fps <= 0:
        raise VideoError(f"{path}: fps must be > 0, got {fps}")
    n = None
    if duration is not None:
        duration = float(duration)
        if not np.isfinite(duration) or duration <= 0:
            raise VideoError(f"{path}: duration must be > 0 s, got {duration}")
        n = max(1, int(np.ceil(duration * fps - 1e-9)))
    for _, frame in _frames_at(path, start, fps, n, layout, width, size):
        yield frame


def read_frames(path, start, n_frames=8, fps=16.0, size=None, *, width=None, layout=None,
                container=None, planes=False):
    """Frames at times ``start + i / fps`` (i < n_frames) of a video, uint8 RGB (T, H, W, 3),
    2:1 equirect converted from the file's layout as by :func:`iter_equirect_frames`.

    Without ``width``/``size`` a mono equirect file's frames come at their coded size (any
    aspect ratio: the pixel grid spans 360° x 180°, which :mod:`avsa_learn.data.equirect` and
    the detectors handle), other layouts at their :meth:`VideoLayout.equirect_size`.
    ``size=(H, W)`` resizes (area interpolation). PyAV seeks to the keyframe at or before
    ``start`` and decodes forward (one thread) only as far as needed. Times past the last frame
    by more than one frame interval are dropped, so T can be < n_frames when the video ends
    early; no frame at all raises :class:`VideoError` (as do missing, corrupt and video-less
    files), naming the file. ``container``: ``path`` already opened with ``av.open`` (left
    open: a caller reading many windows of one file skips the ~25 ms open and probe; pass
    ``layout`` too, else the file is probed again); None opens and closes the file.
    ``planes=True`` (no ``size``): the frames as the decoder gave them, a :class:`YUVFrames`
    (no RGB conversion, no copy; :func:`avsa_learn.data.equirect.gnomonic_crop` samples it),
    when they are 8-bit yuv420p with a colour matrix :func:`yuv_to_rgb_coefficients` knows
    (H.264 / avsa-prepare's output); else the RGB array as without it.

    >>> read_frames("clip.mp4", 0.0, n_frames=2, fps=4.0).shape   # doctest: +SKIP
    (2, 128, 256, 3)
    """
    path = Path(path)
    start = float(start)
    fps = float(fps)
    if not np.isfinite(start) or start < 0:
        raise VideoError(f"{path}: start must be a finite time >= 0 s, got {start}")
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise VideoError(f"{path}: n_frames must be a positive integer, got {n_frames!r}")
    if not np.isfinite(fps) or fps <= 0:
        raise VideoError(f"{path}: fps must be > 0, got {fps}")
    raw = planes and size is None
    frames = [f for _, f in _frames_at(path, start, fps, int(n_frames), layout, width, size,
                                       keep_coded=width is None, container=container,
                                       raw=raw)]
    if raw:
        if all(isinstance(f, np.ndarray) for f in frames):
            return np.stack(frames)
        if all(not isinstance(f, np.ndarray) for f in frames):
            return YUVFrames.from_frames(frames)
        frames = [f if isinstance(f, np.ndarray) else f.to_ndarray(format="rgb24")
                  for f in frames]
    return np.stack(frames)


def _frames_at(path, start, fps, n, layout, width, size, keep_coded=False, container=None,
               raw=False):
    """Yield (k, frame) for the target times start + k / fps, k < n (n None: to the end), from
    ``container`` (an open ``path``, left open) or a fresh open of ``path``. Frames are RGB
    arrays; with ``raw`` (no ``size``) the PyAV frames themselves when :class:`YUVFrames` can
    hold them."""
    import av
    from spatialfoa.spherical import equirect_graph

    resize = {}
    if size is not None:
        if len(size) != 2 or any(int(v) != v or v < 1 for v in size):
            raise VideoError(f"{path}: size must be (height, width) in pixels, got {size!r}")
        resize = {"height": int(size[0]), "width": int(size[1]), "interpolation": "AREA"}
    if width is not None and (int(width) != width or width < 2 or width % 2):
        raise VideoError(f"{path}: width must be an even number of pixels >= 2, got {width!r}")
    layout = probe_layout(path) if layout is None else layout
    plain = layout.projection == "equirect" and layout.stereo == "mono"
    if keep_coded and plain:
        width = None            # the coded grid as it is: no resampling
        graph_width = layout.width
    else:
        graph_width = width

    def target(m):
        return start + m / fps

    reused = container is not None
    with contextlib.nullcontext(container) if reused else _open(path) as container:
        stream = _video_stream(container, path)
        if not stream.codec_context.is_open:
            stream.codec_context.thread_count = 1   # callers (DataLoader workers) run in
            # parallel; decoder threads only add start-up and latency to short reads (4x here)
        graph = None if (keep_coded and plain) else equirect_graph(stream, layout, graph_width)
        cache = {}

        def convert(frame):
            if id(frame) not in cache:
                cache.clear()      # frames are picked in order: only the latest can repeat
                if graph is not None:
                    graph.push(frame)
                    out = graph.pull()
                else:
                    out = frame
                if raw and YUVFrames.holds(out):
                    cache[id(frame)] = (frame, out)
                else:
                    cache[id(frame)] = (frame, out.to_ndarray(format="rgb24", **resize))
            return cache[id(frame)][1]

        tb = stream.time_base
        t0 = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        rate = float(stream.average_rate or stream.guessed_rate or 0) or None
        if start > 0 or reused:           # an open container may be anywhere in the file
            try:
                container.seek(int((t0 + start) / tb), stream=stream, backward=True)
            except av.error.FFmpegError:
                container.seek(0, stream=stream)
        prev = prev_t = None
        m = 0
        done = False
        try:
            for frame in container.decode(stream):
                t = (frame.time - t0) if frame.time is not None else (
                    prev_t + 1.0 / (rate or fps) if prev_t is not None else 0.0)
                while (n is None or m < n) and target(m) <= t:
                    use_prev = prev is not None and target(m) - prev_t <= t - target(m)
                    yield m, convert(prev if use_prev else frame)
                    m += 1
                if n is not None and m == n:
                    done = True
                    break
                prev, prev_t = frame, t
        except av.error.FFmpegError as err:
            if m == 0 and prev is None:
                raise VideoError(f"{path}: cannot decode video (corrupt or truncated): "
                                 f"{err}") from None
        if not done and prev is not None:         # the video ended before the last time
            step = 1.0 / rate if rate else 1.0 / fps
            while (m < n and target(m) <= prev_t + step if n is not None
                   else target(m) < prev_t + step - 1e-9):
                yield m, convert(prev)
                m += 1
        if m == 0:
            end = f"{prev_t:.3f} s" if prev_t is not None else "nothing"
            raise VideoError(f"{path}: no video frame at {start:.3f} s (the last decoded "
                             f"frame is at {end})")

#: (Kr, Kb) of the YUV -> RGB matrix by a frame's FFmpeg colorspace tag (AVColorSpace), as
#: FFmpeg's own rgb24 conversion (swscale, via PyAV's ``to_ndarray``) reads them: unspecified
#: (2) is BT.601, like BT470BG (5) and SMPTE170M (6); BT.709 (1); BT.2020 (9, 10). Frames with
#: another tag are converted by FFmpeg.
YUV_MATRICES = {1: (0.2126, 0.0722), 2: (0.299, 0.114), 5: (0.299, 0.114), 6: (0.299, 0.114),
                9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}


def yuv_to_rgb_coefficients(colorspace=2, full_range=False):
    """float32 (6,) coefficients (ys, y0, rv, gu, gv, bu) of the YUV -> RGB map of 8-bit video:
    ``R = ys (Y - y0) + rv (V - 128)``, ``G = ys (Y - y0) - gu (U - 128) - gv (V - 128)``,
    ``B = ys (Y - y0) + bu (U - 128)``, for a colorspace tag of :data:`YUV_MATRICES` and limited
    ("tv", Y in 16..235; the default) or full ("pc", JPEG) range."""
    kr, kb = YUV_MATRICES[int(colorspace)]
    kg = 1.0 - kr - kb
    ys, y0, c = (1.0, 0.0, 1.0) if full_range else (255.0 / 219.0, 16.0, 255.0 / 224.0)
    return np.array([ys, y0, 2.0 * (1.0 - kr) * c, 2.0 * (1.0 - kb) * kb / kg * c,
                     2.0 * (1.0 - kr) * kr / kg * c, 2.0 * (1.0 - kb) * c], np.float32)


class YUVFrames:
    """T decoded 8-bit yuv420p frames of one size kept as the decoder's planes: no RGB
    conversion and no copy (a 1600x800 frame is 1.9 MB of planes against 3.8 MB of RGB plus the
    time to convert it). What :func:`read_frames` gives with ``planes=True``.

    ``y``, ``u``, ``v``: tuples of T uint8 arrays (H, line), (ceil(H/2), line_c), the planes
    with their line padding (pixels beyond ``width`` / ceil(width/2) are not picture);
    ``coefficients``: :func:`yuv_to_rgb_coefficients` of the frames' colorspace and range.
    ``shape`` is that of the RGB frames, (T, H, W, 3). Chroma is read as FFmpeg's rgb24
    conversion reads it: each chroma sample covers its 2x2 luma pixels.
    """

    def __init__(self, y, u, v, width, coefficients):
        self.y, self.u, self.v = tuple(y), tuple(u), tuple(v)
        self.width = int(width)
        self.coefficients = np.asarray(coefficients, np.float32)

    @staticmethod
    def holds(frame):
        """Whether a PyAV VideoFrame can be kept as planes (8-bit 4:2:0, known matrix)."""
        return (frame.format.name in ("yuv420p", "yuvj420p")
                and int(frame.colorspace) in YUV_MATRICES)

    @classmethod
    def from_frames(cls, frames):
        """From PyAV VideoFrames of one size and colour tags that :meth:`holds` accepts (the
        planes are views of the frames' buffers, which they keep alive)."""
        first = frames[0]
        full = first.format.name == "yuvj420p" or int(first.color_range) == 2
        planes = [[np.frombuffer(p, np.uint8).reshape(-1, p.line_size) for p in f.planes[:3]]
                  for f in frames]
        y, u, v = zip(*planes)
        return cls(y, u, v, first.width, yuv_to_rgb_coefficients(first.colorspace, full))

    @property
    def shape(self):
        return (len(self.y), self.y[0].shape[0], self.width, 3) if self.y else (0, 0, 0, 3)

    def __len__(self):
        return len(self.y)

    def padded(self, n):
        """The frames followed by copies of the last one up to ``n`` frames (shared planes)."""
        extra = max(0, n - len(self))
        return YUVFrames(self.y + self.y[-1:] * extra, self.u + self.u[-1:] * extra,
                         self.v + self.v[-1:] * extra, self.width, self.coefficients)

    def to_rgb(self):
        """uint8 RGB (T, H, W, 3), converted as :func:`avsa_learn.data.equirect.gnomonic_crop`
        converts the pixels it samples (within ~2 levels of FFmpeg's rgb24 conversion)."""
        from avsa_learn.data.equirect import yuv_to_rgb

        out = np.empty(self.shape, np.uint8)
        for n in range(len(self)):
            yuv_to_rgb(self.y[n], self.u[n], self.v[n], self.coefficients, out[n])
        return out


def write_video(path, frames, fps, audio=None, sample_rate=None, layout=None, *, crf=20,
                gop=None, tune=None, bframes=None, faststart=False, atomic=False):
    """Write an MP4: h264 video (yuv420p) and, optionally, AAC audio with its channels in order.

    ``frames``: uint8 RGB frames (T, H, W, 3), an array or any iterable of (H, W, 3) arrays
    (H and W even, taken from the first frame), frame k at ``k / fps`` s. ``fps``: frames per
    second (a float is stored as a fraction with denominator <= 1001). Video: libx264, preset
    veryfast, one thread, quality ``crf`` (20 default; 0 = lossless after the yuv420p conversion,
    which halves the chroma resolution), a keyframe every ``gop`` frames (default: every second),
    x264 ``tune`` (e.g. "fastdecode": no CABAC, no deblocking; decodes ~1.9x faster for ~20 %
    more bytes at 1600x800, benchmarks/bench_datasets.py), ``bframes`` the most consecutive
    B-frames (None: x264's default, 3; 0: decode order = display order, so a window that starts
    on a keyframe decodes exactly its frames).

    ``audio``: float32 (channels, samples) at ``sample_rate`` Hz, roughly within [-1, 1],
    encoded as AAC at 64 kb/s per channel with FFmpeg channel ``layout`` (default from the
    channel count, :data:`AAC_LAYOUTS`: "mono", "stereo", "3.0", "quad", "6.0"); channel i of
    the array is channel i of the file, so spatial (e.g. ambiX) audio keeps its order. Encoder
    options ``aac_coder=fast``, ``aac_is=0``, ``aac_pns=0``: intensity stereo and perceptual
    noise substitution replace a channel pair's signals in some bands by copies or by new noise,
    which destroys the inter-channel (spatial) cues; the fast coder is ~3x quicker than the
    default and keeps ~18 dB SNR per channel below 4 kHz.

    The container is MP4 whatever the suffix, index ("moov") at the end unless
    ``faststart=True``. ``atomic=True`` writes ``path + ".part"`` and renames it over ``path``,
    so an interrupted write leaves no partial file under the final name. Returns ``path``.

    >>> write_video("clip.mp4", np.zeros((16, 128, 256, 3), np.uint8), 16,
    ...             np.zeros((4, 24000), np.float32), 24000)          # doctest: +SKIP
    PosixPath('clip.mp4')
    """
    import av
    from fractions import Fraction

    path = Path(path)
    frames = iter(frames)
    try:
        first = np.asarray(next(frames))
    except StopIteration:
        raise ValueError(f"{path}: no frames to write") from None
    if first.dtype != np.uint8 or first.ndim != 3 or first.shape[2] != 3:
        raise ValueError(f"{path}: frames must be uint8 RGB (H, W, 3), got {first.dtype} "
                         f"{first.shape}")
    if audio is not None:
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim != 2:
            raise ValueError(f"{path}: audio must be (channels, samples), got {audio.shape}")
        if sample_rate is None:
            raise ValueError(f"{path}: audio needs a sample_rate")
        if layout is None:
            if audio.shape[0] not in AAC_LAYOUTS:
                raise ValueError(f"{path}: no default layout for {audio.shape[0]} channels; "
                                 "pass layout=")
            layout = AAC_LAYOUTS[audio.shape[0]]
    rate = Fraction(fps).limit_denominator(1001)
    gop = max(1, round(float(fps))) if gop is None else int(gop)
    target = path.with_name(path.name + ".part") if atomic else path
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(target), "w", format="mp4", options=options) as out:
        vs = out.add_stream("libx264", rate=rate, options={
            "crf": str(crf), "preset": "veryfast", "g": str(gop), "threads": "1",
            **({"tune": str(tune)} if tune else {}),
            **({"bf": str(int(bframes))} if bframes is not None else {})})
        vs.width, vs.height, vs.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        if audio is not None:
            sr = int(sample_rate)
            a = out.add_stream("aac", rate=sr, layout=layout, options={
                "aac_coder": "fast", "aac_is": "0", "aac_pns": "0"})
            a.bit_rate = 64000 * audio.shape[0]
            for i in range(0, audio.shape[1], 1024):
                fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[:, i:i + 1024]),
                                                format="fltp", layout=layout)
                fr.sample_rate, fr.pts = sr, i
                for p in a.encode(fr):
                    out.mux(p)
            for p in a.encode():
                out.mux(p)
        for k, img in enumerate(_chain(first, frames)):
            fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            fr.pts = k
            for p in vs.encode(fr):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    if atomic:
        os.replace(target, path)
    return path


def _chain(first, rest):
    yield first
    yield from rest


def probe_video(path):
    """Stream facts of a video file without decoding it.

    Returns dict(width, height, fps, duration (s, video stream), has_audio, audio_channels,
    audio_rate, audio_codec); the audio fields are 0 / None without an audio stream. Raises
    :class:`VideoError` naming the file when it is missing, unreadable or has no video stream.

    >>> probe_video("clip.mp4")["width"]   # doctest: +SKIP
    256
    """
    path = Path(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        ctx = stream.codec_context
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        info = {"width": int(ctx.width), "height": int(ctx.height), "fps": rate,
                "duration": _duration(container, stream, path)}
        info.update(_audio_facts(container))
    if info["width"] <= 0 or info["height"] <= 0:
        raise VideoError(f"{path}: the video stream has no frame size")
    return info


def probe_audio(path):
    """Facts of a media file's first audio stream: dict(has_audio, audio_channels, audio_rate,
    audio_codec, audio_duration (s or None)). Raises :class:`VideoError` naming the file when it
    is missing or unreadable (a file without audio gives has_audio False)."""
    path = Path(path)
    with _open(path) as container:
        return _audio_facts(container)


def _audio_facts(container):
    if not container.streams.audio:
        return {"has_audio": False, "audio_channels": 0, "audio_rate": None,
                "audio_codec": None, "audio_duration": None}
    a = container.streams.audio[0]
    duration = None
    if a.duration is not None and a.time_base is not None:
        duration = float(a.duration * a.time_base)
    elif container.duration is not None:
        duration = container.duration / 1e6
    return {"has_audio": True, "audio_channels": int(a.codec_context.channels),
            "audio_rate": int(a.codec_context.sample_rate or a.rate or 0) or None,
            "audio_codec": a.codec_context.name, "audio_duration": duration}


def _duration(container, stream, path):
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6
    if stream.frames and stream.average_rate:
        return stream.frames / float(stream.average_rate)
    raise VideoError(f"{path}: the video duration is unknown")


def _open(path):
    import av

    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
    try:
        return av.open(str(path))
    except Exception as err:                  # FFmpeg errors come in many classes
        raise VideoError(f"{path}: cannot open as a media file (corrupt, truncated before its "
                         f"index, or not media): {err}") from None


def _video_stream(container, path):
    if not container.streams.video:
        kinds = ", ".join(s.type for s in container.streams) or "no streams"
        raise VideoError(f"{path}: no video stream (the file has {kinds})")
    return container.streams.video[0]
