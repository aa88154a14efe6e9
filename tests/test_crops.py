"""Crop strategies: field-of-view law, quadrants, object framing, audio peaks, determinism."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from avsa_learn.data.config import DataConfig
from avsa_learn.data.crops import (OBJECT_FOV_MARGIN, choose_crops, object_crops, object_fov,
                                   quadrant_crops, random_crops, sample_fov, sector_edges,
                                   sector_of, wrap_azimuth)
from avsa_learn.detect.types import Detection

CFG = DataConfig()
H, W = 256, 512


def det(az, el=0.0, width_deg=20.0, height_deg=20.0, label="obj"):
    """A detection at (az, el) with a box of the given angular size in a W x H frame."""
    col = W * (0.5 - az / (2 * np.pi))  # pixel centre convention: col + 0.5 -> azimuth
    row = H * (0.5 - el / np.pi)
    hw = width_deg / 360 * W / 2
    hh = height_deg / 180 * H / 2
    x0, x1 = (col - hw) % W, (col + hw) % W
    return Detection(label, 0.9, float(az), float(el), (x0, row - hh, x1, row + hh))


def test_fov_follows_reference_law():
    """h = tan(fov / 2) / pi is uniform on [0.0707, 0.25] (the reference's tangent half-width)."""
    rng = np.random.default_rng(1)
    fov = sample_fov(rng, CFG, 20000)
    lo, hi = np.deg2rad(CFG.fov_deg)
    assert fov.min() >= lo - 1e-12 and fov.max() <= hi + 1e-12
    h = np.tan(fov / 2) / np.pi
    assert h.min() == pytest.approx(0.0707, abs=2e-3) and h.max() == pytest.approx(0.25, abs=2e-3)
    a, b = np.tan(lo / 2) / np.pi, np.tan(hi / 2) / np.pi
    assert stats.kstest(h, "uniform", args=(a, b - a)).pvalue > 1e-3
    # ... hence fov itself is NOT uniform in degrees: more narrow than wide crops than uniform
    assert stats.kstest(fov, "uniform", args=(lo, hi - lo)).pvalue < 1e-6


def test_random_crops_distribution_and_determinism():
    c = random_crops(np.random.default_rng(3), 20000, CFG)
    e = np.deg2rad(CFG.max_crop_elevation_deg)
    assert np.all(np.abs(c.elevation) <= e)
    assert stats.kstest(c.elevation, "uniform", args=(-e, 2 * e)).pvalue > 1e-3
    assert stats.kstest(c.azimuth, "uniform", args=(-np.pi, 2 * np.pi)).pvalue > 1e-3
    assert set(c.kind) == {"random"}
    again = random_crops(np.random.default_rng(3), 20000, CFG)
    np.testing.assert_array_equal(c.azimuth, again.azimuth)
    np.testing.assert_array_equal(c.fov, again.fov)


def test_config_changes_ranges():
    cfg = DataConfig(fov_deg=(40, 50), max_crop_elevation_deg=5)
    c = random_crops(np.random.default_rng(0), 500, cfg)
    assert np.rad2deg(c.fov).min() >= 40 - 1e-9 and np.rad2deg(c.fov).max() <= 50 + 1e-9
    assert np.rad2deg(np.abs(c.elevation)).max() <= 5


def test_sectors_are_the_papers_quadrants():
    np.testing.assert_allclose(np.rad2deg(sector_edges(4)),
                               [[90, 180], [0, 90], [-90, 0], [-180, -90]])
    deg = np.array([179, 91, 89, 1, -1, -89, -91, -179, 180, -180])
    np.testing.assert_array_equal(sector_of(np.deg2rad(deg), 4), [0, 0, 1, 1, 2, 2, 3, 3, 0, 0])


def test_wrap_azimuth():
    a = np.array([0, 3 * np.pi, -3 * np.pi / 2, 2 * np.pi + 0.1, -np.pi])
    w = wrap_azimuth(a)
    assert np.all((w > -np.pi) & (w <= np.pi))
    np.testing.assert_allclose(np.cos(w), np.cos(a), atol=1e-12)
    np.testing.assert_allclose(np.sin(w), np.sin(a), atol=1e-12)


layouts = st.lists(st.tuples(st.floats(-np.pi, np.pi, allow_nan=False),
                             st.floats(-0.6, 0.6, allow_nan=False)), max_size=6)


@settings(max_examples=150, deadline=None)
@given(layout=layouts, seed=st.integers(0, 2**31))
def test_quadrant_crops_fall_in_their_quadrants(layout, seed):
    dets = [det(az, el) for az, el in layout]
    c = quadrant_crops(np.random.default_rng(seed), dets, 4, CFG, (H, W))
    assert len(c) == 4
    edges = np.rad2deg(sector_edges(4))
    for j in range(4):
        az_deg = np.rad2deg(c.azimuth[j])
        lo, hi = edges[j]
        assert lo - 1e-9 <= az_deg <= hi + 1e-9
        inside = [d for d in dets if sector_of(d.azimuth, 4) == j]
        if inside:
            assert c.kind[j] == "object"
            assert any(np.isclose(c.azimuth[j], wrap_azimuth(d.azimuth)) and
                       np.isclose(c.elevation[j], d.elevation) for d in inside)
        else:
            assert c.kind[j] == "random"
            assert abs(c.elevation[j]) <= np.deg2rad(CFG.max_crop_elevation_deg)


def test_object_fov_frames_the_box():
    lo, hi = np.deg2rad(CFG.fov_deg)
    d = det(0.3, 0.0, width_deg=30, height_deg=10)
    assert object_fov(d, (H, W), CFG) == pytest.approx(np.deg2rad(30) * OBJECT_FOV_MARGIN)
    # Taller than wide: the height decides.
    d = det(0.3, 0.0, width_deg=10, height_deg=36)
    assert object_fov(d, (H, W), CFG) == pytest.approx(np.deg2rad(36) * OBJECT_FOV_MARGIN)
    # At 60 deg elevation a 40 deg-of-azimuth box spans 20 deg of arc.
    d = det(0.3, np.pi / 3, width_deg=40, height_deg=4)
    assert object_fov(d, (H, W), CFG) == pytest.approx(np.deg2rad(20) * OBJECT_FOV_MARGIN)
    # Tiny and huge boxes are clamped to the FOV range.
    assert object_fov(det(0, 0, 2, 2), (H, W), CFG) == pytest.approx(lo)
    assert object_fov(det(0, 0, 120, 90), (H, W), CFG) == pytest.approx(hi)


def test_object_box_across_the_seam():
    """A box wrapping the +-180 deg seam (x0 > x1) has its true, small width."""
    d = det(np.pi, 0.0, width_deg=30, height_deg=5)
    assert d.box[0] > d.box[2]
    assert object_fov(d, (H, W), CFG) == pytest.approx(np.deg2rad(30) * OBJECT_FOV_MARGIN)


def test_object_crops_pick_distinct_objects_then_random():
    dets = [det(-2.0, 0.1), det(0.5, -0.2), det(2.5, 0.3)]
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(60):
        c = object_crops(rng, dets, 1, CFG, (H, W))
        assert c.kind == ("object",)
        match = [j for j, d in enumerate(dets) if np.isclose(d.azimuth, c.azimuth[0])]
        assert len(match) == 1 and c.elevation[0] == pytest.approx(dets[match[0]].elevation)
        seen.add(match[0])
    assert seen == {0, 1, 2}  # every object gets picked
    c = object_crops(rng, dets, 4, CFG, (H, W))
    assert sorted(c.kind) == ["object"] * 3 + ["random"]
    assert len({round(a, 9) for a, k in zip(c.azimuth, c.kind) if k == "object"}) == 3
    c = choose_crops("object", rng, CFG, 1, detections=[])
    assert c.kind == ("random",)


def test_audio_crops_face_the_sources():
    import spatialfoa

    rng = np.random.default_rng(0)
    sr = 24000
    dirs = [(1.2, 0.2), (-2.0, -0.1)]
    s = rng.standard_normal((2, sr))
    x = spatialfoa.encode(s, np.array([d[0] for d in dirs]), np.array([d[1] for d in dirs]))
    c = choose_crops("audio", np.random.default_rng(1), CFG, 4, audio=x, sr=sr)
    assert len(c) == 4
    found = [(a, e) for a, e, k in zip(c.azimuth, c.elevation, c.kind) if k == "audio"]
    assert len(found) >= 2
    for az, el in dirs:  # each source has an audio crop within 15 deg
        u = spatialfoa.direction_vector(az, el)
        ang = [np.degrees(np.arccos(np.clip(u @ spatialfoa.direction_vector(a, e), -1, 1)))
               for a, e in found]
        assert min(ang) < 15


def test_unknown_strategy_and_missing_audio():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="audio"):
        choose_crops("audio", rng, CFG, 4)
    with pytest.raises(ValueError, match="strategy"):
        choose_crops("nope", rng, CFG, 4)
