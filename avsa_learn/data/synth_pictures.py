"""Pictures of the synthetic scenes: a textured sky/ground background and objects drawn by
direction on equirectangular frames (uint8 (H, W, 3); docs/conventions.md directions, radians).

Objects are painted through each pixel's tangent-plane coordinates around the object centre
(u left, v up, over tan(angular radius)) and its angular distance rho (over the radius), so
shapes are right near the poles and across the ±180° seam. A *shape* gives the mask and a
*texture* the shading (a brightness factor in [0, 1] times the object's colour).
"""
import numpy as np

from avsa_learn.data.equirect import direction_to_pixel, pixel_to_direction
from spatialfoa.encoding import direction_vector
from spatialfoa.validation import FOAError

SHAPES = ("disc", "square", "triangle", "stripes", "ring", "cross", "diamond")
TEXTURES = ("shaded", "checker", "hstripes", "vstripes", "segments", "dots")


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
    """(mask, shade) of a shape with its own (easy-scene) texture; ``u``/``v`` tangent-plane
    coordinates (left/up) over tan(angular radius), ``rho`` angular distance over the angular
    radius; shade in [0, 1]."""
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
    if shape == "diamond":
        return np.abs(u) + np.abs(v) < 0.95, 1 - 0.3 * rho
    raise FOAError(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}")


def texture_shade(texture, u, v, rho):
    """Brightness factor in [0.15, 1] of a texture (:data:`TEXTURES`) at tangent-plane
    coordinates ``u``, ``v`` (over tan(radius)) and angular distance ``rho`` (over radius)."""
    if texture == "shaded":
        return 1 - 0.4 * rho ** 2
    if texture == "checker":
        return 1 - 0.45 * ((np.floor((u + 1) / 0.35) + np.floor((v + 1) / 0.35)) % 2)
    if texture == "hstripes":
        return 1 - 0.7 * (np.floor((v + 1) / 0.2) % 2)
    if texture == "vstripes":
        return 1 - 0.7 * (np.floor((u + 1) / 0.2) % 2)
    if texture == "segments":
        return 1 - 0.5 * (np.floor((np.arctan2(v, u) + np.pi) / (np.pi / 4)) % 2)
    if texture == "dots":
        du, dv = np.mod(u + 1, 0.4) - 0.2, np.mod(v + 1, 0.4) - 0.2
        return 1 - 0.6 * (du ** 2 + dv ** 2 < 0.01)
    raise FOAError(f"unknown texture {texture!r}; choose from {', '.join(TEXTURES)}")


def object_layer(vectors, shape, colour, azimuth, elevation, radius, texture=None):
    """(first row, mask (R, W) bool, paint (R, W, 3) float) of one object over the band of
    rows it can touch. ``texture`` None: the shape's own shading (:func:`shape_mask`)."""
    height, width = vectors.shape[:2]
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
    mask, shade = shape_mask(shape, u, v, rho)
    if texture is not None:
        shade = texture_shade(texture, u, v, rho)
    mask &= ahead
    colour = np.asarray(colour, float)
    paint = colour * shade[..., None]
    if shape == "stripes" and texture is None:               # yellow on near-black stripes
        paint = paint + 30 * (shade < 0.5)[..., None]
    return r0, mask, paint


def draw_object(frame, vectors, cls, azimuth, elevation, radius, colour=None, texture=None):
    """Paint one object of class ``cls`` (``.shape``, ``.colour``) onto ``frame`` (H, W, 3)
    uint8, in place, by direction; ``colour``/``texture`` override the class's look."""
    r0, mask, paint = object_layer(vectors, cls.shape, cls.colour if colour is None else colour,
                                   azimuth, elevation, radius, texture)
    region = frame[r0:r0 + mask.shape[0]]
    region[mask] = np.clip(np.round(paint[mask]), 0, 255).astype(np.uint8)


def paint_moving(frames, vectors, shape, colour, azimuths, elevation, radius, texture=None):
    """Paint an object that turns in azimuth only (``azimuths`` (T,) radians, one per frame) on
    ``frames`` (T, H, W, 3) in place: a turn about the vertical axis is a column shift of the
    equirect frame, so the object is drawn once and shifted by whole pixels (error <= half a
    pixel, 0.7 deg at 256 px)."""
    width = frames.shape[2]
    r0, mask, paint = object_layer(vectors, shape, colour, azimuths[0], elevation, radius,
                                   texture)
    paint = np.clip(np.round(paint), 0, 255).astype(np.uint8)
    step = 2 * np.pi / width
    shifts = np.round(-(np.unwrap(azimuths) - azimuths[0]) / step).astype(int)
    rows = slice(r0, r0 + mask.shape[0])
    for i, shift in enumerate(shifts):
        m = np.roll(mask, shift, axis=1)
        region = frames[i, rows]
        region[m] = np.roll(paint, shift, axis=1)[m]
