"""Synthetic scenes: the decoded video shows each object where the ground truth says, the
decoded audio comes from there, channel order survives AAC, bad files are what they claim."""
import json
import math

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

import spatialfoa
from avsa_learn.data.equirect import pixel_to_direction
from avsa_learn.data.index import load_index
from avsa_learn.data.synth import (BAD_KINDS, CLASSES, SceneConfig, draw_object, file_audio,
                                   main, make_clip, pixel_vectors, render_audio, scene_plan,
                                   ensure_synthetic_dataset)
from avsa_learn.data.video import read_frames

SMALL = dict(duration=2.0, width=128)


def unit(az, el):
    return np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])


def colour_fraction(frame, az, el, radius, colour):
    """Share of the pixels within 0.8 ``radius`` of (az, el) whose colour points like
    ``colour`` (cosine similarity of RGB vectors > 0.98: shading only scales brightness)."""
    h, w = frame.shape[:2]
    paz, pel = pixel_to_direction(np.arange(w)[None], np.arange(h)[:, None], w, h)
    v = np.stack(np.broadcast_arrays(np.cos(pel) * np.cos(paz), np.cos(pel) * np.sin(paz),
                                     np.sin(pel)), -1)
    near = v @ unit(az, el) > math.cos(0.8 * radius)
    px = frame[near].astype(float)
    c = np.asarray(colour, float)
    cos = px @ c / (np.linalg.norm(px, axis=1) * np.linalg.norm(c) + 1e-9)
    return np.mean(cos > 0.98)


def intensity_direction(x, sr, t0, t1):
    """Direction of the time-averaged active intensity W * (X, Y, Z) between t0 and t1 (s)."""
    w, y, z, xx = x[:, int(t0 * sr):int(t1 * sr)].astype(float)
    i = np.array([np.mean(w * xx), np.mean(w * y), np.mean(w * z)])
    return math.atan2(i[1], i[0]), math.atan2(i[2], math.hypot(i[0], i[1]))


def angle_between(a1, e1, a2, e2):
    return math.degrees(math.acos(np.clip(unit(a1, e1) @ unit(a2, e2), -1, 1)))


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Clips 0-3 of seed 0 (2-3 objects) and single-object clips 0-7 of seed 5."""
    root = tmp_path_factory.mktemp("synth")
    multi = [make_clip(root / "multi", i, 0, SceneConfig(**SMALL)) for i in range(4)]
    single = [make_clip(root / "one", i, 5, SceneConfig(n_objects=1, **SMALL)) for i in range(8)]
    return root, multi, single


def test_objects_are_drawn_where_the_ground_truth_says(scenes):
    root, multi, _ = scenes
    for gt in multi:
        frames = read_frames(root / "multi" / "video" / f"{gt['video_id']}.mp4", 0.0,
                             n_frames=3, fps=gt["fps"] / 12)          # t = 0, 0.75, 1.5 s
        for obj in gt["objects"]:
            colour = next(c.colour for c in CLASSES if c.label == obj["label"])
            for k, frame in enumerate(frames):
                i = 12 * k
                az, el = obj["azimuth"][i], obj["elevation"][i]
                assert obj["times"][i] == pytest.approx(0.75 * k)
                here = colour_fraction(frame, az, el, obj["angular_radius"], colour)
                away = colour_fraction(frame, az + math.pi, -el, obj["angular_radius"], colour)
                assert here > 0.3 and away < 0.05, (gt["clip_id"], obj["label"], here, away)


def test_ground_truth_geometry_constraints():
    config = SceneConfig()
    for clip in range(150):
        plan = scene_plan(clip, 11, config)
        objs = plan["objects"]
        assert 2 <= len(objs) <= 3
        assert len({o["cls"] for o in objs}) == len(objs)
        az = np.array([[o["azimuth0"] + o["speed"] * t for t in plan["times"]] for o in objs])
        for i in range(len(objs)):
            assert abs(objs[i]["elevation"]) <= math.radians(30)
            assert abs(objs[i]["speed"]) <= math.radians(20)
            for j in range(i):
                gap = np.abs(np.angle(np.exp(1j * (az[i] - az[j]))))
                assert gap.min() >= math.radians(60)


def test_audio_comes_from_the_object(scenes):
    """Single-object clips, audio decoded from the MP4: the active intensity of 0.5 s windows
    (at least one click of the slowest click train) points at the ground-truth direction at
    the window centre."""
    root, _, single = scenes
    for gt in single:
        x, sr, _ = spatialfoa.read_audio(root / "one" / "video" / f"{gt['video_id']}.mp4",
                                         layout="ambix")
        assert x.shape[0] == 4 and sr == 24000
        obj = gt["objects"][0]
        for t0 in (0.1, 0.8, 1.4):
            i = int(round((t0 + 0.25) * gt["fps"]))
            az, el = intensity_direction(x, sr, t0, t0 + 0.5)
            err = angle_between(az, el, obj["azimuth"][i], obj["elevation"][i])
            assert err < 6, (obj["label"], obj["sound"], t0, err)


def test_reverberation_adds_a_room_tail_and_keeps_the_direction():
    """With broadband sounds (clips 0 and 4 of seed 5 are click trains) the active intensity
    still points near the source; narrowband ones (tones) interfere with their reflections."""
    dry_config = SceneConfig(n_objects=1, **SMALL)
    wet_config = SceneConfig(n_objects=1, reverb=True, **SMALL)
    for clip in (0, 4):
        plan = scene_plan(clip, 5, dry_config)
        assert CLASSES[plan["objects"][0]["cls"]].sound == "clicks"
        dry = render_audio(plan, dry_config).astype(float)
        wet = render_audio(plan, wet_config).astype(float)
        tail = wet / np.abs(wet).max() - dry / np.abs(dry).max()
        assert np.mean(tail[0] ** 2) > 0.1 * np.mean((dry[0] / np.abs(dry).max()) ** 2)
        obj = plan["objects"][0]
        az, el = intensity_direction(wet, 24000, 0.0, 2.0)
        mid = obj["azimuth0"] + obj["speed"] * 1.0
        assert angle_between(az, el, mid, obj["elevation"]) < 15
        assert abs(spatialfoa.energy_ratio(wet, 24000) - 1) < 0.35


def test_each_visual_class_has_its_own_sound():
    assert len(CLASSES) >= 5
    assert len({c.label for c in CLASSES}) == len({c.sound for c in CLASSES}) == len(CLASSES)
    assert len({c.shape for c in CLASSES}) == len({c.colour for c in CLASSES}) == len(CLASSES)


@pytest.mark.parametrize("kind,channels", [("ambix", 4), ("youtube-aac-6ch", 6)])
def test_channel_order_survives_the_aac_round_trip(tmp_path, kind, channels):
    """Each decoded channel correlates best with the channel written at its position."""
    import av

    from avsa_learn.data.video import write_video

    config = SceneConfig(n_objects=3, **SMALL)
    x = render_audio(scene_plan(2, 1, config), config)
    written, ffmpeg_layout, _ = file_audio(x, kind)
    # make every channel distinct (6-channel files carry two silent ones)
    written = written + 0.05 * np.random.default_rng(0).standard_normal(written.shape).astype(
        np.float32)
    frames = np.zeros((int(config.duration * config.fps), 64, 128, 3), np.uint8)
    path = tmp_path / "c.mp4"
    write_video(path, frames, config.fps, written, 24000, ffmpeg_layout)
    with av.open(str(path)) as c:
        assert c.streams.audio[0].codec_context.channels == channels
    y, sr, _ = spatialfoa.read_audio(path)
    n = min(y.shape[1], written.shape[1]) - 2048
    lowpass = butter(8, 4000, fs=sr, output="sos")           # AAC keeps this band well
    a, b = (sosfilt(lowpass, v[:, 1024:n], axis=1) for v in (y, written))
    corr = np.corrcoef(np.concatenate([a, b]))[:channels, channels:]
    np.testing.assert_array_equal(np.argmax(corr, axis=1), np.arange(channels))
    assert np.all(np.diag(corr) > 0.9)


def test_bad_share_files_are_flagged_and_are_what_they_claim(tmp_path):
    index = ensure_synthetic_dataset(tmp_path, num_clips=4, seed=0, jobs=1, progress=False,
                                     bad_share=1.0, n_objects=1, **SMALL)
    records = load_index(index)
    kinds = {r.audio_kind for r in records}
    assert kinds == set(BAD_KINDS)                            # clips 0-3 of seed 0 cover all
    for r in records:
        gt = json.loads(open(r.gt_path).read())
        assert gt["audio"]["kind"] == r.audio_kind
        x, sr, info = spatialfoa.read_audio(r.audio_path, layout=r.layout)
        obj = gt["objects"][0]
        if r.audio_kind == "fuma":        # W at -3 dB and X, Y, Z in slots 1-3: ratio ~ 2
            assert info["channels"] == 4 and r.layout == "ambix"
            assert r.energy_ratio == pytest.approx(2.0, rel=0.15) and not r.passes
        elif r.audio_kind == "stereo-padded":
            assert not np.any(x[2:]) and not r.passes
        else:                             # YouTube 6-ch: remapped, it is good ambiX again
            assert info["channels"] == 6 and r.layout == "youtube-aac-6ch"
            assert r.passes and r.energy_ratio == pytest.approx(1.0, abs=0.1)
            az, el = intensity_direction(x, sr, 0.1, 0.35)
            assert angle_between(az, el, obj["azimuth"][4], obj["elevation"][4]) < 6


def test_same_seed_same_ground_truth(tmp_path):
    config = SceneConfig(**SMALL)
    make_clip(tmp_path / "a", 3, 7, config)
    make_clip(tmp_path / "b", 3, 7, config)
    make_clip(tmp_path / "c", 3, 8, config)
    a, b, c = ((tmp_path / d / "gt" / "synth_00003.json").read_text() for d in "abc")
    assert a == b and a != c
    fa, fb = (read_frames(tmp_path / d / "video" / "synth_00003.mp4", 0.5, 2) for d in "ab")
    np.testing.assert_array_equal(fa, fb)


def test_drawing_by_direction_is_right_at_the_seam_and_near_the_pole():
    """A disc painted at (pi, 0) or at 70 deg elevation covers exactly the pixels whose
    direction lies within its angular radius (independent per-pixel test)."""
    w, h = 128, 64
    vectors = pixel_vectors(w, h)
    disc = CLASSES[0]
    assert disc.shape == "disc"
    for az, el in ((math.pi, 0.0), (2.5, math.radians(70)), (-3.0, math.radians(-65))):
        frame = np.zeros((h, w, 3), np.uint8)
        draw_object(frame, vectors, disc, az, el, math.radians(15))
        want = np.zeros((h, w), bool)
        for y in range(h):
            for x in range(w):
                paz, pel = pixel_to_direction(x, y, w, h)
                want[y, x] = unit(float(paz), float(pel)) @ unit(az, el) > math.cos(
                    math.radians(15))
        np.testing.assert_array_equal(frame.any(-1), want)


def test_dataset_is_resumable_indexed_and_split_by_video(tmp_path, capsys):
    kw = dict(num_clips=5, seed=2, jobs=1, progress=False, duration=1.0, width=64)
    index = ensure_synthetic_dataset(tmp_path, **kw)
    records = load_index(index)
    assert [r.clip_id for r in records] == [f"synth_{i:05d}_0000" for i in range(5)]
    assert [r.split for r in records].count("test") == 1       # every 5th video
    assert all(r.gt_path and r.video_path == r.audio_path and r.start == 0 for r in records)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "video").iterdir()}
    (tmp_path / "gt" / "synth_00002.json").unlink()            # as if interrupted
    ensure_synthetic_dataset(tmp_path, **kw)
    again = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "video").iterdir()}
    changed = sorted(k for k in stamps if stamps[k] != again[k])
    assert changed == ["synth_00002.mp4"]
    assert load_index(index) == records
    assert not list(tmp_path.rglob("*.part"))


def test_cli_with_worker_processes(tmp_path):
    assert main(["--out", str(tmp_path), "--num-clips", "2", "--jobs", "2", "--duration", "1",
                 "--width", "64", "--seed", "4"]) == 0
    records = load_index(tmp_path / "index.jsonl")
    assert len(records) == 2
    gt = json.loads(open(records[1].gt_path).read())
    assert gt["generator"]["seed"] == 4 and gt["width"] == 64 and gt["height"] == 32
    frames = read_frames(records[1].video_path, 0.0, n_frames=16, fps=16)
    assert frames.shape == (16, 32, 64, 3)
