"""The clip index: a folder of equirectangular 360° videos with FOA audio -> clip records (JSONL).

One :class:`ClipRecord` per line. Paths inside the index's folder are stored relative to it
(portable); :func:`load_index` returns them absolute. The train/test split is by video: every
clip of a video is on the same side (a video is "test" when a hash of (seed, video_id) falls
below ``test_fraction``, so a video keeps its side when the folder grows).

Audio, in the video file or beside it (``video/ID.mp4`` + ``audio/ID.m4a|.wav|.flac``, as YT-360
is distributed), is read with :func:`spatialfoa.read_audio` and mapped to ambiX (ACN W, Y, Z, X;
SN3D) with the record's ``layout`` (a :data:`spatialfoa.formats.LAYOUTS` name). ``layout="auto"``
takes 4 channels as "ambix", 6-channel AAC as a YouTube download "youtube-aac-6ch" (decoded
[X, Y, W, -, Z, -]) and other 6-channel audio as "ambix-6ch" (W, Y, Z, X, L, R); any other
channel count is rejected. Per clip it stores the loudness of W (dBFS), the paper's energy ratio
E_xyz/E_w below 4 kHz and whether the clip passes |ratio - 1| <= 0.1 (Eq. 13, via
:func:`spatialfoa.check.check_array`, which also fails stereo padded with silent channels).

>>> records = build_index("yt360/", "yt360/index.jsonl", validity="pass", jobs=2)  # doctest: +SKIP
>>> records = load_index("yt360/index.jsonl")                                     # doctest: +SKIP
"""
import argparse
import functools
import hashlib
import json
import math
import os
import sys
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from avsa_learn.data.video import (VIDEO_EXTENSIONS, VideoError, probe_audio, probe_layout,
                                   probe_video, read_frames)
from avsa_learn.engine import Engine, add_engine_arguments, engine_from_args
from spatialfoa.validation import FOAError

#: Audio files looked for beside a video without usable audio, in this order.
AUDIO_EXTENSIONS = (".m4a", ".wav", ".flac", ".opus", ".ogg", ".mka", ".webm", ".mp4")
VALIDITY = (None, "pass", "fail")
TAU = 0.1                 # Eq. 13 threshold
CUTOFF = 4000.0           # Hz, low-pass before the energy test
HORIZONTAL_DB = -40.0     # Z this far below W (power, dB): a horizontal-only file (silent Z)
END_TOLERANCE = 0.05      # s: a clip may end this much after the shorter stream


class IndexingError(FOAError):
    """A video that cannot be indexed; the message names the file and the reason."""


@dataclass
class ClipRecord:
    """One clip of the index (see docs/data.md).

    ``clip_id`` unique ("VIDEOID_0003": the clip's position in its video), ``video_id``,
    ``video_path``/``audio_path`` (the same file when the audio is in the video), ``start`` and
    ``duration`` (s), ``split`` ("train"/"test", by video), ``layout`` (spatialfoa layout name
    giving ambiX), ``sample_rate`` (Hz, of the file), ``energy_ratio`` (E_xyz/E_w below 4 kHz,
    None when it cannot be computed), ``passes`` (Eq. 13 with tau = 0.1), ``loudness_db``
    (mean power of W, dBFS), ``gt_path`` (synthetic ground-truth JSON or None) and
    ``audio_kind`` (what the audio really is when known, synthetic data only: "ambix",
    "stereo-padded", "fuma", "youtube-aac-6ch"; "" for real data), ``projection`` and
    ``stereo`` (the video's frame layout, :func:`avsa_learn.data.video.probe_layout`; pass
    them to ``read_frames(layout=...)``) and ``horizontal_only`` (Z is silent, more than 40 dB
    below W: a first-order file without height; its energy ratio is not ~1).
    """

    clip_id: str
    video_id: str
    video_path: str
    audio_path: str
    start: float
    duration: float
    split: str
    layout: str
    sample_rate: int
    energy_ratio: float | None
    passes: bool | None
    loudness_db: float
    gt_path: str | None = None
    audio_kind: str = ""
    projection: str = "equirect"
    stereo: str = "mono"
    horizontal_only: bool = False


_FIELDS = tuple(f.name for f in fields(ClipRecord))
_REQUIRED = tuple(f.name for f in fields(ClipRecord) if f.default is MISSING)
_PATHS = ("video_path", "audio_path", "gt_path")


def load_index(path, resolve=True):
    """Read a JSONL index -> list of :class:`ClipRecord`.

    Relative paths are made absolute against the index's folder (``resolve=False`` keeps them
    as stored). Unknown keys are ignored; a missing key or a bad line raises
    :class:`~spatialfoa.validation.FOAError` naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FOAError(f"{path}: no such index file")
    records = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as err:
                raise FOAError(f"{path}:{lineno}: not JSON ({err})") from None
            missing = [k for k in _REQUIRED if k not in d]
            if missing:
                raise FOAError(f"{path}:{lineno}: missing {', '.join(missing)}")
            records.append(ClipRecord(**{k: d[k] for k in _FIELDS if k in d}))
    return resolve_paths(records, path.parent) if resolve else records


def write_index(path, records):
    """Write records to a JSONL index atomically (temporary file + rename), one per line.

    Paths inside the index's folder are written relative to it, others absolute; relative
    paths in ``records`` are taken as relative to that folder (as stored).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")   # one per writing process
    tmp.write_text(index_text(path, records))
    os.replace(tmp, path)


def index_text(path, records):
    """The JSONL text :func:`write_index` writes for ``records`` at ``path``."""
    return "".join(_record_line(r, Path(path).parent) for r in records)


def resolve_paths(records, root):
    """Records with their relative paths joined to ``root`` (absolute paths are kept)."""
    root = Path(os.path.abspath(root))
    out = []
    for r in records:
        changes = {k: str(root / getattr(r, k)) for k in _PATHS
                   if getattr(r, k) is not None and not os.path.isabs(getattr(r, k))}
        out.append(replace(r, **changes))
    return out


def select_validity(records, validity=None):
    """The records kept by the paper's Table I filter: None all, "pass" those passing Eq. 13,
    "fail" the others (including clips whose ratio could not be computed)."""
    if validity not in VALIDITY:
        raise FOAError(f"validity must be one of None, 'pass', 'fail', got {validity!r}")
    if validity is None:
        return list(records)
    want = validity == "pass"
    return [r for r in records if bool(r.passes) == want]


def split_of(video_id, test_fraction=0.2, seed=0):
    """"test" when a hash of (seed, video_id) is below ``test_fraction``, else "train"."""
    h = hashlib.sha256(f"{seed}:{video_id}".encode()).hexdigest()
    return "test" if int(h[:13], 16) / 16 ** 13 < test_fraction else "train"


def resolve_layout(channels, codec, layout="auto"):
    """The spatialfoa layout name of an audio stream, or raise IndexingError (see module doc)."""
    if channels in (1, 2, 3):
        kind = {1: "mono", 2: "stereo", 3: "3-channel"}[channels]
        raise IndexingError(f"{channels}-channel ({kind}) audio is not first-order Ambisonics "
                            "(4 channels, or 6 for a YouTube AAC download, expected)")
    if layout != "auto":
        return layout
    if channels == 4:
        return "ambix"
    if channels == 6:
        return "youtube-aac-6ch" if codec == "aac" else "ambix-6ch"
    raise IndexingError(f"{channels}-channel audio is not first-order Ambisonics "
                        "(4 channels, or 6 for a YouTube AAC download, expected)")


def clip_audio_stats(x, sr):
    """(loudness_db, energy_ratio or None, passes) of ambiX audio (4, n) at ``sr`` Hz.

    Loudness is 10 log10 of the mean power of W (dBFS, floored at -120 dB); the ratio and the
    verdict come from :func:`spatialfoa.check.check_array` (tau 0.1, 4 kHz low-pass).
    """
    from spatialfoa.check import check_array

    loudness = 10.0 * math.log10(float(np.mean(np.square(x[0], dtype=np.float64))) + 1e-12)
    result = check_array(x, sr, tau=TAU, cutoff=CUTOFF, layout="ambix")
    return loudness, result.ratio, bool(result.passes)


def find_audio(video_path):
    """The separate audio file of a video (``../audio/ID.*``, ``audio/ID.*`` or ``ID.*`` beside
    it, extensions :data:`AUDIO_EXTENSIONS`), or None. Looked up beside ``video_path`` as
    given: a symlinked video finds the audio next to the link, not next to its target."""
    video_path = Path(os.path.abspath(video_path))
    for folder in (video_path.parent.parent / "audio", video_path.parent / "audio",
                   video_path.parent):
        for ext in AUDIO_EXTENSIONS:
            p = folder / (video_path.stem + ext)
            if p.is_file() and p.resolve() != video_path.resolve():
                return p
    return None


def find_videos(root):
    """Sorted video files under ``root`` (recursively, skipping folders named "audio")."""
    root = Path(root)
    if not root.is_dir():
        raise FOAError(f"{root}: not a folder")
    found = [p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS
             and p.is_file() and "audio" not in p.relative_to(root).parts[:-1]]
    return sorted(found)


def read_segments(path):
    """Allowed segments from a list file: lines "VIDEOID_START" or "VIDEOID,start" (seconds;
    blank lines and lines starting with # ignored) -> dict video_id -> sorted starts."""
    segments = {}
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            vid, sep, start = line.partition(",")
            if not sep:
                vid, sep, start = line.rpartition("_")
            try:
                t = float(start.split(",")[0])
            except ValueError:
                t = float("nan")
            if not sep or not vid or not math.isfinite(t) or t < 0:
                raise FOAError(f"{path}:{lineno}: expected VIDEOID_START or VIDEOID,start, "
                               f"got {line!r}")
            segments.setdefault(vid.strip(), set()).add(t)
    return {k: sorted(v) for k, v in segments.items()}


def index_video(video_path, video_id=None, clip_seconds=10.0, min_loudness_db=-50.0,
                starts=None, layout="auto", projection="auto", stereo="auto"):
    """Clip records (split and paths left to the caller) of one video, or raise IndexingError.

    Clips of ``clip_seconds`` start every ``clip_seconds`` (the last partial clip is dropped)
    or at ``starts`` (seconds); those quieter than ``min_loudness_db`` are dropped. The video's
    frame layout must be known (spherical metadata, a 2:1 or 16:9 frame, or ``projection`` /
    ``stereo`` forced: :func:`avsa_learn.data.video.probe_layout`), the video decodable at its
    first and last clip, with 4 or 6 audio channels. Returns (records, n_dropped_quiet).
    """
    from spatialfoa.audio_io import read_audio

    video_path = Path(os.path.abspath(video_path))    # not resolved: audio/ID.* is beside links
    video_id = video_id or video_path.stem
    try:
        v = probe_video(video_path)
        frame_layout = probe_layout(video_path, projection, stereo)
    except VideoError as err:
        raise IndexingError(str(err)) from None
    audio_path = find_audio(video_path)
    where = f"{video_path}"
    if audio_path is not None:
        try:
            a = probe_audio(audio_path)
        except VideoError as err:
            raise IndexingError(str(err)) from None
        where = f"{audio_path}"
        if not a["has_audio"]:
            raise IndexingError(f"{audio_path}: no audio stream")
    elif v["has_audio"]:
        a, audio_path = v, video_path
    else:
        raise IndexingError(f"{video_path}: no audio stream, and no audio/{video_id}.m4a|wav|"
                            "flac beside it")
    try:
        layout = resolve_layout(a["audio_channels"], a["audio_codec"], layout)
    except IndexingError as err:
        raise IndexingError(f"{where}: {err}") from None
    duration = min(v["duration"], a["audio_duration"] or v["duration"])
    if starts is None:
        n = int(math.floor((duration + END_TOLERANCE) / clip_seconds))
        starts = [k * clip_seconds for k in range(n)]
        if not starts:
            raise IndexingError(f"{video_path}: shorter than one clip ({duration:.2f} s < "
                                f"{clip_seconds:g} s)")
    else:
        listed = starts
        starts = [s for s in starts if s + clip_seconds <= duration + END_TOLERANCE]
        if not starts:
            raise IndexingError(f"{video_path}: no listed segment ({', '.join(map(str, listed))}"
                                f" s) fits in its {duration:.2f} s")
    try:      # the first and last clips must decode (catches truncated files)
        read_frames(video_path, starts[0], n_frames=1, layout=frame_layout)
        step = 1.0 / v["fps"] if v["fps"] else 0.1
        last = max(starts[0], starts[-1] + clip_seconds - 2 * step)
        if len(read_frames(video_path, last, n_frames=1, layout=frame_layout)) == 0:
            raise VideoError(f"{video_path}: no frame at {last:.2f} s")
    except VideoError as err:
        raise IndexingError(f"{err} (truncated or corrupt video)") from None
    records, quiet = [], 0
    for k, start in enumerate(starts):
        try:
            x, sr, info = read_audio(audio_path, layout=layout, offset=start,
                                     max_seconds=clip_seconds)
        except FOAError as err:
            raise IndexingError(f"{err} (clip at {start:g} s)") from None
        if info["warnings"] or x.shape[1] < round(clip_seconds * sr) - END_TOLERANCE * sr:
            why = "; ".join(info["warnings"]) or f"{x.shape[1] / sr:.2f} s of audio"
            raise IndexingError(f"{audio_path}: truncated audio at the clip starting at "
                                f"{start:g} s ({why})")
        loudness, ratio, passes = clip_audio_stats(x, sr)
        horizontal = bool(_power_db(x[2]) < _power_db(x[0]) + HORIZONTAL_DB)
        if loudness < min_loudness_db:
            quiet += 1
            continue
        records.append(ClipRecord(
            clip_id=f"{video_id}_{k:04d}", video_id=video_id, video_path=str(video_path),
            audio_path=str(audio_path), start=float(start), duration=float(clip_seconds),
            split="", layout=layout, sample_rate=int(sr),
            energy_ratio=None if ratio is None else round(float(ratio), 6), passes=passes,
            loudness_db=round(loudness, 3), projection=frame_layout.projection,
            stereo=frame_layout.stereo, horizontal_only=horizontal))
    return records, quiet


def _power_db(x):
    return 10.0 * math.log10(float(np.mean(np.square(x, dtype=np.float64))) + 1e-30)


def build_index(root, out, clip_seconds=10.0, min_loudness_db=-50.0, validity=None,
                segments=None, test_fraction=0.2, seed=0, jobs=1, layout="auto", progress=True,
                projection="auto", stereo="auto", retry_failed=False, stats=None, engine=None):
    """Index the equirectangular videos under ``root`` into the JSONL file ``out``.

    See the module doc for layouts and the per-clip statistics. ``validity`` None / "pass" /
    "fail" keeps all clips / those passing Eq. 13 / the others (the statistics are stored in
    every record either way). ``segments`` is a list file of allowed "VIDEOID_START" or
    "VIDEOID,start" segments (e.g. YT-360's list): only those clips are indexed.
    Bad videos (no audio, 1-3 channels, not 2:1, unreadable, truncated, shorter than a clip)
    are reported on stderr and in ``<out>.errors.jsonl`` ({"video_id", "path", "reason",
    "options", "stamp"}), together with videos whose clips were all filtered out, and skipped.
    ``projection`` / ``stereo`` force the frame layout of videos without spherical metadata
    (:func:`avsa_learn.data.video.probe_layout`). Resumable: videos already in ``out`` are
    skipped; videos in the errors file are skipped too unless ``retry_failed``, the file (or its
    audio) changed since, or the options that matter (layouts, clip length, loudness floor,
    validity) differ; new records are appended as each video finishes; at the end the index is
    rewritten sorted by clip_id. Paths are kept as found (symlinks are not resolved, so a linked
    ``video/ID.mp4`` finds ``audio/ID.*`` beside the link). ``jobs`` worker processes, or an
    :class:`avsa_learn.engine.Engine` (e.g. Ray) as ``engine``. ``stats`` (a dict, optional) is filled with counts: videos, done_before, failed_before (skipped),
    retried, failed, indexed (videos with clips this run). Returns the list of records (paths
    absolute).
    """
    from tqdm import tqdm

    if validity not in VALIDITY:
        raise FOAError(f"validity must be one of None, 'pass', 'fail', got {validity!r}")
    if not clip_seconds > 0:
        raise FOAError(f"clip_seconds must be > 0, got {clip_seconds}")
    if not 0 <= test_fraction <= 1:
        raise FOAError(f"test_fraction must be in [0, 1], got {test_fraction}")
    root, out = Path(os.path.abspath(root)), Path(os.path.abspath(out))
    errors_path = out.with_name(out.stem + ".errors.jsonl")
    allowed = read_segments(segments) if segments is not None else None
    videos, seen, duplicates = [], set(), []
    for p in find_videos(root):
        if p.stem in seen:
            duplicates.append(p)
            continue
        seen.add(p.stem)
        if allowed is None or p.stem in allowed:
            videos.append(p)
    options = {"clip_seconds": clip_seconds, "min_loudness_db": min_loudness_db,
               "validity": validity, "layout": layout, "projection": projection,
               "stereo": stereo}
    done = set()
    if out.exists():                  # resume: keep complete lines (a killed run may leave half)
        write_index(out, [ClipRecord(**{k: d[k] for k in _FIELDS if k in d})
                          for d in _complete_lines(out)])
        done = {r.video_id for r in load_index(out, resolve=False)}
    counts = {"videos": len(videos), "done_before": len(done & {p.stem for p in videos}),
              "failed_before": 0, "retried": 0, "failed": 0, "indexed": 0}
    failed_before = set()
    if errors_path.exists():
        by_path = {p.stem: p for p in videos}
        kept = []
        for d in _complete_lines(errors_path):
            p = by_path.get(d["video_id"])
            if d["video_id"] in done:
                continue                                  # indexed since: the error is stale
            if p is not None and (retry_failed or d.get("options") != options
                                  or d.get("stamp") != source_stamp(p)):
                counts["retried"] += 1                    # retried: its old report goes
                continue
            kept.append(d)
            failed_before.add(d["video_id"])
        errors_path.write_text("".join(json.dumps(d) + "\n" for d in kept))
        counts["failed_before"] = len(failed_before & set(by_path))
    done |= failed_before
    todo = [p for p in videos if p.stem not in done]

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as index_fh, open(errors_path, "a") as err_fh:
        def report(video_id, path, reason):
            counts["failed"] += 1
            err_fh.write(json.dumps({"video_id": video_id, "path": str(path), "reason": reason,
                                     "options": options, "stamp": source_stamp(path)}) + "\n")
            err_fh.flush()
            tqdm.write(f"avsa-index: skipped: {reason}", file=sys.stderr)

        for p in duplicates:
            if p.stem not in done:
                report(p.stem, p, f"{p}: duplicate video id {p.stem!r} (another file has it)")

        def finish(p, result):
            if isinstance(result, Exception):
                report(p.stem, p, str(result))
                return
            records, quiet = result
            kept = [replace(r, split=split_of(r.video_id, test_fraction, seed))
                    for r in select_validity(records, validity)]
            if not kept:
                why = (f"{quiet} clip(s) quieter than {min_loudness_db:g} dB" if quiet else "")
                if len(records):
                    why += (", " if why else "") + f"{len(records)} clip(s) not '{validity}'"
                report(p.stem, p, f"{p}: no clip kept ({why})")
                return
            for r in kept:
                index_fh.write(_record_line(r, out.parent))
            index_fh.flush()
            counts["indexed"] += 1

        kwargs = dict(clip_seconds=clip_seconds, min_loudness_db=min_loudness_db, layout=layout,
                      projection=projection, stereo=stereo)
        engine = engine or Engine("local", jobs=jobs, progress=progress)
        work = functools.partial(_index_one, allowed=allowed, kwargs=kwargs)
        for p, result in engine.map(work, todo, desc="avsa-index", unit="video"):
            finish(p, result)
    records = sorted(load_index(out, resolve=False), key=lambda r: r.clip_id)
    write_index(out, records)
    if stats is not None:
        stats.update(counts)
    return resolve_paths(records, out.parent)


def source_stamp(path):
    """(size, mtime_ns) of a video and of its separate audio file: a change means retry."""
    out = []
    for p in (Path(path), find_audio(path)):
        try:
            st = p.stat() if p is not None else None
        except OSError:
            st = None
        out.append([st.st_size, st.st_mtime_ns] if st is not None else None)
    return out


def summary_line(records, stats, out, errors_path=None):
    """The one-line summary ``avsa-index`` prints, saying why when no clip was indexed."""
    n_test = sum(r.split == "test" for r in records)
    line = (f"avsa-index: {len(records)} clips ({n_test} test) of "
            f"{len({r.video_id for r in records})} videos in {out}")
    errors_path = errors_path or Path(out).with_name(Path(out).stem + ".errors.jsonl")
    notes = []
    if stats.get("failed"):
        notes.append(f"{stats['failed']} video(s) failed now (reasons in {errors_path})")
    if stats.get("failed_before"):
        notes.append(f"{stats['failed_before']} video(s) that failed before were not retried "
                     f"(reasons in {errors_path}; --retry-failed retries them)")
    if stats.get("retried"):
        notes.append(f"{stats['retried']} video(s) that failed before were retried")
    if not records and not stats.get("videos"):
        notes.append("no video files (.mp4, .mkv, .webm, .mov) found")
    return line + "".join(f"; {n}" for n in notes)


def _complete_lines(path):
    """The JSON objects of a JSONL file, without a cut-off last line."""
    lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
    out = []
    for i, line in enumerate(lines):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise FOAError(f"{path}:{i + 1}: not JSON (only the last line of an "
                               "interrupted run may be incomplete)") from None
    return out


def _index_one(path, allowed, kwargs):
    """index_video in a worker: the result, or the IndexingError (never raises for bad files)."""
    try:
        starts = allowed[path.stem] if allowed is not None else None
        return index_video(path, starts=starts, **kwargs)
    except FOAError as err:
        return IndexingError(str(err))
    except Exception as err:  # an unexpected decoder failure must not stop the run
        return IndexingError(f"{path}: {type(err).__name__}: {err}")


def _record_line(record, base):
    d = asdict(record)
    base = Path(os.path.abspath(base))
    for k in _PATHS:
        if d[k] is not None:
            p = Path(os.path.normpath(base / d[k]))   # as found: symlinks are not resolved
            try:
                d[k] = str(p.relative_to(base))
            except ValueError:
                d[k] = str(p)
    return json.dumps(d) + "\n"


def main(argv=None):
    """``avsa-index ROOT --out INDEX.jsonl [...]``: index a folder of 360° videos."""
    ap = argparse.ArgumentParser(prog="avsa-index", description="Index a folder of "
                                 "equirectangular 360-degree videos with FOA audio into clips.")
    ap.add_argument("root", help="folder of equirectangular videos (mp4/mkv/webm/mov), with "
                                 "FOA audio inside or in audio/ID.m4a|wav|flac")
    ap.add_argument("--out", required=True, help="index file to write (JSONL)")
    ap.add_argument("--clip-seconds", type=float, default=10.0)
    ap.add_argument("--min-loudness-db", type=float, default=-50.0,
                    help="drop clips whose W channel is quieter (dBFS)")
    ap.add_argument("--validity", choices=("all", "pass", "fail"), default="all",
                    help="Table I filter on the Eq. 13 ambiX test")
    ap.add_argument("--segments", help="list of allowed segments (VIDEOID_START or "
                                       "VIDEOID,start per line)")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    add_engine_arguments(ap)
    ap.add_argument("--layout", default="auto",
                    help="audio channels: auto (4 ch, e.g. Opus/Vorbis/AAC ACN: ambix; 6 ch "
                         "AAC: youtube-aac-6ch) or a spatialfoa layout")
    ap.add_argument("--projection", default="auto", choices=("auto", "equirect", "eac",
                                                             "cubemap"),
                    help="frame projection of videos without spherical metadata (auto: "
                         "equirect when the frame is 2:1 or 16:9)")
    ap.add_argument("--stereo", default="auto", choices=("auto", "mono", "top-bottom",
                                                         "left-right"),
                    help="stereo packing of videos without spherical metadata (the top / left "
                         "eye is used)")
    ap.add_argument("--retry-failed", action="store_true",
                    help="retry the videos of the errors file (otherwise retried only when "
                         "the file or these options changed)")
    args = ap.parse_args(argv)
    stats = {}
    try:
        with engine_from_args(args) as engine:
            records = build_index(args.root, args.out, clip_seconds=args.clip_seconds,
                                  min_loudness_db=args.min_loudness_db,
                                  validity=None if args.validity == "all" else args.validity,
                                  segments=args.segments, test_fraction=args.test_fraction,
                                  seed=args.seed, layout=args.layout,
                                  projection=args.projection, stereo=args.stereo,
                                  retry_failed=args.retry_failed, stats=stats, engine=engine)
    except FOAError as err:
        ap.exit(2, f"avsa-index: error: {err}\n")
    sys.stderr.write(summary_line(records, stats, args.out) + "\n")
    return 0
