"""The ``spatialfoa`` command: check, inspect, rotate, decode and plot first-order ambiX.

Subcommands: ``check``, ``info``, ``rotate``, ``stereo``, ``plot-pattern``, ``plot-map``
(see docs/cli.md). Angles on the command line are in degrees; azimuth counter-clockwise from the
front (+90 = left), elevation up. Exit status: 0 success (for ``check``: every file passed),
1 failure (``check``: a file failed or was unreadable; other commands: the input could not be
processed), 2 usage error.
"""
import argparse
import csv
import io
import json
import math
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .validation import FOAError

__all__ = ["main", "build_parser", "collect_files"]

_TABLE_COLUMNS = ("file", "ch", "sr", "dur (s)", "ratio", "result", "reason")

_CHECK_EXAMPLES = """\
examples:
  spatialfoa check recording.wav
  spatialfoa check dataset/ --jobs 2 --json report.json --csv report.csv
  spatialfoa check clip.mp4 --layout fuma            # read it as FuMa (W, X, Y, Z)
  spatialfoa check dataset/ --json - -q | jq '.[] | select(.passes | not) | .path'

A file passes when |E_xyz / E_w - 1| <= tau after a low-pass at --cutoff Hz (paper Eq. 13).
Exit status: 0 all files passed, 1 some failed or were unreadable, 2 usage error."""

_ROTATE_EXAMPLES = """\
examples:
  spatialfoa rotate in.wav out.wav --yaw 90          # a source at the front moves to the right
  spatialfoa rotate in.mp4 out.flac --yaw 10 --pitch -5 --roll 2

Angles are in degrees. yaw moves a source at azimuth a to a - yaw (the listener turns left by
yaw); positive pitch raises a frontal source; positive roll lowers a source on the left
(M = Rx(roll) Ry(pitch) Rz(yaw), as JSAmbisonics/SAF). Output: 4-channel ambiX, 32-bit float
WAV or 24-bit FLAC."""

_STEREO_EXAMPLES = """\
examples:
  spatialfoa stereo in.wav out.wav                   # look to the front
  spatialfoa stereo in.wav out.wav --azimuth 90 --elevation 10 --pattern cardioid

Two virtual microphones at +-90 degrees from the look direction (paper Eq. 9): L, R."""


def build_parser():
    """The argparse parser of the ``spatialfoa`` command."""
    from .beamforming import PATTERNS
    from .formats import LAYOUTS

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="spatialfoa", formatter_class=fmt,
        description="First-order Ambisonics (ambiX: ACN W, Y, Z, X; SN3D) tools.",
        epilog="Run 'spatialfoa COMMAND --help' for a command's options and examples.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    layout_help = (f"channel layout of the input: {', '.join(LAYOUTS)} (default: detect: 4 "
                   "channels ambiX, 6 channels by SA3D box / YouTube AAC / W,Y,Z,X,L,R)")

    p = sub.add_parser("check", help="test files for valid ambiX (energy ratio, Eq. 13)",
                       description="Test audio/video files for valid first-order ambiX.",
                       epilog=_CHECK_EXAMPLES, formatter_class=fmt)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="files, or folders searched recursively for audio/video files")
    p.add_argument("--tau", type=float, default=0.1, help="tolerance on the ratio (default 0.1)")
    p.add_argument("--cutoff", type=float, default=4000.0,
                   help="low-pass cutoff in Hz before the test (default 4000)")
    p.add_argument("--layout", choices=sorted(LAYOUTS), metavar="NAME", help=layout_help)
    p.add_argument("--max-seconds", type=float, help="check only the first N seconds of each file")
    p.add_argument("--jobs", "-j", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON ('-' = stdout)")
    p.add_argument("--csv", metavar="FILE", help="write the results as CSV")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar and no table (exit status and --json/--csv only)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("info", help="show a file's format, channels, SA3D box and energy ratio",
                       description="Show what a file holds and whether it passes the check.",
                       epilog="example:\n  spatialfoa info clip.mp4\n\nExit status: 0 the file "
                              "was read, 1 unreadable, 2 usage error.", formatter_class=fmt)
    p.add_argument("path", metavar="FILE")
    p.add_argument("--layout", choices=sorted(LAYOUTS), metavar="NAME", help=layout_help)
    p.add_argument("--tau", type=float, default=0.1, help="tolerance on the ratio (default 0.1)")
    p.add_argument("--cutoff", type=float, default=4000.0, help="low-pass cutoff in Hz")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("rotate", help="rotate the sound field (degrees)",
                       description="Rotate an ambiX sound field; angles in degrees.",
                       epilog=_ROTATE_EXAMPLES, formatter_class=fmt)
    p.add_argument("input", metavar="IN", help="input audio/video file (see --layout)")
    p.add_argument("output", metavar="OUT", help="output .wav (32-bit float) or .flac")
    p.add_argument("--yaw", type=float, default=0.0, metavar="DEG",
                   help="yaw in degrees: a source at azimuth a moves to a - yaw (default 0)")
    p.add_argument("--pitch", type=float, default=0.0, metavar="DEG",
                   help="pitch in degrees: positive raises a frontal source (default 0)")
    p.add_argument("--roll", type=float, default=0.0, metavar="DEG",
                   help="roll in degrees: positive lowers a source on the left (default 0)")
    p.add_argument("--layout", choices=sorted(LAYOUTS), metavar="NAME", help=layout_help)
    p.set_defaults(func=_cmd_rotate)

    p = sub.add_parser("stereo", help="decode to stereo with two virtual microphones",
                       description="Decode ambiX to stereo (L, R) looking at a direction "
                                   "given in degrees.",
                       epilog=_STEREO_EXAMPLES, formatter_class=fmt)
    p.add_argument("input", metavar="IN", help="input audio/video file (see --layout)")
    p.add_argument("output", metavar="OUT", help="output .wav (32-bit float) or .flac")
    p.add_argument("--azimuth", type=float, default=0.0, metavar="DEG",
                   help="look azimuth in degrees, counter-clockwise (+90 = left; default 0)")
    p.add_argument("--elevation", type=float, default=0.0, metavar="DEG",
                   help="look elevation in degrees, up (default 0)")
    p.add_argument("--pattern", choices=sorted(PATTERNS), default="hypercardioid", metavar="NAME",
                   help=f"microphone pattern: {', '.join(PATTERNS)} (default hypercardioid)")
    p.add_argument("--layout", choices=sorted(LAYOUTS), metavar="NAME", help=layout_help)
    p.set_defaults(func=_cmd_stereo)

    p = sub.add_parser("plot-pattern", help="polar plot of first-order beam patterns (PNG)",
                       description="Polar plot of first-order beam patterns a + (1 - a) cos g.",
                       epilog="example:\n  spatialfoa plot-pattern patterns.png --patterns "
                              "cardioid hypercardioid", formatter_class=fmt)
    p.add_argument("output", metavar="OUT.png")
    p.add_argument("--patterns", nargs="+", choices=sorted(PATTERNS), metavar="NAME",
                   help=f"patterns to draw: {', '.join(PATTERNS)} (default: all)")
    p.add_argument("--size", type=int, nargs=2, default=(800, 600), metavar=("W", "H"),
                   help="image size in pixels (default 800 600)")
    p.set_defaults(func=_cmd_plot_pattern)

    p = sub.add_parser("plot-map", help="acoustic energy map over azimuth x elevation (PNG)",
                       description="Acoustic intensity map of an ambiX file over azimuth x "
                                   "elevation, azimuth +180 (left edge) to -180 (right edge) "
                                   "like an equirectangular video frame.",
                       epilog="example:\n  spatialfoa plot-map clip.mp4 map.png --max-seconds 10",
                       formatter_class=fmt)
    p.add_argument("input", metavar="IN", help="input audio/video file (see --layout)")
    p.add_argument("output", metavar="OUT.png")
    p.add_argument("--layout", choices=sorted(LAYOUTS), metavar="NAME", help=layout_help)
    p.add_argument("--offset", type=float, default=0.0, help="start time in seconds")
    p.add_argument("--max-seconds", type=float, help="use at most N seconds")
    p.add_argument("--size", type=int, nargs=2, default=(900, 500), metavar=("W", "H"),
                   help="image size in pixels (default 900 500)")
    p.add_argument("--no-video", action="store_true",
                   help="do not draw the video's frame (by default a video file's 360° frame "
                        "at the middle of the analysed time is drawn under the map)")
    p.set_defaults(func=_cmd_plot_map)
    return parser


def main(argv=None):
    """Run the ``spatialfoa`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit
    status: 0 success, 1 failure, 2 usage error."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args, parser)
    except SystemExit as stop:  # argparse: --help (0) and usage errors (2)
        return stop.code if isinstance(stop.code, int) else 2
    except (FOAError, OSError) as err:  # unreadable input, unwritable output
        print(f"spatialfoa {args.command}: error: {err}", file=sys.stderr)
        return 1


def collect_files(paths):
    """Files named in ``paths`` plus audio/video files found recursively in folders (sorted).

    Raises FOAError for a path that does not exist."""
    from .audio_io import AUDIO_EXTENSIONS

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


def _check_one(path, tau, cutoff, layout, max_seconds):
    from .check import check_ambix

    try:
        return check_ambix(path, tau=tau, cutoff=cutoff, layout=layout, max_seconds=max_seconds)
    except Exception as err:  # a batch goes on whatever one file does
        return _crashed(path, err)


def _crashed(path, err):
    from .check import CheckResult

    return CheckResult(path=str(path), passes=False, reason="unreadable",
                       error=f"{type(err).__name__}: {err}")


def _cmd_check(args, parser):
    from tqdm import tqdm

    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    if not 0 < args.tau:
        parser.error("--tau must be > 0")
    if not 0 < args.cutoff:
        parser.error("--cutoff must be > 0 Hz")
    if args.max_seconds is not None and not args.max_seconds > 0:
        parser.error("--max-seconds must be > 0")
    try:
        files = collect_files(args.paths)
    except FOAError as err:
        parser.error(str(err))
    if not files:
        parser.error("no audio/video files found in " + ", ".join(args.paths))
    options = (args.tau, args.cutoff, args.layout, args.max_seconds)
    results = [None] * len(files)
    bar = tqdm(total=len(files), unit="file", desc="checking", file=sys.stderr,
               disable=args.quiet)
    with bar:
        if args.jobs == 1 or len(files) == 1:
            for i, f in enumerate(files):
                results[i] = _check_one(str(f), *options)
                bar.update()
        else:
            # spawn, not fork: forking a process whose numba/OpenMP threads ran is unsafe
            with ProcessPoolExecutor(max_workers=min(args.jobs, len(files)),
                                     mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {pool.submit(_check_one, str(f), *options): i
                           for i, f in enumerate(files)}
                for future in as_completed(futures):
                    i = futures[future]
                    try:
                        results[i] = future.result()
                    except Exception as err:  # e.g. a worker killed by a crashing decoder
                        results[i] = _crashed(files[i], err)
                    bar.update()
    if args.json is not None:
        text = json.dumps([r.to_dict() for r in results], indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    if args.csv is not None:
        Path(args.csv).write_text(_csv(results), newline="")
    if not args.quiet:
        out = sys.stderr if args.json == "-" else sys.stdout
        print(_table(results), file=out)
        n_pass = sum(r.passes for r in results)
        print(f"{len(results)} files: {n_pass} passed, {len(results) - n_pass} failed", file=out)
    return 0 if all(r.passes for r in results) else 1


def _csv(results):
    buf = io.StringIO()
    fields = list(results[0].to_dict())
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in results:
        row = r.to_dict()
        row["sa3d"] = json.dumps(row["sa3d"]) if row["sa3d"] is not None else None
        writer.writerow(row)
    return buf.getvalue()


def _table(results):
    rows = []
    for r in results:
        reason = r.error if r.error is not None else (r.reason or "")
        if r.hint:
            reason += f"; hint: {r.hint}"
        if r.warning:
            reason += f" [warning: {r.warning}]"
        rows.append((str(r.path), _fmt(r.channels), _fmt(r.sample_rate),
                     _fmt(r.duration, ".2f"), _fmt(r.ratio, ".3f"),
                     "PASS" if r.passes else "FAIL", reason))
    widths = [max(len(c), *(len(row[i]) for row in rows))
              for i, c in enumerate(_TABLE_COLUMNS[:-1])]
    lines = []
    for row in [_TABLE_COLUMNS] + rows:
        cells = [cell.ljust(w) if i == 0 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(row[:-1], widths))]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    return "\n".join(lines)


def _fmt(value, spec=""):
    return "-" if value is None else format(value, spec)


def _cmd_info(args, parser):
    from .audio_io import read_audio, read_sa3d
    from .check import check_loaded

    x, sr, info = read_audio(args.path)
    try:
        sa3d = read_sa3d(args.path)
    except FOAError as err:
        sa3d, info["warnings"] = None, info["warnings"] + [f"SA3D box ignored: {err}"]
    r = check_loaded(x, sr, info, sa3d=sa3d, tau=args.tau, cutoff=args.cutoff,
                     layout=args.layout, path=args.path)
    lines = [("file", args.path), ("container", info["format"]), ("codec", info["codec"]),
             ("channels", f"{info['channels']}" + (f" ({info['channel_layout']})"
                                                   if info["channel_layout"] else "")),
             ("sample rate", f"{sr} Hz"),
             ("duration", f"{info['duration']:.3f} s" if info["duration"] is not None else "?"),
             ("ambisonic layout", r.layout), ("SA3D", _describe_sa3d(sa3d)),
             ("energy ratio", _fmt(r.ratio, ".3f") + f" (E_xyz/E_w below {args.cutoff:g} Hz)"),
             ("ambiX check", ("PASS" if r.passes else "FAIL")
              + (f": {r.reason}" if r.reason else ""))]
    if r.hint:
        lines.append(("hint", r.hint))
    for w in info["warnings"]:
        lines.append(("warning", w))
    width = max(len(k) for k, _ in lines)
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in lines))
    return 0


def _describe_sa3d(sa3d):
    if sa3d is None:
        return "none"
    ordering = {0: "ACN"}.get(sa3d["channel_ordering"], f"ordering {sa3d['channel_ordering']}")
    norm = {0: "SN3D"}.get(sa3d["normalization"], f"normalisation {sa3d['normalization']}")
    text = (f"order {sa3d['order']}, {ordering}, {norm}, {sa3d['num_channels']} channels, "
            f"map {' '.join(map(str, sa3d['channel_map']))}")
    if sa3d["head_locked_stereo"]:
        text += ", head-locked stereo"
    return text


def _check_output(parser, path, suffixes):
    if Path(path).suffix.lower() not in suffixes:
        parser.error(f"{path}: the output must end in {' or '.join(suffixes)}")


def _cmd_rotate(args, parser):
    from .audio_io import write_audio
    from .check import load_ambix
    from .rotation import rotate

    _check_output(parser, args.output, (".wav", ".flac"))
    x, sr, _ = load_ambix(args.input, layout=args.layout)
    y = rotate(x, math.radians(args.yaw), math.radians(args.pitch), math.radians(args.roll))
    write_audio(args.output, y, sr)
    return 0


def _cmd_stereo(args, parser):
    from .audio_io import write_audio
    from .beamforming import to_stereo
    from .check import load_ambix

    _check_output(parser, args.output, (".wav", ".flac"))
    x, sr, _ = load_ambix(args.input, layout=args.layout)
    y = to_stereo(x, math.radians(args.azimuth), math.radians(args.elevation),
                  pattern=args.pattern)
    write_audio(args.output, y, sr)
    return 0


def _cmd_plot_pattern(args, parser):
    from .plots import plot_patterns

    _check_output(parser, args.output, (".png",))
    if min(args.size) < 50:
        parser.error("--size must be at least 50 x 50 pixels")
    plot_patterns(args.output, patterns=args.patterns, size=tuple(args.size))
    return 0


def _cmd_plot_map(args, parser):
    from .check import load_ambix
    from .plots import plot_acoustic_map

    _check_output(parser, args.output, (".png",))
    if min(args.size) < 50:
        parser.error("--size must be at least 50 x 50 pixels")
    x, sr, _ = load_ambix(args.input, layout=args.layout, max_seconds=args.max_seconds,
                          offset=args.offset)
    frame = None
    if not args.no_video:
        from .spherical import video_frame
        frame = video_frame(args.input, args.offset + 0.5 * x.shape[1] / sr)
    plot_acoustic_map(args.output, x, sr, size=tuple(args.size), frame=frame,
                      title=Path(args.input).name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
