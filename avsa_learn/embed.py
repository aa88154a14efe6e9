"""``avsa-embed``: audio (and video) embeddings of a folder of files with a trained checkpoint.

Each file's first audio stream is read as ambiX (ACN W, Y, Z, X; SN3D; channels picked as
``spatialfoa check`` does: SA3D map, YouTube 6-channel AAC, or ``layout``), resampled to the
checkpoint's sample rate, and cut into windows of the model's input length (1 s,
``data.audio_seconds``). A window starting at sample s covers [s, s + window); windows start at
0, hop, 2·hop, ... and must fit in the file (a tail shorter than the hop is left out); a file
shorter than one window gives one zero-padded window. Every window becomes the audio the model
was trained on (:func:`avsa_learn.data.crop_audio.crop_audio_features`: ``ambi`` aligned,
``mono`` beam or ``stereo`` pair, then ``logmel``/``foa-iv``/``icf``, as in the checkpoint's
config) for a crop centred at the look direction (azimuth counter-clockwise from the front,
+pi/2 = left; elevation up; radians in the API, degrees on the command line), then goes
through the audio encoder (backbone output, D = 512 for the paper's model).

- clip level (default): hop = one window (no overlap), the window embeddings are averaged,
  one row per file;
- frame level: one row per window, hop 0.5 s by default (the paper's future work: embeddings
  with a finer time resolution than one per clip).

With ``video`` the frames of each window (``data.n_frames`` at ``data.fps``, centred in the
window as in training) are cropped gnomonically at the look direction (field of view ``fov``)
and go through the video encoder; clip-level video rows are averaged the same way.

Outputs of the CLI, in ``--out``: ``embeddings.npy`` (N, D) float32 audio embeddings,
``video_embeddings.npy`` (N, D) with ``--video``, ``index.csv`` (``row, file, start_s, end_s``;
``file`` relative to the input folder), ``skipped.csv`` (``file, error``) and ``meta.json``
(checkpoint, settings, counts).

Example::

    >>> model, cfg = load_pretrained("runs/a/last.pt")           # doctest: +SKIP
    >>> e = embed_file(model, cfg, "scene.wav", frame_level=True)  # doctest: +SKIP
    >>> e.audio.shape, e.start_s[:3]                                # doctest: +SKIP
    ((19, 512), array([0. , 0.5, 1. ]))

    avsa-embed runs/a/last.pt recordings/ --out emb/
    avsa-embed runs/a/last.pt videos/ --out emb/ --video --frame-level --azimuth 90
"""
import argparse
import csv
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from spatialfoa.audio_io import resample
from spatialfoa.validation import FOAError

log = logging.getLogger(__name__)

#: Default hop between frame-level windows, seconds.
FRAME_HOP_S = 0.5
#: Errors that make a file unusable (it is skipped and reported).
FILE_ERRORS = (ValueError, OSError, EOFError, RuntimeError)


class EmbedError(FOAError):
    """A file or setting that cannot be embedded (the message names the file)."""


def load_scene(path, data_cfg, layout=None):
    """``(x, info)``: the file's audio as ambiX float32 (4, samples) at
    ``data_cfg.sample_rate`` (``info["sample_rate"]`` keeps the file's rate)."""
    from spatialfoa.check import load_ambix

    x, sr, info = load_ambix(path, layout=layout)
    return resample(x, sr, data_cfg.sample_rate, name=str(path)), info


def window_length(data_cfg):
    """Samples of audio one model input uses: ``audio_frames`` hops (24000 at 24 kHz, 1 s)."""
    from avsa_learn.data.crop_audio import hop_length

    return data_cfg.audio_frames * hop_length(data_cfg.sample_rate)


def window_starts(n_samples, window, hop):
    """First samples of the windows [s, s + window) of a signal of ``n_samples``: 0, hop, ...
    while s + window <= n_samples; ``[0]`` when the signal is shorter than one window.

    >>> window_starts(60000, 24000, 12000)
    array([    0, 12000, 24000, 36000])
    """
    if window < 1 or hop < 1:
        raise EmbedError(f"window and hop must be >= 1 sample, got {window} and {hop}")
    if n_samples <= window:
        return np.zeros(1, dtype=np.int64)
    return np.arange(0, n_samples - window + 1, hop, dtype=np.int64)


def audio_features(x, starts, data_cfg, azimuth=0.0, elevation=0.0):
    """Model inputs (K, C, F, M) float32 of the windows of ``x`` (4, samples) ambiX at
    ``data_cfg.sample_rate`` starting at ``starts`` (samples), for a crop centred at
    (azimuth, elevation) in radians (see the module docstring)."""
    from avsa_learn.data.crop_audio import crop_audio_features

    win = window_length(data_cfg)
    return np.stack([crop_audio_features(x[:, s:s + win], data_cfg.sample_rate, azimuth,
                                         elevation, data_cfg) for s in starts])


def video_input(path, start, data_cfg, azimuth=0.0, elevation=0.0, fov=None):
    """Video encoder input float32 (3, T, S, S) of the audio window starting at ``start``
    seconds: ``n_frames`` frames at ``fps`` centred in the window, a gnomonic crop of the
    equirectangular frames at (azimuth, elevation) with horizontal field of view ``fov``
    (radians; default: the middle of ``data_cfg.fov_deg``), ImageNet-normalised."""
    from avsa_learn.data.augment import normalize, to_float
    from avsa_learn.data.equirect import gnomonic_crop
    from avsa_learn.data.video import read_frames

    c = data_cfg
    fov = default_fov(c) if fov is None else fov
    margin = (c.audio_seconds - c.n_frames / c.fps) / 2
    frames = read_frames(path, max(0.0, start + margin), c.n_frames, c.fps)
    if len(frames) < c.n_frames:  # the video ends inside the window: hold the last frame
        frames = np.concatenate([frames, np.repeat(frames[-1:], c.n_frames - len(frames), 0)])
    crop = gnomonic_crop(frames, azimuth, elevation, fov, size=c.crop_size)  # (T, S, S, 3)
    return normalize(to_float(torch.from_numpy(np.ascontiguousarray(crop)).permute(0, 3, 1, 2)))


def default_fov(data_cfg):
    """Field of view (radians) of the video crops: the middle of the training range."""
    return float(np.deg2rad(np.mean(data_cfg.fov_deg)))


@torch.no_grad()
def encode(encoder, inputs, device="cpu"):
    """(K, D) float32 numpy embeddings of a batch of inputs (numpy or torch, (K, ...))."""
    inputs = torch.as_tensor(inputs, dtype=torch.float32, device=device)
    return encoder(inputs).float().cpu().numpy()


@dataclass
class FileEmbedding:
    """Embeddings of one file: ``start_s``/``end_s`` (K,) seconds, ``audio`` (K, D) float32,
    ``video`` (K, D) or None, ``sample_rate`` (the file's rate, Hz). Clip level: K = 1."""

    path: str
    start_s: np.ndarray
    end_s: np.ndarray
    audio: np.ndarray
    video: np.ndarray = None
    sample_rate: int = 0


def embed_file(model, cfg, path, azimuth=0.0, elevation=0.0, frame_level=False, hop=None,
               video=False, fov=None, layout=None, batch_size=32, device="cpu"):
    """Embed one file with ``model`` (an AudioVisualModel in eval mode) and its TrainConfig.

    ``azimuth``/``elevation``/``fov`` radians; ``hop`` seconds (default: one window at clip
    level, ``FRAME_HOP_S`` at frame level). Returns a :class:`FileEmbedding`; raises (a
    subclass of ``ValueError``/``OSError``) when the file cannot be read.
    """
    c = cfg.data
    x, info = load_scene(path, c, layout)
    sr, win, n = c.sample_rate, window_length(c), x.shape[1]
    hop_s = (FRAME_HOP_S if frame_level else win / sr) if hop is None else float(hop)
    hop_n = int(round(hop_s * sr))
    if hop_n < 1:
        raise EmbedError(f"hop must be at least one sample (1/{sr} s), got {hop_s} s")
    starts = window_starts(n, win, hop_n)
    audio, frames = [], []
    for b in range(0, len(starts), batch_size):
        chunk = starts[b:b + batch_size]
        feats = audio_features(x, chunk, c, azimuth, elevation)
        audio.append(encode(model.encoders.encode_audio, feats, device))
        if video:
            clips = torch.stack([video_input(path, s / sr, c, azimuth, elevation, fov)
                                 for s in chunk])
            frames.append(encode(model.encoders.encode_video, clips, device))
    audio = np.concatenate(audio)
    frames = np.concatenate(frames) if video else None
    start_s = starts / sr
    end_s = np.minimum(starts + win, n) / sr
    if not frame_level:
        audio = audio.mean(0, keepdims=True)
        frames = frames.mean(0, keepdims=True) if video else None
        start_s, end_s = start_s[:1], end_s[-1:]
    return FileEmbedding(str(path), start_s, end_s, audio.astype(np.float32),
                         None if frames is None else frames.astype(np.float32),
                         int(info["sample_rate"]))


@dataclass
class EmbeddingSet:
    """Embeddings of many files: ``rows`` [(file, start_s, end_s)], ``audio`` (N, D),
    ``video`` (N, D) or None, ``skipped`` [(file, error)], ``rates`` Counter of the sample
    rates of the files that were resampled, ``per_file`` {file: row indices}."""

    rows: list = field(default_factory=list)
    audio: np.ndarray = None
    video: np.ndarray = None
    skipped: list = field(default_factory=list)
    rates: Counter = field(default_factory=Counter)
    per_file: dict = field(default_factory=dict)


def embed_files(model, cfg, files, root=None, progress=False, **kwargs):
    """Embed ``files`` (paths), skipping (and logging) those that cannot be read. File names
    in the result are relative to ``root`` when given. ``kwargs`` go to :func:`embed_file`.
    Returns an :class:`EmbeddingSet`."""
    out = EmbeddingSet()
    audio, video = [], []
    for path in tqdm(files, desc="avsa-embed", unit="file", disable=not progress,
                     file=sys.stderr):
        name = Path(path).relative_to(root).as_posix() if root is not None else str(path)
        try:
            e = embed_file(model, cfg, path, **kwargs)
        except FILE_ERRORS as err:
            log.warning("skipping %s: %s", name, err)
            out.skipped.append((name, f"{type(err).__name__}: {err}"))
            continue
        if e.sample_rate != cfg.data.sample_rate:
            out.rates[e.sample_rate] += 1
        first = len(out.rows)
        out.rows.extend((name, float(s), float(t)) for s, t in zip(e.start_s, e.end_s))
        out.per_file[name] = list(range(first, len(out.rows)))
        audio.append(e.audio)
        if e.video is not None:
            video.append(e.video)
    dim = model.feature_dim
    out.audio = np.concatenate(audio) if audio else np.zeros((0, dim), np.float32)
    if kwargs.get("video"):
        out.video = np.concatenate(video) if video else np.zeros((0, dim), np.float32)
    return out


def resampling_note(rates, target):
    """A one-line message about the files that were resampled (or None)."""
    if not rates:
        return None
    parts = ", ".join(f"{n} at {r} Hz" for r, n in sorted(rates.items()))
    note = f"resampled to the checkpoint's {target} Hz: {parts}"
    low = sorted(r for r in rates if r < target)
    if low:
        note += (f" (upsampled from {low[0]} Hz: mel bands above {low[0] // 2} Hz are empty, "
                 "unlike in training)")
    return note


def list_inputs(input_dir, video=False):
    """Audio/video files under ``input_dir`` (recursive, sorted); with ``video``, only video
    containers (.mp4, .mkv, .webm, .mov)."""
    from avsa_learn.data.video import VIDEO_EXTENSIONS
    from spatialfoa.audio_io import collect_files

    files = collect_files([input_dir])
    if video:
        files = [f for f in files if f.suffix.lower() in VIDEO_EXTENSIONS]
    return files


def write_outputs(out_dir, result, meta):
    """Write embeddings.npy, video_embeddings.npy (if any), index.csv, skipped.csv, meta.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "embeddings.npy", result.audio.astype(np.float32))
    if result.video is not None:
        np.save(out / "video_embeddings.npy", result.video.astype(np.float32))
    with open(out / "index.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "file", "start_s", "end_s"])
        for i, (name, s, t) in enumerate(result.rows):
            w.writerow([i, name, f"{s:.6f}", f"{t:.6f}"])
    with open(out / "skipped.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "error"])
        w.writerows(result.skipped)
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def add_input_arguments(p):
    """Options shared by avsa-embed and avsa-probe: look direction, layout, batch, device."""
    p.add_argument("--azimuth", type=float, default=0.0, metavar="DEG",
                   help="look direction azimuth, degrees counter-clockwise from the front "
                        "(+90 = left; default 0)")
    p.add_argument("--elevation", type=float, default=0.0, metavar="DEG",
                   help="look direction elevation, degrees up (default 0)")
    from spatialfoa.formats import LAYOUTS

    p.add_argument("--layout", choices=sorted(LAYOUTS),
                   help="channel layout of every file (default: detected as `spatialfoa check` "
                        "does: 4 channels ambiX, SA3D map, 6-channel AAC = YouTube)")
    p.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser():
    p = argparse.ArgumentParser(
        prog="avsa-embed", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Audio (and video) embeddings of the files in a folder with a checkpoint "
                    "from avsa-train. Audio is read as first-order ambiX, resampled to the "
                    "checkpoint's rate and turned into the checkpoint's input format/feature "
                    "for a crop at the look direction; 1 s windows go through the encoder.",
        epilog="outputs in --out: embeddings.npy (N, D) float32, video_embeddings.npy (--video),"
               "\nindex.csv (row,file,start_s,end_s), skipped.csv (file,error), meta.json\n\n"
               "examples:\n"
               "  avsa-embed runs/a/last.pt recordings/ --out emb/\n"
               "  avsa-embed runs/a/last.pt recordings/ --out emb/ --frame-level --hop 0.25\n"
               "  avsa-embed runs/a/last.pt videos/ --out emb/ --video --azimuth 90\n"
               "exit status: 0 when at least one file was embedded (others may be listed in "
               "skipped.csv), 1 when none was or the checkpoint cannot be read, 2 usage errors.")
    p.add_argument("checkpoint", help="a .pt file written by avsa-train")
    p.add_argument("input_dir", help="folder searched recursively for audio (wav, flac, ogg...) "
                                     "or video (mp4, mkv, mov, webm) files")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--video", action="store_true",
                   help="also embed the video (gnomonic crop of the equirectangular frames at "
                        "the look direction); only video files are used")
    p.add_argument("--frame-level", action="store_true",
                   help=f"one row per window (hop --hop, default {FRAME_HOP_S} s) instead of "
                        "one averaged row per file")
    p.add_argument("--hop", type=float, metavar="S",
                   help="seconds between window starts (default: 1 window at clip level, "
                        f"{FRAME_HOP_S} at frame level)")
    p.add_argument("--fov", type=float, metavar="DEG", help="horizontal field of view of the "
                   "video crop (default: the middle of the checkpoint's data.fov_deg)")
    add_input_arguments(p)
    return p


def setup_model(checkpoint, device):
    """(model on the device, cfg, device) for a CLI."""
    from avsa_learn.distributed import pick_device
    from avsa_learn.pretrained import load_pretrained

    device = pick_device(device)
    model, cfg = load_pretrained(checkpoint, map_location=device)
    return model, cfg, device


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    # Skipped files are listed once at the end (and in skipped.csv), not logged as they happen.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    input_dir = Path(args.input_dir)
    if not input_dir.is_dir():
        parser.error(f"{input_dir}: not a folder")
    if args.hop is not None and not args.hop > 0:
        parser.error(f"--hop must be > 0 seconds, got {args.hop}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    files = list_inputs(input_dir, args.video)
    if not files:
        kind = "video" if args.video else "audio or video"
        parser.error(f"{input_dir}: no {kind} files found")
    try:
        model, cfg, device = setup_model(args.checkpoint, args.device)
    except (RuntimeError, OSError) as err:
        print(f"avsa-embed: error: {err}", file=sys.stderr)
        return 1
    fov = None if args.fov is None else float(np.deg2rad(args.fov))
    result = embed_files(model, cfg, files, root=input_dir, progress=not args.no_progress,
                         azimuth=float(np.deg2rad(args.azimuth)),
                         elevation=float(np.deg2rad(args.elevation)),
                         frame_level=args.frame_level, hop=args.hop, video=args.video, fov=fov,
                         layout=args.layout, batch_size=args.batch_size, device=device)
    d = cfg.data
    meta = {"checkpoint": str(args.checkpoint), "input_dir": str(input_dir),
            "level": "frame" if args.frame_level else "clip",
            "window_s": window_length(d) / d.sample_rate,
            "hop_s": args.hop if args.hop is not None else (
                FRAME_HOP_S if args.frame_level else window_length(d) / d.sample_rate),
            "azimuth_deg": args.azimuth, "elevation_deg": args.elevation,
            "fov_deg": float(np.rad2deg(fov if fov is not None else default_fov(d))),
            "video": args.video, "layout": args.layout, "audio_format": d.audio_format,
            "feature": d.feature, "sample_rate": d.sample_rate, "n_mels": d.n_mels,
            "dim": int(model.feature_dim), "files": len(result.per_file),
            "rows": len(result.rows), "skipped": len(result.skipped),
            "resampled": {str(r): n for r, n in sorted(result.rates.items())}}
    write_outputs(args.out, result, meta)
    note = resampling_note(result.rates, d.sample_rate)
    if note:
        print(f"avsa-embed: note: {note}", file=sys.stderr)
    for name, err in result.skipped:
        print(f"avsa-embed: skipped {name}: {err}", file=sys.stderr)
    print(f"avsa-embed: {len(result.rows)} rows from {len(result.per_file)} files -> "
          f"{args.out} ({len(result.skipped)} skipped)", file=sys.stderr)
    return 0 if result.rows else 1


if __name__ == "__main__":
    sys.exit(main())
