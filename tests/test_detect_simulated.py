"""The simulated detector: miss, false-positive and jitter rates as configured (against
binomial / Poisson / Gaussian expectations on ground truth written here), silent objects
found like any other, deterministic per (seed, clip, frame)."""
import json
import math

import numpy as np
import pytest

from avsa_learn.data.index import ClipRecord
from avsa_learn.detect import make_object_provider
from avsa_learn.detect.ground_truth import SimulatedDetector

FPS = 16.0
N_FRAMES = 64


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """30 clips, 3 static objects each (one silent), 90 deg apart, elevations within +-25 deg."""
    root = tmp_path_factory.mktemp("gt")
    rng = np.random.default_rng(0)
    out = []
    times = [i / FPS for i in range(N_FRAMES)]
    for c in range(30):
        objects = []
        for k in range(3):
            az = float(np.angle(np.exp(1j * (rng.uniform(-np.pi, np.pi) + k * np.pi / 2))))
            objects.append({"label": ["disc", "ring", "cross"][k], "sounding": k < 2,
                            "times": times, "azimuth": [az] * N_FRAMES,
                            "elevation": [float(rng.uniform(-0.44, 0.44))] * N_FRAMES,
                            "angular_radius": 0.25})
        path = root / f"c{c}.json"
        path.write_text(json.dumps({"width": 256, "height": 128, "fps": FPS,
                                    "objects": objects}))
        out.append(ClipRecord(f"c{c}", f"v{c}", "", "", 0.0, 4.0, "train", "ambix", 24000,
                              None, None, 0.0, str(path)))
    return out


def _frames():
    return [i / FPS for i in range(N_FRAMES)]


def _truth(path):
    return json.loads(open(path).read())["objects"]


def test_misses_and_jitter_match_the_configured_rates(records):
    miss, jitter = 0.2, 4.0
    det = SimulatedDetector(records, miss_rate=miss, false_positives=0.0, jitter_deg=jitter)
    found = trials = 0
    d_el, d_az = [], []
    silent_found = 0
    for rec in records:
        truth = _truth(rec.gt_path)
        for t in _frames():
            dets = det.objects_at(rec.clip_id, t)
            trials += len(truth)
            for o in truth:
                match = [d for d in dets if d.label == o["label"]]
                assert len(match) <= 1
                if match:
                    found += 1
                    silent_found += not o["sounding"]
                    d = match[0]
                    d_el.append(d.elevation - o["elevation"][0])
                    da = np.angle(np.exp(1j * (d.azimuth - o["azimuth"][0])))
                    d_az.append(da * math.cos(o["elevation"][0]))
    p = found / trials                                   # binomial: 4 sigma
    assert abs(p - (1 - miss)) < 4 * math.sqrt(miss * (1 - miss) / trials)
    assert silent_found > 0.7 * trials / 3                # silent objects are detected too
    s = math.radians(jitter)
    for err in (np.array(d_el), np.array(d_az)):
        assert abs(err.mean()) < 4 * s / math.sqrt(len(err))
        assert err.std() == pytest.approx(s, rel=0.1)      # cos(el) ~ 1 +- 0.1


def test_false_positives_are_poisson_with_the_configured_mean(records):
    fp = 0.7
    det = SimulatedDetector(records, miss_rate=1.0, false_positives=fp)   # only spurious ones
    counts, labels = [], set()
    for rec in records:
        for t in _frames():
            dets = det.objects_at(rec.clip_id, t)
            counts.append(len(dets))
            for d in dets:
                assert abs(d.elevation) <= math.radians(30) + 1e-9
                assert 0.3 <= d.confidence <= 0.7
                labels.add(d.label)
    counts = np.array(counts)
    assert counts.mean() == pytest.approx(fp, abs=4 * math.sqrt(fp / len(counts)))
    assert counts.var() == pytest.approx(fp, rel=0.15)     # Poisson: variance = mean
    assert labels == {"disc", "ring", "cross"}


def test_deterministic_per_seed_and_frame_and_built_from_the_spec(records):
    a = make_object_provider("simulated:miss=0.3,fp=0.5,jitter=2,seed=7", records)
    b = SimulatedDetector(records, miss_rate=0.3, false_positives=0.5, jitter_deg=2, seed=7)
    c = SimulatedDetector(records, miss_rate=0.3, false_positives=0.5, jitter_deg=2, seed=8)
    times = _frames()
    ra = [a.objects_at(r.clip_id, t) for r in records[:5] for t in times]
    backwards = {(r.clip_id, t): b.objects_at(r.clip_id, t) for r in records[4::-1]
                 for t in reversed(times)}                   # query order does not matter
    assert ra == [backwards[r.clip_id, t] for r in records[:5] for t in times]
    assert ra != [c.objects_at(r.clip_id, t) for r in records[:5] for t in times]
    # one frame, one answer: times inside a frame interval see the same frame
    assert a.objects_at("c0", 1.0) == a.objects_at("c0", 1.0 + 0.2 / FPS)
    assert a.objects_at("unknown", 1.0) == []
    with pytest.raises(ValueError, match="simulated"):
        make_object_provider("simulated:mis=0.3", records)
