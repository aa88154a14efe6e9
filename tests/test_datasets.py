"""AVC/AVSA datasets end to end on tiny MP4 clips: geometry, audio alignment, flip consistency,
evaluation hooks, determinism across DataLoader workers, bad clips, shapes."""
import logging

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import spatialfoa
from avsa_learn.data.augment import (IDENTITY, IMAGENET_MEAN, IMAGENET_STD, Augmentation,
                                     apply_augmentation, normalize, sample_augmentation,
                                     to_float)
from avsa_learn.data.config import AUDIO_FORMATS, FEATURES, DataConfig
from avsa_learn.data.crop_audio import LOGMEL_STD_DB
from avsa_learn.data.datasets import AVCDataset, AVSADataset, ClipError, collate_skip_bad
from avsa_learn.data.equirect import pixel_to_direction
from avsa_learn.data.index import ClipRecord
from avsa_learn.data.video import write_video
from avsa_learn.detect.ground_truth import cap_box
from avsa_learn.detect.types import Detection

H, W, FPS, SR, SECONDS = 128, 256, 16, 24000, 3.0
DISC = np.deg2rad(10)  # angular radius of the red disc
# Clip sources (azimuth, elevation), radians: the red disc and its sound are at the same place.
SOURCES = {"a": (1.0, 0.0), "b": (-0.6, 0.0), "c": (2.4, 0.3)}


def render(az0, el0):
    """Equirect RGB frame: green grows with sin(azimuth) (so a mirror is visible), blue with
    elevation, a red disc of radius DISC at (az0, el0)."""
    cols, rows = np.meshgrid(np.arange(W), np.arange(H))
    az, el = pixel_to_direction(cols, rows, W, H)
    img = np.empty((H, W, 3), np.uint8)
    img[..., 0] = 40
    img[..., 1] = np.round(127 + 90 * np.sin(az)).astype(np.uint8)
    img[..., 2] = np.round(127 + 90 * np.sin(el)).astype(np.uint8)
    u = spatialfoa.direction_vector(az, el)
    inside = u @ spatialfoa.direction_vector(az0, el0) > np.cos(DISC)
    img[inside] = (250, 10, 10)
    return img


def write_clip(folder, name, az0, el0, seed):
    video = write_video(folder / f"{name}.mp4",
                        np.broadcast_to(render(az0, el0), (int(SECONDS * FPS), H, W, 3)), FPS,
                        crf=8, gop=8)
    s = np.random.default_rng(seed).standard_normal(int(SECONDS * SR)) * 0.1
    audio = folder / f"{name}.wav"
    spatialfoa.write_audio(audio, spatialfoa.encode(s, az0, el0).astype(np.float32), SR)
    return ClipRecord(clip_id=f"{name}_0000", video_id=name, video_path=str(video),
                      audio_path=str(audio), start=0.0, duration=SECONDS, split="train",
                      layout="ambix", sample_rate=SR, energy_ratio=1.0, passes=True,
                      loudness_db=-20.0)


class Objects:
    """Object provider: one detection per clip at a fixed direction (picklable)."""

    def __init__(self, table, radius=0.35, box_shape=(H, W), tell_shape=False):
        self.table, self.radius, self.box_shape = table, radius, box_shape
        self.tell_shape = tell_shape
        self.calls = []

    def objects_at(self, clip_id, time):
        self.calls.append((clip_id, time))
        if clip_id not in self.table:
            return []
        az, el = self.table[clip_id]
        h, w = self.box_shape
        return [Detection("ball", 1.0, az, el, cap_box(az, el, self.radius, w, h))]

    def frame_shape(self, clip_id):
        return self.box_shape if self.tell_shape else None


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return [write_clip(folder, name, *SOURCES[name], seed=i) for i, name in enumerate("abc")]


def on_source(clips, offset=0.0):
    return Objects({r.clip_id: (SOURCES[r.video_id][0] + offset, SOURCES[r.video_id][1])
                    for r in clips})


def pixels(video):
    """Normalised float (3, T, S, S) -> uint8-scale float (T, S, S, 3)."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    return ((video * std + mean) * 255).permute(1, 2, 3, 0).numpy()


def iv(audio):
    """Mean intensity vector (x, y, z) of FOA-IV features (7, F, M)."""
    return audio[4:7].reshape(3, -1).mean(1).numpy()


def red_mask(px):
    return (px[..., 0] > 180) & (px[..., 1] < 90)


FOA_IV = dict(feature="foa-iv", flip=False, color_jitter=False, gain_jitter=0.0)


def test_object_crop_is_centred_and_audio_points_front(clips):
    cfg = DataConfig(crop_strategy="quadrants", **FOA_IV)
    objects = on_source(clips)
    ds = AVSADataset(clips, cfg, train=False, objects=objects)
    for i, rec in enumerate(clips):
        item = ds[i]
        az0, el0 = SOURCES[rec.video_id]
        k = int(np.argmin(np.abs(item["directions"][:, 0].numpy() - az0)))
        np.testing.assert_allclose(item["directions"][k].numpy(), [az0, el0], atol=1e-6)
        px = pixels(item["video"][k])
        assert red_mask(px[:, 52:60, 52:60]).all()          # the disc is at the centre
        x, y, z = iv(item["audio"][k])
        assert x > 0.95 and abs(y) < 0.05 and abs(z) < 0.05  # its sound is in front
        for j in set(range(4)) - {k}:                        # other quadrants look elsewhere
            assert not red_mask(pixels(item["video"][j])[:, 52:60, 52:60]).any()
            assert iv(item["audio"][j])[0] < 0.9
    # objects were asked for at the window centre, in seconds from the clip start
    times = [t for _, t in objects.calls]
    assert all(0.5 - 1e-9 <= t <= SECONDS - 0.5 + 1e-9 for t in times)


class Recorder:
    """Wraps an object provider and records the times it is asked for."""

    def __init__(self, provider):
        self.provider, self.calls = provider, []

    def objects_at(self, clip_id, time):
        self.calls.append((clip_id, time))
        return self.provider.objects_at(clip_id, time)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from avsa_learn.data.index import load_index
    from avsa_learn.data.synth import ensure_synthetic_dataset

    root = tmp_path_factory.mktemp("synth")
    return load_index(ensure_synthetic_dataset(root, num_clips=3, seed=0, jobs=1,
                                               progress=False, duration=2.0))


def test_synthetic_objects_appear_at_the_crop_centre(synthetic):
    """Quadrant crops on the ground-truth objects at the window's centre time show the object
    (its class colour) at the crop centre in the middle frame (the one at that time)."""
    import json

    from avsa_learn.data.crops import sector_of
    from avsa_learn.data.synth import CLASSES
    from avsa_learn.detect.ground_truth import GroundTruthDetector

    filled = {c.label: np.array(c.colour) for c in CLASSES
              if c.shape in ("disc", "square", "triangle", "cross")}
    objects = Recorder(GroundTruthDetector(synthetic))
    ds = AVSADataset(synthetic, DataConfig(crop_strategy="quadrants"), split=None, train=False,
                     objects=objects)
    checked = 0
    for epoch in range(2):
        ds.set_epoch(epoch)
        for i, rec in enumerate(ds.records):
            item = ds[i]
            clip_id, t = objects.calls[-1]
            assert clip_id == rec.clip_id
            gt = json.loads(open(rec.gt_path).read())
            dirs = {}
            for obj in gt["objects"]:
                j = int(np.argmin(np.abs(np.asarray(obj["times"]) - t)))
                assert abs(obj["times"][j] - t) < 1e-9  # the centre is a frame time
                dirs[obj["label"]] = (obj["azimuth"][j], obj["elevation"][j])
            occupied = {int(sector_of(az, 4)) for az, _ in dirs.values()}
            on_object = 0
            for k, (az, el) in enumerate(item["directions"].numpy()):
                hits = [lab for lab, (a, e) in dirs.items()
                        if abs(np.angle(np.exp(1j * (a - az)))) < 1e-5 and abs(e - el) < 1e-5]
                if not hits:
                    continue
                on_object += 1
                if hits[0] in filled:
                    centre = pixels(item["video"][k])[4, 54:58, 54:58].reshape(-1, 3)
                    assert np.abs(centre.mean(0) - filled[hits[0]]).max() < 40, hits[0]
                    checked += 1
            assert on_object == len(occupied)
    assert checked >= 3


def test_audio_strategy_faces_the_sound(clips):
    """With crop_strategy="audio" (no detector) a crop faces the single source: it shows the
    red disc and hears the source in front."""
    ds = AVSADataset(clips, DataConfig(crop_strategy="audio", **FOA_IV), train=False)
    for i, rec in enumerate(clips[:2]):
        item = ds[i]
        u = spatialfoa.direction_vector(*SOURCES[rec.video_id])
        d = item["directions"].numpy().astype(float)
        ang = np.degrees(np.arccos(np.clip(spatialfoa.direction_vector(d[:, 0], d[:, 1]) @ u,
                                           -1, 1)))
        k = int(np.argmin(ang))
        assert ang[k] < 8
        assert red_mask(pixels(item["video"][k])[:, 54:58, 54:58]).all()
        assert iv(item["audio"][k])[0] > 0.95


def test_boxes_in_the_providers_frame_size(clips):
    """Boxes measured on 4x larger frames frame the object the same when the provider says so
    (frame_shape); read as pixels of the decoded frames they would give another crop."""
    table = {r.clip_id: SOURCES[r.video_id] for r in clips}
    cfg = DataConfig(crop_strategy="object", color_jitter=False, flip=False)

    def video(**kw):
        return AVCDataset(clips, cfg, train=False, objects=Objects(table, 0.2, **kw))[0]["video"]

    same = video()
    torch.testing.assert_close(video(box_shape=(4 * H, 4 * W), tell_shape=True), same)
    assert not torch.equal(video(box_shape=(4 * H, 4 * W)), same)


def test_stereo_balance_follows_the_crop(clips):
    cfg = DataConfig(audio_format="stereo", feature="icf", crop_strategy="object",
                     flip=False, color_jitter=False, gain_jitter=0.0)
    centred = AVCDataset(clips, cfg, train=False, objects=on_source(clips))[0]["audio"]
    assert abs(float((centred[0] - centred[1]).mean())) < 0.01
    assert abs(float(centred[2].mean())) < 0.05
    # A crop 0.5 rad to the object's right: the object is on the crop's left -> L louder.
    right = AVCDataset(clips, cfg, train=False, objects=on_source(clips, -0.5))[0]["audio"]
    gl, gr = 0.25 + 0.75 * np.sin(0.5), 0.25 - 0.75 * np.sin(0.5)
    level = float((right[0] - right[1]).mean()) * LOGMEL_STD_DB
    assert level == pytest.approx(20 * np.log10(abs(gl / gr)), abs=0.5)
    assert float(right[2].mean()) > 0.5


def test_flip_mirrors_picture_and_audio(clips):
    """Same draws with and without flip: a flipped crop is the mirror picture, the disc moves
    from the crop's left to its right, and the intensity vector's y component changes sign."""
    objects = on_source(clips, -0.25)  # crops 0.25 rad right of the disc: disc on the left
    base = dict(feature="foa-iv", crop_strategy="object", color_jitter=False, gain_jitter=0.0)
    plain = AVCDataset(clips, DataConfig(flip=False, **base), objects=objects)
    flip = AVCDataset(clips, DataConfig(flip=True, **base), objects=objects)
    n_flipped = n_kept = 0
    for epoch in range(3):
        plain.set_epoch(epoch), flip.set_epoch(epoch)
        for i in range(len(clips)):
            a, b = plain[i], flip[i]
            torch.testing.assert_close(a["direction"], b["direction"])
            pa, pb = pixels(a["video"]), pixels(b["video"])
            cols = np.arange(pa.shape[2])
            left = (red_mask(pa) * cols).sum() / red_mask(pa).sum() < pa.shape[2] / 2
            assert left and iv(a["audio"])[1] > 0.15
            if torch.equal(a["video"], b["video"]):
                n_kept += 1
                torch.testing.assert_close(a["audio"], b["audio"])
                continue
            n_flipped += 1
            torch.testing.assert_close(b["video"], a["video"].flip(-1))
            assert (red_mask(pb) * cols).sum() / red_mask(pb).sum() > pb.shape[2] / 2
            np.testing.assert_allclose(iv(b["audio"]), iv(a["audio"]) * [1, -1, 1], atol=1e-4)
            torch.testing.assert_close(b["audio"][:4], a["audio"][:4], atol=1e-4, rtol=0)
    assert n_flipped and n_kept


def test_audio_yaw_and_audio_from(clips):
    cfg = DataConfig(crop_strategy="object", **FOA_IV)
    ds = AVCDataset(clips, cfg, train=False, objects=on_source(clips))
    ref = ds.sample(0, np.random.default_rng(7))
    assert iv(ref["audio"])[0] > 0.95
    # yaw moves the source from the crop centre to azimuth -yaw relative to it
    yawed = ds.sample(0, np.random.default_rng(7), audio_yaw=np.pi / 2)
    torch.testing.assert_close(yawed["video"], ref["video"])
    np.testing.assert_allclose(iv(yawed["audio"]), [0, -1, 0], atol=0.05)
    # clip 1's audio heard from clip 0's crop: its source at (az1 - az0) relative to the crop
    other = ds.sample(0, np.random.default_rng(7), audio_from=1)
    torch.testing.assert_close(other["video"], ref["video"])
    rel = SOURCES["b"][0] - SOURCES["a"][0]
    np.testing.assert_allclose(iv(other["audio"]), [np.cos(rel), np.sin(rel), 0], atol=0.05)
    assert other["clip_id"] == clips[0].clip_id


def test_dataloader_workers_are_deterministic(clips):
    """Two worker processes give the items of the main process, twice; other epochs and seeds
    give other items."""
    cfg = DataConfig(crop_strategy="quadrants")  # with colour jitter (1 torch thread/worker)
    ds = AVCDataset(clips, cfg, seed=3, objects=on_source(clips))
    # forkserver: the workers must not inherit the parent's numba OpenMP pool (fork-unsafe)
    loader = DataLoader(ds, batch_size=2, shuffle=False, num_workers=2, persistent_workers=True,
                        collate_fn=collate_skip_bad, multiprocessing_context="forkserver")
    first, again = list(loader), list(loader)
    single = [collate_skip_bad([ds[0], ds[1]]), collate_skip_bad([ds[2]])]
    assert [b["clip_id"] for b in first] == [["a_0000", "b_0000"], ["c_0000"]]
    for x, y, z in zip(first, again, single):
        for key in ("video", "audio", "direction", "clip_index"):
            torch.testing.assert_close(x[key], y[key], atol=0, rtol=0)
            torch.testing.assert_close(x[key], z[key], atol=0, rtol=0)
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["video"], single[0]["video"][0])
    other_seed = AVCDataset(clips, cfg, seed=4, objects=on_source(clips))
    assert not torch.equal(other_seed[0]["video"], single[0]["video"][0])


def test_cached_clips_give_the_same_items(clips):
    """Same windows, crops and audio; the pixels within a few grey levels: the cache holds
    FFmpeg's RGB frames, uncached reads crop the decoded yuv420p planes and convert only the
    sampled pixels (interpolation before the conversion and its clipping, not after)."""
    base = dict(crop_strategy="random", feature="foa-iv", color_jitter=False)
    plain = AVCDataset(clips, DataConfig(**base), seed=1)
    cached = AVCDataset(clips, DataConfig(cache_frames=True, **base), seed=1)
    level = 1.0 / 255.0 / torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)   # one grey level
    for epoch in range(2):
        plain.set_epoch(epoch), cached.set_epoch(epoch)
        for i in range(len(clips)):
            a, b = plain[i], cached[i]
            levels = ((a["video"] - b["video"]) / level).abs()
            assert levels.max() <= 4.01 and levels.mean() <= 1.0, (levels.max(), levels.mean())
            torch.testing.assert_close(a["audio"], b["audio"], atol=1e-5, rtol=0)


def test_files_kept_open_give_the_same_frames_as_fresh_reads(clips):
    """One dataset reuses its open video files across items and epochs (seeking back and
    forth, the first window included); a new dataset per item opens every file afresh."""
    cfg = DataConfig(crop_strategy="random", color_jitter=False)
    reused = AVSADataset(clips, cfg, seed=3)
    for epoch, i in [(0, 2), (0, 0), (1, 2), (2, 2), (1, 0), (0, 2)]:
        reused.set_epoch(epoch)
        fresh = AVSADataset(clips, cfg, seed=3)
        fresh.set_epoch(epoch)
        torch.testing.assert_close(reused[i]["video"], fresh[i]["video"], atol=0, rtol=0)
    assert len(reused._reader._open) == 2


def test_read_frames_on_an_open_container_seeks_every_time(tmp_path):
    """Frame k of the clip is grey level 7k: windows read through one open container, the
    first window after a later one included, are the frames asked for."""
    import av

    from avsa_learn.data.video import read_frames

    levels = 7 * np.arange(32)
    frames = np.broadcast_to(levels[:, None, None, None].astype(np.uint8), (32, 32, 64, 3))
    path = write_video(tmp_path / "ramp.mp4", frames, FPS, crf=0, gop=8)
    with av.open(str(path)) as container:
        for start in (1.0, 0.0, 1.5, 0.25, 0.0):
            got = read_frames(path, start, 4, FPS, container=container)
            want = levels[int(start * FPS):int(start * FPS) + 4]
            np.testing.assert_allclose(got.reshape(4, -1).mean(1), want, atol=1.5)


def test_window_is_random_and_inside_the_clip(clips):
    """Window starts spread over the clip; the audio window (1 s) never leaves it."""
    objects = on_source(clips)
    ds = AVCDataset(clips[:1], DataConfig(crop_strategy="object", color_jitter=False),
                    objects=objects)
    for epoch in range(16):
        ds.set_epoch(epoch)
        ds[0]
    centres = np.array([t for _, t in objects.calls])
    assert centres.min() >= 0.5 and centres.max() <= SECONDS - 0.5
    assert centres.max() - centres.min() > 1.0  # several different windows
    # video frames start on the 1/fps grid, 0.25 s into the audio window
    np.testing.assert_allclose(((centres - 0.5 + 0.25) * FPS) % 1, 0, atol=1e-6)


def test_corrupt_clip_is_skipped_with_a_warning(clips, tmp_path, caplog):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    rec = ClipRecord(clip_id="bad_0000", video_id="bad", video_path=str(bad),
                     audio_path=str(bad), start=0.0, duration=3.0, split="train",
                     layout="ambix", sample_rate=SR, energy_ratio=None, passes=None,
                     loudness_db=-20.0)
    records = [clips[0], rec]
    cfg = DataConfig(color_jitter=False)
    with caplog.at_level(logging.WARNING, logger="avsa_learn.data.datasets"):
        assert AVCDataset(records, cfg, train=True)[1] is None
    assert "bad_0000" in caplog.text and "bad.mp4" in caplog.text
    with pytest.raises(ClipError, match="bad_0000"):
        AVCDataset(records, cfg, train=False)[1]
    with pytest.raises(ClipError, match="bad_0000"):
        AVCDataset(records, cfg, train=True, skip_bad=False)[1]
    batch = next(iter(DataLoader(AVCDataset(records, cfg), batch_size=2,
                                 collate_fn=collate_skip_bad)))
    assert batch["clip_id"] == ["a_0000"] and batch["video"].shape[0] == 1
    assert collate_skip_bad([None, None]) is None


def test_other_sample_rates_are_resampled(clips, tmp_path):
    """A 48 kHz file becomes 24 kHz: same shapes, the source still in front of its crop, and
    the same level as the 24 kHz file (its band-limited copy)."""
    import dataclasses

    from scipy.signal import resample_poly

    rec = clips[0]
    x, sr, _ = spatialfoa.read_audio(rec.audio_path)
    wav = tmp_path / "a48.wav"
    spatialfoa.write_audio(wav, resample_poly(x, 2, 1, axis=1).astype(np.float32), 2 * sr)
    hi = dataclasses.replace(rec, audio_path=str(wav), sample_rate=2 * sr)
    cfg = DataConfig(crop_strategy="object", **FOA_IV)
    a = AVCDataset([rec], cfg, train=False, objects=on_source(clips))[0]["audio"]
    b = AVCDataset([hi], cfg, train=False, objects=on_source(clips))[0]["audio"]
    assert b.shape == a.shape
    assert iv(b)[0] > 0.95
    level = (b[0] - a[0])[:, :100].mean() * LOGMEL_STD_DB   # bands below ~10 kHz
    assert abs(float(level)) < 0.5


def test_split_filter(clips):
    import dataclasses

    records = [dataclasses.replace(clips[0], split="test")] + clips[1:]
    assert len(AVCDataset(records, DataConfig(), split="train")) == 2
    assert [r.clip_id for r in AVCDataset(records, DataConfig(), split="test").records] \
        == ["a_0000"]
    assert len(AVCDataset(records, DataConfig(), split=None)) == 3


@pytest.mark.parametrize("fmt,feat", [(f, g) for f in AUDIO_FORMATS for g in FEATURES
                                      if not (g == "foa-iv" and f != "ambi")
                                      and not (g == "icf" and f != "stereo")])
def test_item_shapes(clips, fmt, feat):
    cfg = DataConfig(audio_format=fmt, feature=feat, crop_strategy="quadrants", color_jitter=False)
    C = cfg.audio_channels
    assert C == {("ambi", "logmel"): 4, ("ambi", "foa-iv"): 7, ("mono", "logmel"): 1,
                 ("stereo", "logmel"): 2, ("stereo", "icf"): 5}[(fmt, feat)]
    item = AVSADataset(clips, cfg, objects=on_source(clips))[2]
    assert item["video"].shape == (4, 3, 8, 112, 112) and item["video"].dtype == torch.float32
    assert item["audio"].shape == (4, C, 100, 128) and item["audio"].dtype == torch.float32
    assert item["directions"].shape == (4, 2)
    assert item["clip_index"].dtype == torch.int64 and int(item["clip_index"]) == 2
    assert item["clip_id"] == "c_0000"
    item = AVCDataset(clips, cfg, objects=on_source(clips))[1]
    assert item["video"].shape == (3, 8, 112, 112)
    assert item["audio"].shape == (C, 100, 128) and item["direction"].shape == (2,)


def test_augmentation_draws_and_ops():
    rng = np.random.default_rng(0)
    augs = [sample_augmentation(rng) for _ in range(2000)]
    assert 0.45 < np.mean([a.flip for a in augs]) < 0.55
    for name, lo, hi in (("brightness", 0.6, 1.4), ("contrast", 0.6, 1.4),
                         ("saturation", 0.6, 1.4), ("hue", -0.2, 0.2)):
        v = np.array([getattr(a, name) for a in augs])
        assert lo <= v.min() < lo + 0.01 and hi - 0.01 < v.max() <= hi
    assert len({a.order for a in augs}) == 24
    # switched-off parts are identity but consume the same draws
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    off = sample_augmentation(r1, flip=False, color_jitter=False)
    sample_augmentation(r2)
    assert off == IDENTITY and r1.random() == r2.random()

    frames = to_float(torch.randint(0, 256, (1, 3, 16, 16), dtype=torch.uint8)).repeat(4, 1, 1, 1)
    out = apply_augmentation(frames, augs[1])
    assert all(torch.equal(out[0], out[t]) for t in range(4))    # same params for every frame
    assert torch.equal(apply_augmentation(frames, IDENTITY), frames)
    assert torch.equal(apply_augmentation(frames, Augmentation(flip=True)), frames.flip(-1))
    grey = torch.full((2, 3, 4, 4), 0.5)
    torch.testing.assert_close(apply_augmentation(grey, Augmentation(brightness=1.2)), grey * 1.2)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    z = normalize(mean.clone())
    assert z.shape == (3, 2, 4, 4) and torch.allclose(z, torch.zeros(()), atol=1e-6)
    one = normalize(torch.ones(2, 3, 4, 4))
    torch.testing.assert_close(one[:, 0, 0, 0], (1 - torch.tensor(IMAGENET_MEAN))
                               / torch.tensor(IMAGENET_STD))


@pytest.mark.parametrize("start,step", [(0.0, 8), (1.0, 8), (10.0, 8), (0.3125, 8), (0.0, 3)])
def test_video_windows_start_on_the_file_frame_grid(start, step):
    """With data.video_start_step the first frame of every window is a file frame on the step
    grid (avsa-prepare's keyframes for 8), all such frames of the clip are drawn, none other."""
    from avsa_learn.data.index import ClipRecord

    cfg = DataConfig(video_start_step=step)
    rec = ClipRecord(clip_id="c", video_id="v", video_path="v.mp4", audio_path="v.mp4",
                     start=start, duration=10.0, split="train", layout="ambix",
                     sample_rate=24000, energy_ratio=1.0, passes=True, loudness_db=-20.0)
    ds = AVSADataset([rec], cfg, split=None)
    _, lo, hi, _ = ds._layout(rec)
    offset = round(start * cfg.fps)
    rng = np.random.default_rng(0)
    seen = {ds._first_frame(rec, lo, hi, rng) for _ in range(2000)}
    want = {f for f in range(lo, hi + 1) if (offset + f) % step == 0}
    assert seen == want and len(want) >= 15
    # step 1: every frame of lo..hi
    ds1 = AVSADataset([rec], DataConfig(), split=None)
    assert {ds1._first_frame(rec, lo, hi, rng) for _ in range(3000)} == set(range(lo, hi + 1))
