"""Training and evaluation datasets: clips -> (video crops, per-crop audio features).

One sample of clip ``i`` (see docs/datasets.md):

1. a time window: 1 s of audio (``config.audio_seconds``) and, centred inside it, 8 frames at
   16 fps (0.5 s); the first frame lies on the clip's 1/fps grid, so cached and uncached reads
   give the same frames;
2. frames with :func:`avsa_learn.data.video.read_frames`, the audio with
   :func:`spatialfoa.read_audio` (layout from the record) converted to ambiX and resampled to
   ``config.sample_rate`` when needed;
3. K crops by ``config.crop_strategy`` (:mod:`avsa_learn.data.crops`), objects from the object
   provider at the window's centre time; all K gnomonic crops in one call;
4. in training: per-crop flip + colour jitter (:mod:`avsa_learn.data.augment`) and the audio
   gain jitter; a flipped crop gets the mirrored audio;
5. per-crop audio features (:func:`avsa_learn.data.crop_audio.crop_audio_features`).

Every random choice comes from ``np.random.default_rng([seed, epoch, i])``, so ``ds[i]`` is the
same in any worker. Directions are radians, azimuth counter-clockwise from the front
(+pi/2 = left), elevation up (docs/conventions.md); audio is ambiX (ACN W, Y, Z, X; SN3D).

>>> ds = AVSADataset(load_index("data/synthetic/index.jsonl"), DataConfig())  # doctest: +SKIP
>>> item = ds[0]; item["video"].shape, item["audio"].shape                     # doctest: +SKIP
(torch.Size([4, 3, 8, 112, 112]), torch.Size([4, 4, 100, 128]))
"""
import logging
import math
import os
from collections import OrderedDict

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from spatialfoa.audio_io import resample

from avsa_learn.data.augment import (IDENTITY, apply_augmentation, normalize,
                                     sample_augmentation, sample_gain, to_float)
from avsa_learn.data.crop_audio import crop_audio_features
from avsa_learn.data.crops import choose_crops

log = logging.getLogger(__name__)

# per worker, for cache_frames=True (least recently used clip out). It must hold the whole
# training split: the default 160 synthetic training clips take 1.16 GB, and an LRU of 1 GiB
# (148 of them) re-decoded 29 % of the items of every epoch in a random order.
CACHE_MAX_BYTES = 2 << 30
OPEN_VIDEOS_MAX = 16       # per worker: video files kept open between reads (LRU)
_READ_ERRORS = (OSError, ValueError, RuntimeError, EOFError, IndexError)


_threads_set_in = None  # pid of the DataLoader worker whose numba threads were limited


def _one_thread_in_workers():
    """In a DataLoader worker, run numba kernels on one thread, as DataLoader does for torch:
    the workers already share the cores, and nested thread pools oversubscribe them."""
    global _threads_set_in
    if _threads_set_in == os.getpid():
        return
    _threads_set_in = os.getpid()
    if torch.utils.data.get_worker_info() is not None:
        import numba

        numba.set_num_threads(1)


class ClipError(RuntimeError):
    """A clip whose video or audio cannot be decoded (the message names the clip and file)."""


def collate_skip_bad(batch):
    """``collate_fn`` for a DataLoader: drops the None items (clips that failed to decode with
    ``skip_bad=True``), then ``default_collate``; None when every item failed."""
    batch = [item for item in batch if item is not None]
    return default_collate(batch) if batch else None


class _ClipReader:
    """Reads a clip's frames and audio windows; with ``cache`` keeps whole decoded clips in an
    LRU of at most ``CACHE_MAX_BYTES``, else keeps the last ``OPEN_VIDEOS_MAX`` video files
    open (opening and probing an MP4 costs ~25 ms, a third of a prepared window's decode).
    Both are built lazily, so each DataLoader worker has its own."""

    def __init__(self, config, cache):
        self.config = config
        self.cache = cache
        self._lru = None
        self._open = None
        self._open_pid = None

    def __getstate__(self):
        return {"config": self.config, "cache": self.cache, "_lru": None, "_open": None,
                "_open_pid": None}

    @staticmethod
    def layout(record):
        """The record's frame layout (projection and stereo as indexed; probe_layout caches it
        per file)."""
        from avsa_learn.data.video import probe_layout

        return probe_layout(record.video_path, record.projection, record.stereo)

    def _container(self, path):
        """An open PyAV container of ``path`` from the per-worker LRU, or None when it cannot
        be opened (read_frames then opens it itself and raises its error naming the file)."""
        import av

        if self._open is None or self._open_pid != os.getpid():
            # a forked worker must not share its parent's demuxers (nor their file offsets)
            self._open, self._open_pid = OrderedDict(), os.getpid()
        if path in self._open:
            self._open.move_to_end(path)
            return self._open[path]
        try:
            container = av.open(str(path))
        except Exception:                    # FFmpeg errors come in many classes
            return None
        self._open[path] = container
        while len(self._open) > OPEN_VIDEOS_MAX:
            self._open.popitem(last=False)[1].close()
        return container

    def _drop(self, path):
        if self._open and self._open_pid == os.getpid() and path in self._open:
            self._open.pop(path).close()

    def _read_audio(self, record, offset, seconds):
        import spatialfoa

        x, sr, _ = spatialfoa.read_audio(record.audio_path, layout=record.layout,
                                         offset=max(0.0, offset), max_seconds=seconds)
        if x.shape[0] != 4:
            raise ClipError(f"{record.clip_id}: {record.audio_path}: expected 4 ambiX channels "
                            f"after layout {record.layout!r}, got {x.shape[0]}")
        return resample(x, sr, self.config.sample_rate, name=record.audio_path)

    def _whole(self, record, n_frames):
        """(frames, audio) of the whole clip (cached)."""
        from avsa_learn.data.video import read_frames

        if self._lru is None:
            self._lru = OrderedDict()
        key = record.clip_id
        if key in self._lru:
            self._lru.move_to_end(key)
            return self._lru[key]
        frames = read_frames(record.video_path, record.start, n_frames, self.config.fps,
                             layout=self.layout(record))
        audio = self._read_audio(record, record.start, record.duration)
        self._lru[key] = (frames, audio)
        while len(self._lru) > 1 and sum(f.nbytes + a.nbytes
                                         for f, a in self._lru.values()) > CACHE_MAX_BYTES:
            self._lru.popitem(last=False)
        return frames, audio

    def frames(self, record, first, n_frames, n_clip_frames):
        """Frames ``first ... first + n_frames - 1`` of the clip's 1/fps grid (the last frame
        repeats if the video ends early): uint8 RGB (n_frames, H, W, 3) from the cache, else
        as decoded (a :class:`~avsa_learn.data.video.YUVFrames` for yuv420p video, which
        :func:`~avsa_learn.data.equirect.gnomonic_crop` samples without an RGB conversion of
        the whole frames)."""
        from avsa_learn.data.video import read_frames

        fps = self.config.fps
        if self.cache:
            all_frames = self._whole(record, n_clip_frames)[0]
            frames = all_frames[first:first + n_frames]
        else:
            path = record.video_path
            try:
                frames = read_frames(path, record.start + first / fps, n_frames, fps,
                                     layout=self.layout(record), container=self._container(path),
                                     planes=True)
            except Exception:
                self._drop(path)             # a failed read may leave the demuxer anywhere
                raise
        if len(frames) == 0:
            raise ClipError(f"{record.clip_id}: {record.video_path}: no video frames at "
                            f"{record.start + first / fps:.3f} s")
        if len(frames) < n_frames and isinstance(frames, np.ndarray):
            frames = np.concatenate([frames, np.repeat(frames[-1:], n_frames - len(frames), 0)])
        elif len(frames) < n_frames:
            frames = frames.padded(n_frames)
        return frames

    def audio(self, record, offset, n_clip_frames):
        """float32 (4, n) ambiX at config.sample_rate, ``offset`` s after the clip start,
        n = audio_seconds * sample_rate samples (zero-padded past the end of the file)."""
        sr = self.config.sample_rate
        n = int(round(self.config.audio_seconds * sr))
        if self.cache:
            clip_audio = self._whole(record, n_clip_frames)[1]
            i0 = int(round(offset * sr))
            x = clip_audio[:, i0:i0 + n]
        else:
            x = self._read_audio(record, record.start + offset, self.config.audio_seconds)[:, :n]
        if x.shape[1] < n:
            x = np.pad(x, ((0, 0), (0, n - x.shape[1])))
        return np.ascontiguousarray(x, dtype=np.float32)


class _CropDataset(Dataset):
    """Shared machinery of AVCDataset / AVSADataset: ``n_crops`` crops per item."""

    n_crops = 1

    def __init__(self, records, config, split="train", train=True, seed=0, objects=None,
                 skip_bad=None):
        self.records = [r for r in records if split is None or r.split == split]
        self.config = config
        self.split = split
        self.train = bool(train)
        self.seed = int(seed)
        self.objects = objects
        self.skip_bad = self.train if skip_bad is None else bool(skip_bad)
        self.epoch = 0
        self._reader = _ClipReader(config, config.cache_frames)

    def __len__(self):
        return len(self.records)

    def set_epoch(self, epoch):
        """Draw other windows/crops/augmentations from now on. Persistent DataLoader workers
        keep the epoch they started with: pass it with the index instead
        (``avsa_learn.distributed.EpochDataset``)."""
        self.epoch = int(epoch)

    def rng(self, i):
        """The generator of item ``i`` at the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(i)])

    def __getitem__(self, i):
        return self.sample(i, self.rng(i))

    # -- timing ---------------------------------------------------------------------------
    def _layout(self, record):
        """(margin s, first valid frame, last valid frame, frames to decode for the clip)."""
        c = self.config
        margin = (c.audio_seconds - c.n_frames / c.fps) / 2
        lo = max(0, math.ceil(margin * c.fps - 1e-6))
        hi = max(lo, math.floor((record.duration - c.audio_seconds + margin) * c.fps + 1e-6))
        return margin, lo, hi, hi + c.n_frames

    def _first_frame(self, record, lo, hi, rng):
        """The first video frame of a window (clip frame index, lo..hi), drawn uniformly among
        those on the file's ``video_start_step`` grid (any frame for step 1; every frame when
        the grid has none in lo..hi)."""
        step = self.config.video_start_step
        offset = int(round(record.start * self.config.fps))     # the clip's first file frame
        first_on_grid = lo + (-(offset + lo)) % step
        if step == 1 or first_on_grid > hi:
            return int(rng.integers(lo, hi + 1))
        return first_on_grid + step * int(rng.integers(0, (hi - first_on_grid) // step + 1))

    # -- one sample -----------------------------------------------------------------------
    def sample(self, i, rng, audio_yaw=0.0, audio_from=None, with_video=True):
        """The item of clip ``i`` with crops drawn from ``rng``; the scene audio is rotated by
        ``audio_yaw`` (radians, :func:`spatialfoa.rotate` yaw: a source at theta moves to
        theta - yaw) before the per-crop processing, and taken from clip ``audio_from`` (same
        window offset, clamped to that clip) when given. Returns None for an undecodable clip
        when ``skip_bad`` (with a logged warning), else raises :class:`ClipError`.
        ``with_video=False``: the crops are not rendered ("video" holds None; the rest is the
        same), for the evaluation, which renders a view once for several audio variants."""
        _one_thread_in_workers()
        try:
            return self._sample(int(i), rng, float(audio_yaw), audio_from, with_video)
        except ClipError as err:
            if not self.skip_bad:
                raise
            log.warning("skipping clip %d: %s", i, err)
            return None

    def _read(self, fn, record, *args):
        try:
            return fn(record, *args)
        except ClipError:
            raise
        except _READ_ERRORS as err:
            raise ClipError(f"{record.clip_id}: cannot decode {record.video_path}: "
                            f"{type(err).__name__}: {err}") from err

    def _sample(self, i, rng, audio_yaw, audio_from, with_video=True):
        import spatialfoa
        from avsa_learn.data.equirect import gnomonic_crop

        c = self.config
        rec = self.records[i]
        margin, lo, hi, n_clip = self._layout(rec)
        first = self._first_frame(rec, lo, hi, rng)
        offset = first / c.fps - margin
        frames = self._read(self._reader.frames, rec, first, c.n_frames, n_clip)
        audio = self._read(self._reader.audio, rec, offset, n_clip)

        detections, box_shape = None, frames.shape[-3:-1]
        if self.objects is not None and c.crop_strategy in ("object", "quadrants"):
            detections = self.objects.objects_at(rec.clip_id, offset + c.audio_seconds / 2)
            # boxes are in pixels of the frames the detector saw, when the provider knows them
            known = getattr(self.objects, "frame_shape", lambda clip_id: None)(rec.clip_id)
            box_shape = known or box_shape
        crops = choose_crops(c.crop_strategy, rng, c, self.n_crops, detections=detections,
                             frame_shape=box_shape, audio=audio, sr=c.sample_rate)
        augs = [sample_augmentation(rng, c.flip, c.color_jitter) for _ in range(self.n_crops)]
        gain = sample_gain(rng, c.gain_jitter)
        if not self.train:
            augs, gain = [IDENTITY] * self.n_crops, 1.0

        if audio_from is not None and int(audio_from) != i:
            other = self.records[int(audio_from)]
            _, _, other_hi, other_n = self._layout(other)
            other_offset = min(offset, max(0.0, other_hi / c.fps - margin))
            audio = self._read(self._reader.audio, other, other_offset, other_n)
        scene = audio * np.float32(gain)
        if audio_yaw != 0.0:
            scene = spatialfoa.rotate(scene, audio_yaw)

        video = [None] * self.n_crops
        if with_video:
            views = gnomonic_crop(frames, crops.azimuth, crops.elevation, crops.fov,
                                  size=c.crop_size)
            views = to_float(torch.from_numpy(np.ascontiguousarray(views)).permute(0, 1, 4, 2, 3))
            video = torch.stack([normalize(apply_augmentation(v, a)) for v, a in zip(views, augs)])
        feats = crop_audio_features(scene, c.sample_rate, crops.azimuth, crops.elevation, c,
                                    mirror=[a.flip for a in augs])
        directions = torch.from_numpy(np.stack([crops.azimuth, crops.elevation], 1)).float()
        return self._item(video, torch.from_numpy(feats), directions, i, rec.clip_id)

    def _item(self, video, audio, directions, i, clip_id):
        raise NotImplementedError


class AVCDataset(_CropDataset):
    """Audio-visual correspondence: one crop per clip.

    ``AVCDataset(records, config, split="train", train=True, seed=0, objects=None,
    skip_bad=None)``: ``records`` ClipRecords (those of ``split`` are kept; None keeps all),
    ``config`` a :class:`~avsa_learn.data.config.DataConfig`, ``train`` enables augmentation,
    ``objects`` an object provider for the "object"/"quadrants" strategies
    (``objects_at(clip_id, time)``, time in seconds from the clip start; its
    ``frame_shape(clip_id)``, when it has one, gives the (height, width) the boxes refer to,
    else the decoded frames' size), ``skip_bad`` (default: ``train``) returns None for
    undecodable clips. Items: "video" float32 (3, T, S, S) ImageNet-normalised, "audio" float32
    (C, F, M), "direction" (2,) (azimuth, elevation) radians, "clip_index" int64 (position in
    the dataset), "clip_id" str. ``ds.epoch`` / ``ds.set_epoch(e)``: the epoch items are drawn
    for.
    """

    n_crops = 1

    def _item(self, video, audio, directions, i, clip_id):
        return {"video": video[0], "audio": audio[0], "direction": directions[0],
                "clip_index": torch.tensor(i, dtype=torch.int64), "clip_id": clip_id}


class AVSADataset(_CropDataset):
    """Audio-visual spatial alignment: K = 4 crops per clip sharing one time window (arguments
    as :class:`AVCDataset`). Items: "video" (K, 3, T, S, S), "audio" (K, C, F, M),
    "directions" (K, 2), "clip_index" int64, "clip_id" str."""

    n_crops = 4

    def _item(self, video, audio, directions, i, clip_id):
        return {"video": video, "audio": audio, "directions": directions,
                "clip_index": torch.tensor(i, dtype=torch.int64), "clip_id": clip_id}
