"""``avsa-detect``: detect objects in every clip of an index and cache them (JSONL).

    avsa-detect --index data/index.jsonl --out data/detections.jsonl --detector darknet --tiles
    avsa-detect --index data/index.jsonl --out det.jsonl --detector ultralytics --weights yolo11n.pt
    avsa-detect --index synthetic/index.jsonl --out gt.jsonl --detector ground-truth
    avsa-detect --index INDEX --out det.jsonl --detector ultralytics --weights yolo11n.pt \\
        --engine ray --address auto --workers 8 --gpus-per-worker 0.5

Frames are read at ``--fps`` per second from each clip's start (times i / fps, seconds from the
clip start, for i < duration x fps). Resumable: clips already complete in the cache are skipped,
each finished clip is appended and flushed at once. A video that cannot be decoded is reported
and skipped. The cache is read back with :class:`avsa_learn.detect.cache.DetectionTable`.
With ``--engine ray`` (or ``--jobs N`` locally) clips are detected by ``--workers`` workers
that each hold one detector (Ray actors, ``--gpus-per-worker`` GPUs each); the driver writes
the cache, so the outputs are those of a local run.
"""
import argparse
import functools
import sys
from pathlib import Path

import numpy as np

from avsa_learn.data.video import VideoError, probe_layout, read_frames
from avsa_learn.engine import EngineError, add_engine_arguments, engine_from_args

DETECTORS = ("ultralytics", "darknet", "ground-truth")
CHUNK_FRAMES = 16  # frames decoded and detected at a time


def _parser():
    p = argparse.ArgumentParser(
        prog="avsa-detect", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Detect objects in every clip of an index and cache them (JSONL).",
        epilog="examples:\n" + __doc__.split("\n\n")[1])
    p.add_argument("--index", required=True, help="clip index (JSONL) from avsa-index/avsa-synth")
    p.add_argument("--out", required=True, help="detection cache to write/extend (JSONL)")
    p.add_argument("--detector", required=True, choices=DETECTORS)
    p.add_argument("--weights", help="ultralytics: local .pt (or model .yaml); darknet: "
                                     ".weights (default: $AVSA_YOLOV3_TINY_DIR yolov3-tiny)")
    p.add_argument("--cfg", help="darknet .cfg")
    p.add_argument("--names", help="darknet class names file")
    p.add_argument("--tiles", action="store_true",
                   help="detect on perspective tiles of the sphere instead of the equirect image")
    p.add_argument("--fps", type=float, default=1.0, help="frames per second to detect (1)")
    p.add_argument("--conf", type=float, default=0.25, help="minimum confidence (0.25)")
    p.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold (0.45)")
    p.add_argument("--imgsz", type=int, default=None,
                   help="network input size (ultralytics: long side, default 640; darknet: "
                        "height, default 416)")
    p.add_argument("--device", default="cpu", help="ultralytics device (cpu, cuda:0, ...)")
    p.add_argument("--batch-size", type=int, default=16, help="images per forward pass (16)")
    add_engine_arguments(p)
    p.add_argument("--workers", type=int, default=None,
                   help="detector workers (default --jobs); with --engine ray, Ray actors")
    p.add_argument("--gpus-per-worker", type=float, default=0.0,
                   help="GPUs each Ray actor reserves (fractions share a GPU; ultralytics then "
                        "runs on cuda:0 of the actor)")
    return p


def _make_detector(args):
    if args.detector == "ultralytics":
        from avsa_learn.detect.ultralytics_backend import UltralyticsDetector

        if not args.weights:
            raise SystemExit("avsa-detect: --detector ultralytics needs --weights (a local .pt "
                             "or a model .yaml); nothing is downloaded")
        return UltralyticsDetector(args.weights, conf=args.conf, iou=args.iou,
                                   imgsz=args.imgsz or 640, device=args.device,
                                   batch_size=args.batch_size)
    from avsa_learn.detect.darknet_backend import DarknetDetector, yolov3_tiny_files

    files = (args.cfg, args.weights, args.names)
    if not all(files):
        found = yolov3_tiny_files()
        if found is None:
            raise SystemExit("avsa-detect: --detector darknet needs --cfg, --weights and "
                             "--names (or AVSA_YOLOV3_TINY_DIR holding yolov3-tiny.cfg, "
                             "yolov3-tiny.weights, coco.names)")
        files = tuple(f or str(d) for f, d in zip(files, found))
    return DarknetDetector(*files, conf=args.conf, nms=args.iou,
                           input_size=args.imgsz or 416, batch_size=args.batch_size)


def frame_times(duration, fps):
    """Frame times (s from the clip start) detected in a clip: i / fps for i < duration x fps
    (at least one)."""
    n = max(1, int(np.floor(float(duration) * fps + 1e-9)))
    return np.arange(n) / fps


def _detect_record(detector, rec, args):
    """(times, dets, height, width) of one clip record (a worker's task)."""
    times = frame_times(rec.duration, args.fps)
    try:
        dets, height, width = _detect_clip(detector, rec, times, args)
    except VideoError as err:
        raise VideoError(f"{rec.clip_id}: {err}") from None
    return times[:len(dets)], dets, height, width


def _detect_clip(detector, rec, times, args):
    """Detections per frame of one clip, read ``CHUNK_FRAMES`` frames at a time (bounded
    memory for long clips); stops early where the video ends. Returns (dets, height, width)."""
    dets, shape = [], None
    # the layout the index found or was told (--projection/--stereo): stereo gives one eye,
    # cubemaps become equirect, 16:9 frames stay as they are (their grid spans 360 x 180 deg)
    layout = probe_layout(rec.video_path, rec.projection, rec.stereo)
    for first in range(0, len(times), CHUNK_FRAMES):
        n = min(CHUNK_FRAMES, len(times) - first)
        try:
            frames = read_frames(rec.video_path, rec.start + first / args.fps, n, args.fps,
                                 layout=layout)
        except VideoError:
            if first == 0:
                raise
            break                       # the video ended exactly at a chunk boundary
        dets.extend(detector.detect_batch(frames, tiles=args.tiles))
        shape = frames.shape[1:3]
        if len(frames) < n:
            break
    return dets, shape[0], shape[1]


def main(argv=None):
    """Entry point of ``avsa-detect``; returns the exit status (1 if some clip failed)."""
    args = _parser().parse_args(argv)
    if args.fps <= 0:
        raise SystemExit("avsa-detect: --fps must be > 0")
    from avsa_learn.data.index import load_index
    from avsa_learn.detect.cache import DetectionTable, append_clip

    records = load_index(args.index)
    out = Path(args.out)
    done = DetectionTable.load(out) if out.is_file() else DetectionTable()
    todo = [r for r in records if not done.complete(r.clip_id)]
    skipped = len(records) - len(todo)

    out.parent.mkdir(parents=True, exist_ok=True)
    n_clips = n_frames = n_dets = 0
    failed = []
    with out.open("a") as fh:
        def write(rec, times, dets, height, width):
            nonlocal n_clips, n_frames, n_dets
            append_clip(fh, rec.clip_id, rec.video_id, times, dets, width, height)
            n_clips += 1
            n_frames += len(times)
            n_dets += sum(len(d) for d in dets)

        if args.detector == "ground-truth":
            _ground_truth(records, todo, args, write, failed)
        elif todo:
            _detect_all(todo, args, write, failed)
    per_frame = n_dets / n_frames if n_frames else 0.0
    print(f"avsa-detect: {n_clips} clips detected ({skipped} already cached, {len(failed)} "
          f"failed), {n_frames} frames, {n_dets} detections ({per_frame:.2f} per frame) "
          f"-> {out}")
    if failed:
        print(f"avsa-detect: failed clips: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _ground_truth(records, todo, args, write, failed):
    from tqdm import tqdm

    from avsa_learn.detect.ground_truth import GroundTruthDetector

    provider = GroundTruthDetector(records)
    for rec in tqdm(todo, desc="avsa-detect", unit="clip", file=sys.stderr):
        times = frame_times(rec.duration, args.fps)
        if not rec.gt_path:
            failed.append(rec.clip_id)
            tqdm.write(f"avsa-detect: {rec.clip_id}: no gt_path for the ground-truth "
                       "detector; skipped", file=sys.stderr)
            continue
        try:
            dets = [provider.objects_at(rec.clip_id, t) for t in times]
            height, width = provider.frame_shape(rec.clip_id)
        except ValueError as err:          # unreadable gt JSON (message names it)
            failed.append(rec.clip_id)
            tqdm.write(f"avsa-detect: {rec.clip_id}: skipped: {err}", file=sys.stderr)
            continue
        write(rec, times, dets, height, width)


def _detect_all(todo, args, write, failed):
    """Detect the clips ``todo`` on the engine of ``args``, each worker holding a detector."""
    from tqdm import tqdm

    if args.gpus_per_worker > 0:
        if args.engine != "ray":
            raise SystemExit("avsa-detect: --gpus-per-worker needs --engine ray")
        if args.detector != "ultralytics":
            raise SystemExit("avsa-detect: the darknet detector runs on the CPU; "
                             "--gpus-per-worker needs --detector ultralytics")
        if args.device == "cpu":
            args.device = "cuda:0"             # Ray sets CUDA_VISIBLE_DEVICES per actor
    workers = args.workers or args.jobs
    if args.engine == "local" and workers <= 1:
        try:                                   # in this process: report a bad model at once
            detector = _make_detector(args)
        except (FileNotFoundError, ValueError, RuntimeError) as err:
            raise SystemExit(f"avsa-detect: {err}") from None
        setup = functools.partial(_same, detector)
    else:
        setup = functools.partial(_make_detector, args)
    work = functools.partial(_detect_record, args=args)
    try:
        with engine_from_args(args) as engine:
            for rec, outcome in engine.map_stateful(
                    setup, work, todo, desc="avsa-detect", unit="clip", workers=workers,
                    gpus_per_worker=args.gpus_per_worker):
                if isinstance(outcome, Exception):
                    failed.append(rec.clip_id)
                    tqdm.write(f"avsa-detect: {rec.clip_id}: skipped: {outcome.reason}",
                               file=sys.stderr)
                    continue
                write(rec, *outcome)
    except EngineError as err:                 # a worker could not start (bad model, ...)
        raise SystemExit(f"avsa-detect: {err}") from None


def _same(x):
    return x


if __name__ == "__main__":
    sys.exit(main())
