"""The avsa-detect cache: detections per clip and frame, JSONL, and its reader (an object provider).

One line per clip per frame::

    {"clip_id": "vid_0003", "video_id": "vid", "time": 2.0, "width": 3840, "height": 1920,
     "n_frames": 10, "detections": [Detection.to_dict(), ...]}

``time`` is seconds from the clip start (ClipRecord.start); ``width``/``height`` the frame
size the boxes refer to (edge pixel units, see Detection); ``n_frames`` the number of frames
avsa-detect wrote for the clip (a clip with fewer readable lines is incomplete: an interrupted
write). Only clip_id, video_id, time and detections are required. Directions are radians,
docs/conventions.md (azimuth counter-clockwise from the front, +pi/2 = left; elevation up).

>>> table = DetectionTable.load("detections.jsonl")   # doctest: +SKIP
>>> table.objects_at("vid_0003", 2.3)   # nearest cached frame to 2.3 s   # doctest: +SKIP
"""
import json
import logging
import os
from bisect import bisect_left
from pathlib import Path

from avsa_learn.detect.types import Detection

log = logging.getLogger(__name__)


def cache_line(clip_id, video_id, time, detections, width=None, height=None, n_frames=None):
    """One JSONL line (str, with the newline) of the cache."""
    row = {"clip_id": str(clip_id), "video_id": str(video_id), "time": float(time)}
    if width is not None and height is not None:
        row["width"], row["height"] = int(width), int(height)
    if n_frames is not None:
        row["n_frames"] = int(n_frames)
    row["detections"] = [d.to_dict() for d in detections]
    return json.dumps(row) + "\n"


def append_clip(handle, clip_id, video_id, times, detections, width=None, height=None):
    """Append all frames of one clip to an open cache file in one write, flushed to disk; an
    interrupted write leaves a clip that :meth:`DetectionTable.complete` reports incomplete
    (its torn last line is skipped by :meth:`DetectionTable.load`)."""
    times = list(times)
    handle.write("".join(cache_line(clip_id, video_id, t, d, width, height, len(times))
                         for t, d in zip(times, detections)))
    handle.flush()
    os.fsync(handle.fileno())


class DetectionTable:
    """Detections per (clip, frame time), an object provider (``objects_at``).

    Build with :meth:`load` (an avsa-detect cache) or :meth:`add`; :meth:`save` writes the
    cache format (module docstring).
    """

    def __init__(self):
        # clip_id -> {"video_id", "width", "height", "n_frames", "frames": {time: [Detection]}}
        self._clips = {}
        self._sorted = {}    # clip_id -> (sorted times, detections in that order)

    @classmethod
    def load(cls, path):
        """Read a cache file; a later line for the same (clip, time) replaces an earlier one;
        undecodable lines (e.g. torn by an interrupted run) are skipped with a warning."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"detection cache {path} not found (make it with avsa-detect)")
        table = cls()
        with path.open() as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    dets = [Detection.from_dict(d) for d in row["detections"]]
                    table.add(row["clip_id"], row.get("video_id", ""), float(row["time"]), dets,
                              row.get("width"), row.get("height"), row.get("n_frames"))
                except (ValueError, KeyError, TypeError) as err:
                    log.warning("%s:%d: skipping an unreadable line (%s)", path, n, err)
        return table

    def add(self, clip_id, video_id, time, detections, width=None, height=None, n_frames=None):
        """Record the detections (list of Detection) of clip ``clip_id`` at ``time`` s
        (``width``/``height``: frame size of the boxes; ``n_frames``: frames expected for the
        clip, for :meth:`complete`)."""
        clip = self._clips.setdefault(str(clip_id), {"video_id": str(video_id), "width": None,
                                                     "height": None, "n_frames": None,
                                                     "frames": {}})
        if width is not None and height is not None:
            clip["width"], clip["height"] = int(width), int(height)
        if n_frames is not None:
            clip["n_frames"] = int(n_frames)
        clip["frames"][float(time)] = list(detections)
        self._sorted.pop(str(clip_id), None)

    def save(self, path):
        """Write the table as a cache file (clips in insertion order, frames by time)."""
        with Path(path).open("w") as fh:
            for clip_id, clip in self._clips.items():
                for t in sorted(clip["frames"]):
                    fh.write(cache_line(clip_id, clip["video_id"], t, clip["frames"][t],
                                        clip["width"], clip["height"], clip["n_frames"]))

    def __contains__(self, clip_id):
        return clip_id in self._clips

    def __len__(self):
        return len(self._clips)

    @property
    def clip_ids(self):
        return list(self._clips)

    def complete(self, clip_id):
        """Whether all frames of the clip are cached (as many as its ``n_frames``, if known)."""
        clip = self._clips.get(clip_id)
        if clip is None:
            return False
        return clip["n_frames"] is None or len(clip["frames"]) >= clip["n_frames"]

    def times(self, clip_id):
        """Sorted frame times (s from the clip start) cached for ``clip_id`` ([] if unknown)."""
        return self._lookup(clip_id)[0] if clip_id in self._clips else []

    def frame_shape(self, clip_id):
        """(height, width) of the frames the clip's boxes refer to, or None if not recorded."""
        clip = self._clips.get(clip_id)
        if clip is None or clip["width"] is None:
            return None
        return clip["height"], clip["width"]

    def _lookup(self, clip_id):
        if clip_id not in self._sorted:
            frames = self._clips[clip_id]["frames"]
            times = sorted(frames)
            self._sorted[clip_id] = (times, [frames[t] for t in times])
        return self._sorted[clip_id]

    def objects_at(self, clip_id, time):
        """Detections of the cached frame nearest to ``time`` (s from the clip start); [] for an
        unknown clip. Ties go to the earlier frame."""
        if clip_id not in self._clips:
            return []
        times, dets = self._lookup(clip_id)
        if not times:
            return []
        i = bisect_left(times, time)
        if i == len(times) or (i > 0 and time - times[i - 1] <= times[i] - time):
            i -= 1
        return list(dets[i])
