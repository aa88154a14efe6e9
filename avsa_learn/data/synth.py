"""Synthetic 360° scenes with ground truth: equirect MP4 + first-order Ambisonics, ``avsa-synth``.

Each clip ``DIR/video/ID.mp4`` holds an equirectangular h264 video (yuv420p, 2:1, default
256x128 at 16 fps, 4 s) and 4-channel AAC audio (FFmpeg layout "quad", 24 kHz) in ambiX
(ACN W, Y, Z, X; SN3D); ``DIR/gt/ID.json`` says where every object and every sound source is
at every frame time. Directions follow docs/conventions.md (azimuth CCW from the front,
+pi/2 = left; elevation up; radians); the video and the audio agree: a sounding object drawn at
(azimuth, elevation) is heard from there.

Two difficulties (:data:`DIFFICULTIES`, :meth:`SceneConfig.preset`):

- **easy** (the :class:`SceneConfig` field defaults): 2-3 objects of distinct classes
  (:data:`CLASSES`: shape, colour, texture <-> one sound), all visible and always sounding,
  60 deg apart, a -20 dB diffuse ambience, optional pyroomacoustics reverberation.
- **hard** (the default of ``avsa-train``): 1-3 sounding objects plus 0-2 *silent* visible
  objects of the same classes (:data:`HARD_CLASSES`: the shape names the class; colour is drawn
  per object, texture from three per class), 45 deg apart; each sound type drawn from three
  per class, shared between classes (:data:`HARD_SOUNDS`); 0-1 invisible sources (heard, not
  seen); on/off activity; a diffuse music bed in half the clips; diffuse reverberation with
  RT60 0.3-1 s; a diffuse ambience -10..0 dB re the sources; 30 % of the files with audio as
  uploads go wrong (24 % invalid ambisonics, which the index's Eq. 13 filter removes).

Sounds are plane waves from their (time-varying) direction with the ambiX gains of
:func:`spatialfoa.sh_coefficients` (Eq. 3, per sample); see :mod:`avsa_learn.data.synth_sounds`
for the signals and diffuse parts and :mod:`avsa_learn.data.synth_pictures` for the pictures.
Everything is deterministic in (seed, clip number).

``bad_share`` of the clips get audio as real uploads go wrong, recorded in the gt JSON and in
the index's ``audio_kind``: "stereo-padded" (a hypercardioid stereo pair in channels 1-2, 3-4
silent), "fuma" (W, X, Y, Z with W/sqrt2, labelled as ambiX), "mono-upmix" (W copied into all
four channels), "dipole-gain" (X, Y, Z scaled by 0.3-0.6 or 1.6-2.2, a bad encoder) and
"youtube-aac-6ch" (6-channel AAC [X, Y, W, -, Z, -] as YouTube serves it, FFmpeg layout "6.0" so
that no channel is taken for an LFE and low-passed; indexed with layout "youtube-aac-6ch",
which restores ambiX: a valid file).

>>> index = ensure_synthetic_dataset("data/synthetic", num_clips=200, jobs=2,
...                                  difficulty="hard")                  # doctest: +SKIP
"""
import argparse
import functools
import json
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from avsa_learn.data.crops import wrap_azimuth
from avsa_learn.data.index import ClipRecord, clip_audio_stats, index_text, write_index
from avsa_learn.data.synth_pictures import (background, draw_object, paint_moving,
                                            pixel_vectors, shape_mask)
from avsa_learn.data.synth_sounds import (activity, decorrelated_diffuse, diffuse_noise,
                                          music_bed, reverberate, source_sound,
                                          SOUND_TYPES)
from avsa_learn.data.video import write_video
from avsa_learn.engine import Engine
from spatialfoa.encoding import direction_vector
from spatialfoa.validation import FOAError

__all__ = ["BAD_KINDS", "CLASSES", "DIFFICULTIES", "HARD_CLASSES", "HARD_SOUNDS",
           "INVALID_KINDS", "SceneConfig", "draw_object", "ensure_synthetic_dataset",
           "file_audio", "main", "make_clip", "pixel_vectors", "render_audio", "render_video",
           "scene_plan", "shape_mask"]

DEFAULT_ROOT = "data/synthetic"
GENERATOR_VERSION = 2
BAD_KINDS = ("stereo-padded", "fuma", "youtube-aac-6ch")
ALL_BAD_KINDS = ("stereo-padded", "fuma", "mono-upmix", "dipole-gain", "youtube-aac-6ch")
#: Kinds whose files are not valid ambiX (they fail Eq. 13); youtube-aac-6ch is remapped.
INVALID_KINDS = ("stereo-padded", "fuma", "mono-upmix", "dipole-gain")
MAX_ELEVATION = np.deg2rad(30.0)
SOURCE_DISTANCE = 1.0     # m, pyroomacoustics reverberation only


@dataclass(frozen=True)
class ObjectClass:
    """A visual class: ``label``, the sound it emits in the easy scenes, colour, shape and the
    textures it can have in the hard scenes."""

    label: str
    sound: str
    colour: tuple
    shape: str
    textures: tuple = ()


CLASSES = (
    ObjectClass("red_disc", "tone", (225, 35, 30), "disc"),
    ObjectClass("green_square", "harmonic", (40, 200, 60), "square"),
    ObjectClass("blue_triangle", "band_noise", (40, 70, 235), "triangle"),
    ObjectClass("yellow_stripes", "chirp", (245, 225, 40), "stripes"),
    ObjectClass("magenta_ring", "clicks", (225, 40, 215), "ring"),
    ObjectClass("cyan_cross", "beeps", (40, 225, 230), "cross"),
)

#: Hard-scene classes: the shape names the class; colour is drawn per object (any class any
#: colour); the texture is one of three per class, each texture shared by several classes.
HARD_CLASSES = (
    ObjectClass("disc", "", (0, 0, 0), "disc", ("shaded", "dots", "vstripes")),
    ObjectClass("square", "", (0, 0, 0), "square", ("checker", "hstripes", "shaded")),
    ObjectClass("triangle", "", (0, 0, 0), "triangle", ("shaded", "checker", "dots")),
    ObjectClass("diamond", "", (0, 0, 0), "diamond", ("hstripes", "segments", "shaded")),
    ObjectClass("ring", "", (0, 0, 0), "ring", ("segments", "shaded", "checker")),
    ObjectClass("cross", "", (0, 0, 0), "cross", ("shaded", "vstripes", "dots")),
)

#: The sound types each hard class can emit (per object, one drawn); every type belongs to two
#: classes. Invisible sources draw from all of them.
HARD_SOUNDS = {
    "disc": ("tone", "warble", "honk"),
    "square": ("harmonic", "am_noise", "clicks"),
    "triangle": ("band_noise", "chirp", "tone"),
    "diamond": ("chirp", "beeps", "harmonic"),
    "ring": ("clicks", "honk", "band_noise"),
    "cross": ("beeps", "am_noise", "warble"),
}


@dataclass(frozen=True)
class SceneConfig:
    """Scene options; the field defaults are the easy scenes, :data:`DIFFICULTIES` the presets.

    ``width`` of the equirect frame (height = width / 2), ``fps``, ``duration`` (s),
    ``sample_rate`` (Hz); ``difficulty`` names the look and sound model ("easy": :data:`CLASSES`,
    one sound per class; "hard": :data:`HARD_CLASSES` with drawn colours, textures and sounds);
    ``n_objects`` (None: ``n_sounding`` = (lo, hi) drawn) sounding visible objects,
    ``n_silent`` (lo, hi) silent visible ones, at most ``max_visible`` visible in all,
    ``min_separation_deg`` apart at all times; ``n_invisible`` (lo, hi) invisible sources;
    ``activity`` on/off gating of every source; ``music_share`` of the clips get a diffuse music
    bed at ``music_db`` (lo, hi) re the sources' W power; ``ambience_db`` (a level or (lo, hi))
    of the diffuse ambience re the sources' W power; ``rt60`` (lo, hi) s of the diffuse
    reverberation with direct-to-reverberant ratio ``drr_db`` (lo, hi) (empty: none),
    ``reverb`` the pyroomacoustics room instead; ``bad_share`` of the clips get audio of one of
    ``bad_kinds``.
    """

    duration: float = 4.0
    fps: float = 16.0
    width: int = 256
    sample_rate: int = 24000
    difficulty: str = "easy"
    bad_share: float = 0.0
    bad_kinds: tuple = BAD_KINDS
    reverb: bool = False
    n_objects: int | None = None
    n_sounding: tuple = (2, 3)
    n_silent: tuple = (0, 0)
    max_visible: int = 3
    min_separation_deg: float = 60.0
    n_invisible: tuple = (0, 0)
    activity: bool = False
    music_share: float = 0.0
    music_db: tuple = (-12.0, -4.0)
    ambience_db: float | tuple = -20.0
    rt60: tuple = ()
    drr_db: tuple = (0.0, 6.0)

    def __post_init__(self):
        if not self.duration > 0 or not self.fps > 0:
            raise FOAError(f"duration and fps must be > 0, got {self.duration}, {self.fps}")
        if self.width < 16 or self.width % 4:
            raise FOAError(f"width must be a multiple of 4 >= 16 (2:1 frames with even "
                           f"height), got {self.width}")
        if self.difficulty not in DIFFICULTIES:
            raise FOAError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, got "
                           f"{self.difficulty!r}")
        for name in ("bad_share", "music_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise FOAError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        unknown = set(self.bad_kinds) - set(ALL_BAD_KINDS)
        if unknown or not self.bad_kinds:
            raise FOAError(f"bad_kinds must be a non-empty subset of {ALL_BAD_KINDS}, got "
                           f"{self.bad_kinds}")
        limit = int(360 // self.min_separation_deg) - 2     # always placeable with drift
        if not 1 <= self.max_visible <= max(1, limit):
            raise FOAError(f"max_visible must be in 1..{max(1, limit)} for objects "
                           f"{self.min_separation_deg} deg apart, got {self.max_visible}")
        if self.n_objects is not None and not 1 <= self.n_objects <= self.max_visible:
            raise FOAError(f"n_objects must be in 1..{self.max_visible} ({self.min_separation_deg}"
                           f" deg apart), got {self.n_objects}")
        for name in ("bad_kinds", "n_sounding", "n_silent", "n_invisible", "music_db", "rt60",
                     "drr_db"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        amb = self.ambience_db
        object.__setattr__(self, "ambience_db", (float(amb), float(amb))
                           if np.ndim(amb) == 0 else tuple(float(a) for a in amb))
        for name in ("n_sounding", "n_silent", "n_invisible", "music_db", "ambience_db",
                     "drr_db") + (("rt60",) if self.rt60 else ()):
            lo_hi = getattr(self, name)
            if len(lo_hi) != 2 or lo_hi[0] > lo_hi[1]:
                raise FOAError(f"{name} must be a (low, high) pair, got {lo_hi}")
        if self.n_sounding[0] < 1 or self.n_sounding[1] > self.max_visible:
            raise FOAError(f"n_sounding must lie in 1..max_visible={self.max_visible}, got "
                           f"{self.n_sounding}")
        if self.rt60 and not 0.05 <= self.rt60[0] <= self.rt60[1] <= 5:
            raise FOAError(f"rt60 must lie in [0.05, 5] s, got {self.rt60}")

    @classmethod
    def preset(cls, difficulty="hard", **overrides):
        """The scene options of a named difficulty, with ``overrides`` (field=value)."""
        if difficulty not in DIFFICULTIES:
            raise FOAError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, got "
                           f"{difficulty!r}")
        valid = {f.name for f in fields(cls)}
        bad = sorted(set(overrides) - valid)
        if bad:
            raise FOAError(f"unknown scene option(s) {', '.join(bad)}; valid: "
                           f"{', '.join(sorted(valid))}")
        return cls(**{**DIFFICULTIES[difficulty], **overrides})

    @property
    def height(self):
        return self.width // 2

    @property
    def n_frames(self):
        return int(round(self.duration * self.fps))

    @property
    def classes(self):
        """The visual classes of this difficulty."""
        return CLASSES if self.difficulty == "easy" else HARD_CLASSES


#: Named scene presets (overrides of the :class:`SceneConfig` field defaults).
DIFFICULTIES = {
    "easy": {"difficulty": "easy"},
    "hard": {"difficulty": "hard", "n_sounding": (1, 3), "n_silent": (0, 2), "max_visible": 4,
             "min_separation_deg": 45.0, "n_invisible": (0, 1), "activity": True,
             "music_share": 0.5, "music_db": (-12.0, -4.0), "ambience_db": (-10.0, 0.0),
             "rt60": (0.3, 1.0), "drr_db": (0.0, 6.0), "bad_share": 0.3,
             "bad_kinds": ALL_BAD_KINDS},
}


# --- the scene ---------------------------------------------------------------------------------
def _draw_count(rng, lo_hi):
    lo, hi = lo_hi
    return int(lo) if lo == hi else int(rng.integers(lo, hi + 1))


def _min_gap(a, b):
    """Smallest angular distance (radians) between azimuth tracks/values ``a`` and ``b``."""
    return float(np.min(np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b)))))))


def _place(rng, n, times, separation):
    """(azimuth0 (n,), speed (n,) rad/s) of n objects at least ``separation`` apart at all
    ``times``; about half drift at 8-20 deg/s."""
    for attempt in range(2000):
        az0 = rng.uniform(-np.pi, np.pi, n)
        speed = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(8, 20, n)
                         * rng.choice([-1.0, 1.0], n))
        if attempt >= 1000:                                   # crowded: keep them still
            speed = np.zeros(n)
        az = az0[:, None] + np.deg2rad(speed)[:, None] * times[None]
        if all(_min_gap(az[i], az[j]) >= separation for i in range(n) for j in range(i)):
            return az0, np.deg2rad(speed)
    raise FOAError(f"could not place {n} objects {np.rad2deg(separation):.0f} degrees apart")


def scene_plan(clip, seed, config):
    """The random draws of clip number ``clip``: objects (visible; sounding or silent),
    invisible sources, trajectories, sounds, levels, reverberation, audio kind."""
    rng = np.random.default_rng([seed, clip])
    extra = np.random.default_rng([seed, clip, 3])            # hard-scene draws
    hard = config.difficulty != "easy"
    classes = config.classes
    n_sound = config.n_objects or _draw_count(rng, config.n_sounding)
    n_silent = min(_draw_count(extra, config.n_silent), config.max_visible - n_sound)
    n = n_sound + n_silent
    cls = rng.choice(len(classes), n, replace=hard)
    times = np.arange(config.n_frames) / config.fps
    separation = np.deg2rad(config.min_separation_deg)
    az0, speed = _place(rng, n, times, separation)
    objects = []
    for k in range(n):
        obj = {"cls": int(cls[k]), "azimuth0": float(az0[k]), "speed": float(speed[k]),
               "elevation": float(rng.uniform(-MAX_ELEVATION, MAX_ELEVATION)),
               "angular_radius": float(np.deg2rad(rng.uniform(12, 20))),
               "gain_db": float(rng.uniform(-3, 3)), "sound_seed": int(rng.integers(2 ** 31)),
               "sounding": k < n_sound, "sound": classes[cls[k]].sound, "colour": None,
               "texture": None, "activity_seed": int(extra.integers(2 ** 31))}
        if hard:
            c = classes[cls[k]]
            obj["sound"] = str(extra.choice(HARD_SOUNDS[c.label])) if k < n_sound else None
            obj["colour"] = _random_colour(extra)
            obj["texture"] = str(extra.choice(c.textures))
        elif k >= n_sound:
            obj["sound"] = None
        objects.append(obj)
    sources = []
    tracks = [obj["azimuth0"] + obj["speed"] * times for obj in objects]
    for _ in range(_draw_count(extra, config.n_invisible)):
        for _try in range(200):                               # away from every visible object
            az = float(extra.uniform(-np.pi, np.pi))
            if all(_min_gap(tr, az) >= separation for tr in tracks):
                break
        else:
            continue
        sources.append({"azimuth": az, "elevation": float(extra.uniform(-MAX_ELEVATION,
                                                                          MAX_ELEVATION)),
                        "sound": str(extra.choice(SOUND_TYPES)),
                        "gain_db": float(extra.uniform(-3, 3)),
                        "sound_seed": int(extra.integers(2 ** 31)),
                        "activity_seed": int(extra.integers(2 ** 31))})
        tracks.append(np.full(times.shape, az))
    scene = {"ambience_db": float(extra.uniform(*config.ambience_db)),
             "music_db": None, "music_seed": int(extra.integers(2 ** 31)),
             "rt60": None, "drr_db": None, "reverb_seed": int(extra.integers(2 ** 31))}
    if extra.random() < config.music_share:
        scene["music_db"] = float(extra.uniform(*config.music_db))
    if config.rt60:
        scene["rt60"] = float(extra.uniform(*config.rt60))
        scene["drr_db"] = float(extra.uniform(*config.drr_db))
    bad = np.random.default_rng([seed, clip, 1])
    kind, bad_gain = "ambix", 1.0
    if bad.random() < config.bad_share:
        kind = config.bad_kinds[int(bad.integers(len(config.bad_kinds)))]
        bad_gain = float(bad.choice([bad.uniform(0.3, 0.6), bad.uniform(1.6, 2.2)]))
    return {"clip": clip, "seed": seed, "objects": objects, "sources": sources, "times": times,
            "scene": scene, "look_seed": int(rng.integers(2 ** 31)), "audio_kind": kind,
            "bad_gain": bad_gain}


def _random_colour(rng):
    """An RGB colour (0-255 ints) of random hue, saturation 0.45-1, value 0.55-1."""
    import colorsys

    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.45, 1.0), rng.uniform(0.55, 1.0))
    return [int(round(255 * c)) for c in rgb]


def object_azimuth(obj, t):
    """Azimuth (radians, wrapped into (-pi, pi]) of a planned object at time(s) ``t`` (s)."""
    return wrap_azimuth(obj["azimuth0"] + obj["speed"] * np.asarray(t))


# --- pictures ----------------------------------------------------------------------------------
def render_video(plan, config):
    """uint8 frames (T, H, W, 3) of a scene plan (every visible object, sounding or silent).
    Moving objects are drawn exactly per frame in the easy scenes, drawn once and shifted by
    whole pixels (:func:`synth_pictures.paint_moving`, <= half a pixel off) in the others."""
    vectors = pixel_vectors(config.width, config.height)
    rng = np.random.default_rng(plan["look_seed"])
    bg = background(vectors, rng)
    frames = np.repeat(bg[None], len(plan["times"]), axis=0)
    classes = config.classes
    for obj in plan["objects"]:
        cls = classes[obj["cls"]]
        colour = cls.colour if obj["colour"] is None else obj["colour"]
        if obj["speed"] == 0.0:                               # static: paint once, copy
            layer = bg.copy()
            draw_object(layer, vectors, cls, obj["azimuth0"], obj["elevation"],
                        obj["angular_radius"], colour, obj["texture"])
            changed = np.any(layer != bg, axis=-1)
            frames[:, changed] = layer[changed]
            continue
        if config.difficulty == "easy":                      # exact, frame by frame
            for i, t in enumerate(plan["times"]):
                draw_object(frames[i], vectors, cls, object_azimuth(obj, t), obj["elevation"],
                            obj["angular_radius"])
            continue
        paint_moving(frames, vectors, cls.shape, colour, object_azimuth(obj, plan["times"]),
                     obj["elevation"], obj["angular_radius"], obj["texture"])
    return frames


# --- sounds ------------------------------------------------------------------------------------
def source_signal(src, n, sr, gated):
    """Mono signal (n,) of a planned object or invisible source: its sound at RMS 0.1 * gain,
    times its on/off gate when ``gated``."""
    s = source_sound(src["sound"], np.random.default_rng(src["sound_seed"]), n, sr)
    s = s * 0.1 * 10 ** (src["gain_db"] / 20)
    if gated:
        s = s * activity(np.random.default_rng(src["activity_seed"]), n, sr)
    return s


def source_gate(src, t, sr, n):
    """The on/off gate of a source at times ``t`` (s) (ones when activity is off)."""
    g = activity(np.random.default_rng(src["activity_seed"]), n, sr)
    return g[np.clip(np.round(np.asarray(t) * sr).astype(int), 0, n - 1)]


def render_audio(plan, config, parts=False):
    """ambiX (4, n) float32 (W, Y, Z, X; SN3D) of a scene plan, peak <= 0.9.

    ``parts=True`` returns ``(x, parts)`` with the float64 components (same final scaling, x is
    their sum): "objects" (sounding visible objects), "invisible", "reverb", "music",
    "ambience"."""
    from spatialfoa import sh_coefficients

    sr = config.sample_rate
    n = int(round(config.duration * sr))
    t = np.arange(n) / sr
    comp = {k: np.zeros((4, n)) for k in ("objects", "invisible", "reverb", "music",
                                          "ambience")}
    for obj in plan["objects"]:
        if not obj["sounding"]:
            continue
        s = source_signal(obj, n, sr, config.activity)
        az = object_azimuth(obj, t) if obj["speed"] else obj["azimuth0"]
        gains = sh_coefficients(az, obj["elevation"])          # Eq. 3, per sample if moving
        comp["objects"] += gains.T * s if np.ndim(az) else gains[:, None] * s
        if config.reverb:
            comp["reverb"] += reverb_tail(s, obj, sr, np.mean(object_azimuth(obj, t[[0, -1]])))
    for src in plan["sources"]:
        s = source_signal(src, n, sr, config.activity)
        comp["invisible"] += sh_coefficients(src["azimuth"], src["elevation"])[:, None] * s
    scene = plan["scene"]
    direct = comp["objects"] + comp["invisible"]
    power = float(np.mean(direct[0] ** 2))
    if scene["rt60"]:
        comp["reverb"] += reverberate(direct[0], np.random.default_rng(scene["reverb_seed"]),
                                      scene["rt60"], scene["drr_db"], sr)
    if scene["music_db"] is not None:
        m = music_bed(np.random.default_rng(scene["music_seed"]), n, sr)
        comp["music"] = decorrelated_diffuse(m, np.random.default_rng(scene["music_seed"] + 1))
        comp["music"] *= np.sqrt(power) * 10 ** (scene["music_db"] / 20)
    rng = np.random.default_rng([plan["seed"], plan["clip"], 2])
    lowpass = 2000.0 if config.difficulty != "easy" else None
    comp["ambience"] = (np.sqrt(power) * 10 ** (scene["ambience_db"] / 20)
                        * diffuse_noise(rng, n, lowpass, sr))
    x = sum(comp.values())
    peak = np.max(np.abs(x))
    scale = 0.9 / peak if peak > 0.9 else 1.0
    x = (x * scale).astype(np.float32)
    if parts:
        return x, {k: v * scale for k, v in comp.items()}
    return x


def reverb_tail(s, obj, sr, azimuth):
    """The room's reverberation of source ``s`` (no direct sound), ambiX (4, n).

    A shoebox room (pyroomacoustics, image sources) with four coincident microphones whose
    directivities are the first-order real spherical harmonics (ACN, N3D -> SN3D), the source
    1 m away (about the critical distance) at (azimuth, elevation). The response is scaled so
    the direct path has gain 1 (as the plane wave added separately) and cut 2.5 ms after the
    direct arrival.
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


def file_audio(x, kind, gain=1.0):
    """(channels as written, FFmpeg layout, index layout) of ambiX ``x`` for an audio kind;
    ``gain`` scales the dipoles of "dipole-gain"."""
    from spatialfoa import YOUTUBE_AAC_6CH, ambix_to_fuma, to_stereo

    if kind == "ambix":
        return x, "quad", "ambix"
    if kind == "stereo-padded":
        return np.concatenate([to_stereo(x), np.zeros_like(x[:2])]), "quad", "ambix"
    if kind == "fuma":
        return ambix_to_fuma(x), "quad", "ambix"
    if kind == "mono-upmix":
        return np.repeat(x[:1], 4, axis=0), "quad", "ambix"
    if kind == "dipole-gain":
        y = x.copy()
        y[1:] *= gain
        peak = np.max(np.abs(y))
        return (y * (0.9 / peak) if peak > 0.9 else y), "quad", "ambix"
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
    return json.loads(json.dumps({"version": GENERATOR_VERSION, "seed": int(seed),
                                  **asdict(config)}))


def _gate_at(src, config, times):
    """0/1 per frame time: is the source sounding (its on/off gate above one half)?"""
    if not config.activity:
        return [1] * len(times)
    n = int(round(config.duration * config.sample_rate))
    return [int(g > 0.5) for g in source_gate(src, times, config.sample_rate, n)]


def _object_gt(o, config, times):
    cls = config.classes[o["cls"]]
    return {"label": cls.label, "sound": o["sound"], "sounding": bool(o["sounding"]),
            "times": [round(float(t), 6) for t in times],
            "azimuth": [round(float(a), 6) for a in object_azimuth(o, times)],
            "elevation": [round(o["elevation"], 6)] * len(times),
            "angular_radius": round(o["angular_radius"], 6),
            "colour": list(cls.colour) if o["colour"] is None else o["colour"],
            "texture": o["texture"],
            "active": _gate_at(o, config, times) if o["sounding"] else [0] * len(times)}


def _source_gt(s, config, times):
    return {"sound": s["sound"], "azimuth": round(s["azimuth"], 6),
            "elevation": round(s["elevation"], 6), "active": _gate_at(s, config, times)}


def make_clip(root, clip, seed, config):
    """Render, encode and write clip number ``clip`` (video, then gt JSON last) -> gt dict."""
    from spatialfoa.audio_io import read_audio

    root = Path(root)
    (root / "video").mkdir(parents=True, exist_ok=True)
    (root / "gt").mkdir(parents=True, exist_ok=True)
    name = clip_name(clip)
    plan = scene_plan(clip, seed, config)
    audio, ffmpeg_layout, layout = file_audio(render_audio(plan, config), plan["audio_kind"],
                                              plan["bad_gain"])
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
        "objects": [_object_gt(o, config, times) for o in plan["objects"]],
        "sources": [_source_gt(s, config, times) for s in plan["sources"]],
        "scene": {k: v for k, v in plan["scene"].items() if not k.endswith("_seed")},
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
                             test_fraction=0.2, progress=True, difficulty="easy", **kw):
    """Generate the synthetic dataset under ``root`` if needed -> path of ``root/index.jsonl``.

    Only missing clips (or clips made with other options) are generated: each clip's video and
    gt JSON are written atomically, the JSON last, so an interrupted run resumes where it
    stopped. ``difficulty`` names the scene preset (:data:`DIFFICULTIES`: "easy", "hard";
    ``avsa-train`` asks for ``synth.difficulty``, "hard" by default) and ``kw`` are
    :class:`SceneConfig` options overriding it (duration, fps, width, bad_share, reverb,
    n_objects, ambience_db, ...). The index lists every clip, invalid ones included (``passes``
    False): filter with :func:`avsa_learn.data.index.select_validity`. ``jobs`` worker
    processes (default: the CPU count). The index lists clips 0..num_clips-1, one per video; every
    1/test_fraction-th video is "test" (split by video). A tqdm bar on stderr shows progress.
    """
    config = SceneConfig.preset(difficulty, **kw)
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
    ap.add_argument("--difficulty", choices=tuple(DIFFICULTIES), default="hard",
                    help="scene preset (default hard, as avsa-train; see docs/data.md)")
    ap.add_argument("--bad-share", type=float, default=None,
                    help="share of clips with bad audio (default: the preset's, 0 easy, 0.3 hard)")
    ap.add_argument("--reverb", action="store_true",
                    help="add pyroomacoustics room reverberation (easy scenes)")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPUs)")
    args = ap.parse_args(argv)
    options = dict(duration=args.duration, width=args.width, fps=args.fps)
    if args.bad_share is not None:
        options["bad_share"] = args.bad_share
    if args.reverb:
        options["reverb"] = True
    try:
        index = ensure_synthetic_dataset(args.out, args.num_clips, seed=args.seed,
                                         jobs=args.jobs, difficulty=args.difficulty, **options)
    except FOAError as err:
        ap.exit(2, f"avsa-synth: error: {err}\n")
    sys.stderr.write(f"avsa-synth: {args.num_clips} clips indexed in {index}\n")
    return 0
