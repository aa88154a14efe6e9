"""Synthetic 360° scenes with ground truth: equirect MP4 + first-order Ambisonics, ``avsa-synth``.

Each clip ``DIR/video/ID.mp4`` holds an equirectangular h264 video (yuv420p, 2:1, default
256x128 at 16 fps, 4 s) and 4-channel AAC audio (FFmpeg layout "quad", 24 kHz) in ambiX
(ACN W, Y, Z, X; SN3D); ``DIR/gt/ID.json`` says where every object is at every frame time.
Directions follow docs/conventions.md (azimuth CCW from the front, +pi/2 = left; elevation up;
radians); the video and the audio agree: an object drawn at (azimuth, elevation) is heard from
there.

A scene: a sky/ground background with smooth texture (continuous across the seam and poles);
2-3 objects of distinct classes (:data:`CLASSES`: shape, colour, texture <-> one sound class),
drawn by direction (each pixel's tangent-plane coordinates around the object centre, so shapes
are right near the poles and across the seam), elevation within +-30 deg, azimuths at least
60 deg apart at all times, some drifting slowly in azimuth; each emits its class's sound,
encoded as a plane wave from its (time-varying) direction with the ambiX gains of
:func:`spatialfoa.sh_coefficients` (Eq. 3, per sample), plus a weak diffuse ambience
(:func:`spatialfoa.diffuse_field`, -20 dB) and optional room reverberation (pyroomacoustics).
Everything is deterministic in (seed, clip number).

``bad_share`` of the clips get audio as real uploads go wrong, recorded in the gt JSON and in
the index's ``audio_kind``: "stereo-padded" (a hypercardioid stereo pair in channels 1-2, 3-4
silent), "fuma" (W, X, Y, Z with W/sqrt2, labelled as ambiX) and "youtube-aac-6ch" (6-channel
AAC [X, Y, W, -, Z, -] as YouTube serves it, FFmpeg layout "6.0" so that no channel is taken
for an LFE and low-passed; indexed with layout "youtube-aac-6ch", which restores ambiX).

>>> index = ensure_synthetic_dataset("data/synthetic", num_clips=200, jobs=2)  # doctest: +SKIP
"""
import argparse
import functools
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from avsa_learn.data.crops import wrap_azimuth
from avsa_learn.data.equirect import direction_to_pixel, pixel_to_direction
from avsa_learn.data.index import ClipRecord, clip_audio_stats, index_text, write_index
from avsa_learn.data.video import write_video
from avsa_learn.engine import Engine
from spatialfoa.encoding import direction_vector
from spatialfoa.validation import FOAError

DEFAULT_ROOT = "data/synthetic"
GENERATOR_VERSION = 1
BAD_KINDS = ("stereo-padded", "fuma", "youtube-aac-6ch")
MIN_SEPARATION = np.deg2rad(60.0)
MAX_ELEVATION = np.deg2rad(30.0)
SOURCE_DISTANCE = 1.0     # m, reverberation only


@dataclass(frozen=True)
class ObjectClass:
    """A visual class and the sound class it emits (fixed mapping)."""

    label: str
    sound: str
    colour: tuple
    shape: str


CLASSES = (
    ObjectClass("red_disc", "tone", (225, 35, 30), "disc"),
    ObjectClass("green_square", "harmonic", (40, 200, 60), "square"),
    ObjectClass("blue_triangle", "band_noise", (40, 70, 235), "triangle"),
    ObjectClass("yellow_stripes", "chirp", (245, 225, 40), "stripes"),
    ObjectClass("magenta_ring", "clicks", (225, 40, 215), "ring"),
    ObjectClass("cyan_cross", "beeps", (40, 225, 230), "cross"),
)


@dataclass(frozen=True)
class SceneConfig:
    """Scene options. ``width`` of the equirect frame (height = width / 2, even), ``fps``,
    ``duration`` (s), ``sample_rate`` (Hz), ``bad_share`` (share of clips with bad audio),
    ``reverb`` (pyroomacoustics room reverberation), ``n_objects`` (None: 2 or 3 at random),
    ``ambience_db`` (diffuse ambience level relative to the sources' W power)."""

    duration: float = 4.0
    fps: float = 16.0
    width: int = 256
    sample_rate: int = 24000
    bad_share: float = 0.0
    reverb: bool = False
    n_objects: int | None = None
    ambience_db: float = -20.0

    def __post_init__(self):
        if not self.duration > 0 or not self.fps > 0:
            raise FOAError(f"duration and fps must be > 0, got {self.duration}, {self.fps}")
        if self.width < 16 or self.width % 4:
            raise FOAError(f"width must be a multiple of 4 >= 16 (2:1 frames with even "
                           f"height), got {self.width}")
        if not 0 <= self.bad_share <= 1:
            raise FOAError(f"bad_share must be in [0, 1], got {self.bad_share}")
        if self.n_objects is not None and not 1 <= self.n_objects <= 3:
            raise FOAError(f"n_objects must be 1, 2 or 3 (60 deg apart), got {self.n_objects}")

    @property
    def height(self):
        return self.width // 2

    @property
    def n_frames(self):
        return int(round(self.duration * self.fps))


# --- the scene ---------------------------------------------------------------------------------
def scene_plan(clip, seed, config):
    """The random draws of clip number ``clip``: objects, trajectories, sounds, audio kind."""
    rng = np.random.default_rng([seed, clip])
    n = config.n_objects or int(rng.integers(2, 4))
    classes = rng.choice(len(CLASSES), n, replace=False)
    times = np.arange(config.n_frames) / config.fps
    for _ in range(1000):
        az0 = rng.uniform(-np.pi, np.pi, n)
        speed = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(8, 20, n)
                         * rng.choice([-1.0, 1.0], n))
        az = az0[:, None] + np.deg2rad(speed)[:, None] * times[None]
        if all(np.min(np.abs(np.angle(np.exp(1j * (az[i] - az[j]))))) >= MIN_SEPARATION
               for i in range(n) for j in range(i)):
            break
    else:                                                      # never for n <= 3
        raise FOAError("could not place the objects 60 degrees apart")
    objects = []
    for k in range(n):
        objects.append({
            "cls": int(classes[k]), "azimuth0": float(az0[k]), "speed": float(np.deg2rad(speed[k])),
            "elevation": float(rng.uniform(-MAX_ELEVATION, MAX_ELEVATION)),
            "angular_radius": float(np.deg2rad(rng.uniform(12, 20))),
            "gain_db": float(rng.uniform(-3, 3)), "sound_seed": int(rng.integers(2 ** 31))})
    bad = np.random.default_rng([seed, clip, 1])
    kind = "ambix"
    if bad.random() < config.bad_share:
        kind = BAD_KINDS[int(bad.integers(len(BAD_KINDS)))]
    return {"clip": clip, "seed": seed, "objects": objects, "times": times,
            "look_seed": int(rng.integers(2 ** 31)), "audio_kind": kind}


def object_azimuth(obj, t):
    """Azimuth (radians, wrapped into (-pi, pi]) of a planned object at time(s) ``t`` (s)."""
    return wrap_azimuth(obj["azimuth0"] + obj["speed"] * np.asarray(t))


# --- pictures ----------------------------------------------------------------------------------
def pixel_vectors(width, height):
    """(H, W, 3) unit vectors (x front, y left, z up) of the pixel centres."""
    az, el = pixel_to_direction(np.arange(width)[None], np.arange(height)[:, None], width, height)
    return direction_vector(az, el)


def background(vectors, rng):
    """Sky/ground gradient with smooth texture and clouds, uint8 (H, W, 3); every term is a
    function of the direction (or periodic in azimuth and faded at the poles)."""
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    el = np.arcsin(np.clip(z, -1, 1))[..., None]
    az = np.arctan2(y, x)[..., None]
    jitter = rng.uniform(-20, 20, (4, 3))
    sky_top, sky_low = np.array([60, 110, 200]) + jitter[0], np.array([175, 205, 235]) + jitter[1]
    ground_high = np.array([125, 115, 80]) + jitter[2]
    ground_low = np.array([55, 85, 40]) + jitter[3]
    up = np.clip(el / (np.pi / 2), 0, 1) ** 0.6
    down = np.clip(-el / (np.pi / 2), 0, 1) ** 0.6
    img = np.where(el >= 0, sky_low + (sky_top - sky_low) * up,
                   ground_high + (ground_low - ground_high) * down)
    texture = np.zeros(el.shape)
    for _ in range(4):
        k, m = rng.integers(1, 7), rng.integers(2, 9)
        texture += rng.uniform(3, 7) * np.sin(k * az + rng.uniform(0, 6.3)) * np.sin(
            m * el + rng.uniform(0, 6.3))
    texture *= np.cos(el)
    grass = 6 * np.sin(23 * az + 9 * np.sin(3 * az)) * np.cos(el) * (el < 0)
    img = img + texture + grass
    for _ in range(int(rng.integers(3, 6))):                  # soft clouds
        c = direction_vector(rng.uniform(-np.pi, np.pi), rng.uniform(0.3, 1.2))
        width = rng.uniform(0.15, 0.35)
        w = np.exp(-(1 - vectors @ c) / width ** 2)[..., None] * (el > 0)
        img = img + w * (250 - img) * 0.7
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def shape_mask(shape, u, v, rho):
    """(mask, shade) of a class shape; ``u``/``v`` tangent-plane coordinates (left/up) over
    tan(angular radius), ``rho`` angular distance over the angular radius; shade in [0, 1]."""
    if shape == "disc":
        return rho < 1, 1 - 0.35 * rho ** 2
    if shape == "square":
        checker = (np.floor((u + 0.7) / 0.35) + np.floor((v + 0.7) / 0.35)) % 2
        return (np.abs(u) < 0.7) & (np.abs(v) < 0.7), 1 - 0.35 * checker
    if shape == "triangle":
        return (v > -0.6) & (np.abs(u) < 0.516 * (0.95 - v)), 0.75 + 0.25 * (v + 0.6) / 1.55
    if shape == "stripes":
        stripe = np.floor((v + 0.7) / 0.2) % 2
        return (np.abs(u) < 0.7) & (np.abs(v) < 0.7), 1 - 0.85 * stripe
    if shape == "ring":
        segment = np.floor((np.arctan2(v, u) + np.pi) / (np.pi / 4)) % 2
        return (rho > 0.55) & (rho < 1), 1 - 0.3 * segment
    if shape == "cross":
        arm = ((np.abs(u) < 0.28) & (np.abs(v) < 0.9)) | ((np.abs(v) < 0.28) & (np.abs(u) < 0.9))
        return arm, 1 - 0.15 * rho
    raise FOAError(f"unknown shape {shape!r}")


def draw_object(frame, vectors, cls, azimuth, elevation, radius):
    """Paint one object onto ``frame`` (H, W, 3) uint8, in place, by direction."""
    height, width = frame.shape[:2]
    _, r_top = direction_to_pixel(0.0, min(np.pi / 2, elevation + 1.5 * radius), width, height)
    _, r_bot = direction_to_pixel(0.0, max(-np.pi / 2, elevation - 1.5 * radius), width, height)
    r0, r1 = max(0, int(r_top) - 1), min(height, int(r_bot) + 2)
    band = vectors[r0:r1]
    ca, sa, ce, se = np.cos(azimuth), np.sin(azimuth), np.cos(elevation), np.sin(elevation)
    centre = direction_vector(azimuth, elevation)
    left = np.array([-sa, ca, 0.0])
    up = np.array([-se * ca, -se * sa, ce])
    dc = band @ centre
    ahead = dc > np.cos(1.5 * radius)
    safe = np.where(ahead, dc, 1.0)
    t = np.tan(radius)
    u, v = (band @ left) / safe / t, (band @ up) / safe / t
    rho = np.arccos(np.clip(dc, -1, 1)) / radius
    mask, shade = shape_mask(cls.shape, u, v, rho)
    mask &= ahead
    colour = np.asarray(cls.colour, float)
    if cls.shape == "stripes":                                # yellow on near-black stripes
        paint = colour * shade[..., None] + 30 * (shade < 0.5)[..., None]
    else:
        paint = colour * shade[..., None]
    region = frame[r0:r1]
    region[mask] = np.clip(np.round(paint[mask]), 0, 255).astype(np.uint8)


def render_video(plan, config):
    """uint8 frames (T, H, W, 3) of a scene plan."""
    vectors = pixel_vectors(config.width, config.height)
    rng = np.random.default_rng(plan["look_seed"])
    bg = background(vectors, rng)
    frames = np.repeat(bg[None], len(plan["times"]), axis=0)
    for obj in plan["objects"]:
        cls = CLASSES[obj["cls"]]
        if obj["speed"] == 0.0:                               # static: paint once, copy
            layer = bg.copy()
            draw_object(layer, vectors, cls, obj["azimuth0"], obj["elevation"],
                        obj["angular_radius"])
            changed = np.any(layer != bg, axis=-1)
            frames[:, changed] = layer[changed]
            continue
        for i, t in enumerate(plan["times"]):
            draw_object(frames[i], vectors, cls, object_azimuth(obj, t), obj["elevation"],
                        obj["angular_radius"])
    return frames


# --- sounds ------------------------------------------------------------------------------------
def class_sound(sound, rng, n, sr):
    """A mono signal (n,) of a sound class, RMS 1. Classes: tone, harmonic, band_noise, chirp,
    clicks, beeps (parameters drawn from ``rng`` within the class's range)."""
    from scipy.signal import butter, sosfilt

    t = np.arange(n) / sr
    if sound == "tone":
        f = rng.uniform(300, 700)
        phase = 2 * np.pi * f * t + 0.02 * f / 5 * np.sin(2 * np.pi * 5 * t)
        s = np.sin(phase) + 0.2 * np.sin(2 * phase)
    elif sound == "harmonic":
        f0 = rng.uniform(110, 220)
        s = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k for k in range(1, 13)
                if k * f0 < 0.45 * sr)
    elif sound == "band_noise":
        fc = rng.uniform(1200, 3000)
        sos = butter(4, [fc / 1.41, fc * 1.41], btype="band", fs=sr, output="sos")
        s = sosfilt(sos, rng.standard_normal(n))
    elif sound == "chirp":
        period = rng.uniform(0.4, 0.7)
        tau = np.mod(t, period) / period
        f_lo, f_hi = rng.uniform(300, 600), rng.uniform(2500, 4000)
        inst = f_lo * (f_hi / f_lo) ** tau                    # exponential sweep per period
        phase = 2 * np.pi * np.cumsum(inst) / sr
        s = np.sin(phase) * np.sin(np.pi * tau) ** 0.5
    elif sound == "clicks":
        rate = rng.uniform(3, 8)
        s = np.zeros(n)
        burst = rng.standard_normal(int(0.008 * sr)) * np.exp(-np.arange(int(0.008 * sr))
                                                              / (0.002 * sr))
        for start in (np.arange(0, n / sr, 1 / rate) * sr).astype(int):
            seg = s[start:start + len(burst)]
            seg += burst[:len(seg)]
    elif sound == "beeps":
        f = rng.uniform(1200, 2500)
        on = np.mod(t, 0.25) < 0.1
        s = np.sin(2 * np.pi * f * t) * on
    else:
        raise FOAError(f"unknown sound class {sound!r}")
    return s / np.sqrt(np.mean(s ** 2))


def render_audio(plan, config):
    """ambiX (4, n) float32 (W, Y, Z, X; SN3D) of a scene plan, peak <= 0.9."""
    from spatialfoa import diffuse_field, sh_coefficients

    sr = config.sample_rate
    n = int(round(config.duration * sr))
    t = np.arange(n) / sr
    x = np.zeros((4, n))
    for obj in plan["objects"]:
        cls = CLASSES[obj["cls"]]
        s = class_sound(cls.sound, np.random.default_rng(obj["sound_seed"]), n, sr)
        s *= 0.1 * 10 ** (obj["gain_db"] / 20)
        az = object_azimuth(obj, t) if obj["speed"] else obj["azimuth0"]
        gains = sh_coefficients(az, obj["elevation"])          # Eq. 3, per sample if moving
        x += gains.T * s if np.ndim(az) else gains[:, None] * s
        if config.reverb:
            x += reverb_tail(s, obj, sr, np.mean(object_azimuth(obj, t[[0, -1]])))
    level = np.sqrt(np.mean(x[0] ** 2)) * 10 ** (config.ambience_db / 20)
    rng = np.random.default_rng([plan["seed"], plan["clip"], 2])
    x += level * diffuse_field(n, n_directions=32, rng=rng)
    peak = np.max(np.abs(x))
    if peak > 0.9:
        x *= 0.9 / peak
    return x.astype(np.float32)


def reverb_tail(s, obj, sr, azimuth):
    """The room's reverberation of source ``s`` (no direct sound), ambiX (4, n).

    A shoebox room (pyroomacoustics, image sources) with four coincident microphones whose
    directivities are the first-order real spherical harmonics (ACN, N3D -> SN3D), the source
    1 m away (about the critical distance) at (azimuth, elevation). The response is scaled so the direct path has gain 1
    (as the plane wave added separately) and cut 2.5 ms after the direct arrival.
    """
    import pyroomacoustics as pra
    from pyroomacoustics.directivities import RealSphericalHarmonicsDirectivity as Harmonic
    from scipy.signal import oaconvolve

    from spatialfoa.formats import n3d_to_sn3d

    room = pra.ShoeBox([7.0, 5.0, 3.1], fs=sr, materials=pra.Material(0.35), max_order=12,
                       air_absorption=False)                  # RT60 ~0.25 s
    mic = np.array([3.3, 2.4, 1.37])                           # not at mid-height (Z cancels)
    room.add_microphone_array(np.tile(mic[:, None], (1, 4)),
                              directivity=[Harmonic(0, 0), Harmonic(-1, 1), Harmonic(0, 1),
                                           Harmonic(1, 1)])
    room.add_source(mic + SOURCE_DISTANCE * direction_vector(azimuth, obj["elevation"]))
    room.compute_rir()
    length = min(len(r[0]) for r in room.rir)
    h = n3d_to_sn3d(np.stack([r[0][:length] for r in room.rir]))
    direct = int(np.argmax(np.abs(h[0])))
    h = h / h[0, direct]
    h[:, :direct + int(0.0025 * sr)] = 0.0
    return oaconvolve(h, s[None], axes=1)[:, :len(s)]


def file_audio(x, kind):
    """(channels as written, FFmpeg layout, index layout) of ambiX ``x`` for an audio kind."""
    from spatialfoa import YOUTUBE_AAC_6CH, ambix_to_fuma, to_stereo

    if kind == "ambix":
        return x, "quad", "ambix"
    if kind == "stereo-padded":
        return np.concatenate([to_stereo(x), np.zeros_like(x[:2])]), "quad", "ambix"
    if kind == "fuma":
        return ambix_to_fuma(x), "quad", "ambix"
    if kind == "youtube-aac-6ch":
        y = np.zeros((6, x.shape[1]), x.dtype)
        y[list(YOUTUBE_AAC_6CH)] = x                           # decoded [X, Y, W, -, Z, -]
        return y, "6.0", "youtube-aac-6ch"
    raise FOAError(f"unknown audio kind {kind!r}")


# --- files -------------------------------------------------------------------------------------
def clip_name(clip):
    return f"synth_{clip:05d}"


def generator_signature(seed, config):
    """What a clip's content depends on; a stored clip with another signature is remade."""
    return {"version": GENERATOR_VERSION, "seed": int(seed), **asdict(config)}


def make_clip(root, clip, seed, config):
    """Render, encode and write clip number ``clip`` (video, then gt JSON last) -> gt dict."""
    from spatialfoa.audio_io import read_audio

    root = Path(root)
    (root / "video").mkdir(parents=True, exist_ok=True)
    (root / "gt").mkdir(parents=True, exist_ok=True)
    name = clip_name(clip)
    plan = scene_plan(clip, seed, config)
    audio, ffmpeg_layout, layout = file_audio(render_audio(plan, config), plan["audio_kind"])
    video_path = root / "video" / f"{name}.mp4"
    write_video(video_path, render_video(plan, config), config.fps, audio,
                config.sample_rate, ffmpeg_layout, atomic=True)
    x, sr, _ = read_audio(video_path, layout=layout)           # what a loader will see
    loudness, ratio, passes = clip_audio_stats(x, sr)
    times = plan["times"]
    gt = {
        "clip_id": f"{name}_0000", "video_id": name, "duration": config.duration,
        "fps": config.fps, "sample_rate": config.sample_rate, "width": config.width,
        "height": config.height,
        "objects": [{
            "label": CLASSES[o["cls"]].label, "sound": CLASSES[o["cls"]].sound,
            "times": [round(float(t), 6) for t in times],
            "azimuth": [round(float(a), 6) for a in object_azimuth(o, times)],
            "elevation": [round(o["elevation"], 6)] * len(times),
            "angular_radius": round(o["angular_radius"], 6)} for o in plan["objects"]],
        "audio": {"kind": plan["audio_kind"], "layout": layout,
                  "energy_ratio": None if ratio is None else round(float(ratio), 6),
                  "passes": passes, "loudness_db": round(loudness, 3)},
        "generator": generator_signature(seed, config),
    }
    gt_path = root / "gt" / f"{name}.json"
    tmp = gt_path.with_name(gt_path.name + ".part")
    tmp.write_text(json.dumps(gt, indent=1))
    os.replace(tmp, gt_path)
    return gt


def _clip_done(root, clip, signature):
    name = clip_name(clip)
    gt_path = root / "gt" / f"{name}.json"
    if not (gt_path.is_file() and (root / "video" / f"{name}.mp4").is_file()):
        return None
    try:
        gt = json.loads(gt_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return gt if gt.get("generator") == signature else None


def ensure_synthetic_dataset(root=DEFAULT_ROOT, num_clips=200, seed=0, jobs=None,
                             test_fraction=0.2, progress=True, **kw):
    """Generate the synthetic dataset under ``root`` if needed -> path of ``root/index.jsonl``.

    Only missing clips (or clips made with other options) are generated: each clip's video and
    gt JSON are written atomically, the JSON last, so an interrupted run resumes where it
    stopped. ``kw`` are :class:`SceneConfig` options (duration, fps, width, sample_rate,
    bad_share, reverb, n_objects, ambience_db). ``jobs`` worker processes (default: the CPU
    count). The index lists clips 0..num_clips-1, one clip per video; every
    1/test_fraction-th video is "test" (split by video). A tqdm bar on stderr shows progress.
    """
    config = SceneConfig(**kw)
    if num_clips < 1:
        raise FOAError(f"num_clips must be >= 1, got {num_clips}")
    root = Path(root)
    signature = generator_signature(seed, config)
    gts = {i: _clip_done(root, i, signature) for i in range(num_clips)}
    todo = [i for i, gt in gts.items() if gt is None]
    jobs = min(jobs or os.cpu_count() or 1, max(1, len(todo)))
    with Engine("local", jobs=jobs, progress=progress and bool(todo)) as engine:
        work = functools.partial(_make_clip_at, root=root, seed=seed, config=config)
        for i, gt in engine.map(work, todo, desc="avsa-synth", unit="clip"):
            if isinstance(gt, Exception):
                raise gt
            gts[i] = gt
    records = [_record(root.resolve(), i, gts[i], test_fraction) for i in range(num_clips)]
    index = root / "index.jsonl"
    if not index.is_file() or index.read_text() != index_text(index, records):
        write_index(index, records)                           # atomic
    return index


def _make_clip_at(i, root, seed, config):
    return make_clip(root, i, seed, config)


def _record(root, clip, gt, test_fraction):
    name = clip_name(clip)
    test = test_fraction > 0 and int((clip + 1) * test_fraction) > int(clip * test_fraction)
    audio = gt["audio"]
    return ClipRecord(
        clip_id=gt["clip_id"], video_id=name, video_path=str(root / "video" / f"{name}.mp4"),
        audio_path=str(root / "video" / f"{name}.mp4"), start=0.0, duration=gt["duration"],
        split="test" if test else "train", layout=audio["layout"],
        sample_rate=gt["sample_rate"], energy_ratio=audio["energy_ratio"],
        passes=audio["passes"], loudness_db=audio["loudness_db"],
        gt_path=str(root / "gt" / f"{name}.json"), audio_kind=audio["kind"])


def main(argv=None):
    """``avsa-synth --out DIR --num-clips N``: generate synthetic 360° clips with ground truth."""
    ap = argparse.ArgumentParser(prog="avsa-synth", description="Generate synthetic 360-degree "
                                 "scenes (equirect MP4 + ambiX FOA) with ground truth.")
    ap.add_argument("--out", default=DEFAULT_ROOT, help="dataset folder")
    ap.add_argument("--num-clips", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=4.0, help="seconds per clip")
    ap.add_argument("--width", type=int, default=256, help="equirect width (height = width/2)")
    ap.add_argument("--fps", type=float, default=16.0)
    ap.add_argument("--bad-share", type=float, default=0.0,
                    help="share of clips with bad audio (stereo-padded, FuMa, YouTube 6-ch)")
    ap.add_argument("--reverb", action="store_true", help="add room reverberation")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPUs)")
    args = ap.parse_args(argv)
    try:
        index = ensure_synthetic_dataset(args.out, args.num_clips, seed=args.seed,
                                         jobs=args.jobs, duration=args.duration,
                                         width=args.width, fps=args.fps,
                                         bad_share=args.bad_share, reverb=args.reverb)
    except FOAError as err:
        ap.exit(2, f"avsa-synth: error: {err}\n")
    sys.stderr.write(f"avsa-synth: {args.num_clips} clips indexed in {index}\n")
    return 0
