"""avsa-probe: cross-validated linear probe / fine-tuning, known answers.

Intervals against textbook values, folds against the stratification property, the probe on
separable vs label-shuffled Gaussian clusters, and the CLI end to end on synthetic ambiX clips
(ACN W, Y, Z, X; SN3D; spatialfoa.encode) of two sound classes with a random-init encoder.
"""
import csv
import json
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
import torch

import spatialfoa
from avsa_learn import probe
from avsa_learn.checkpoint import save_checkpoint
from avsa_learn.config import resolve_config
from avsa_learn.models import build_model
from avsa_learn.probe import (ProbeError, probe_embeddings, stratified_folds, t_interval,
                              wilson_interval)

SR = 24000
TINY = ["data.crop_size=32", "data.n_frames=2", "data.n_mels=32", "model.video_widths=[8, 32]",
        "model.video_blocks=[1, 1]", "model.audio_width=4", "model.proj_dim=8",
        "model.transformer_ff=16"]


# ------------------------------------------------------------------ intervals
def test_t_interval_textbook_value():
    # mean 0.9, s = 0.1, t_{0.975, 2} = 4.302653: half-width 4.302653 * 0.1 / sqrt(3) = 0.248414
    mean, lo, hi = t_interval([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9)
    assert (lo, hi) == pytest.approx((0.9 - 0.248414, 0.9 + 0.248414), abs=1e-6)
    assert t_interval([0.7, 0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7, 0.7))


def test_wilson_interval_textbook_values():
    # Wilson (1927) score interval, z = 1.96: 8/10 -> [0.4902, 0.9433]; 0/10 -> [0, 0.2775]
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)


# ------------------------------------------------------------------ folds
def test_folds_are_stratified_partitions_and_deterministic_in_the_seed():
    y = np.array(["a"] * 10 + ["b"] * 7 + ["c"] * 5)
    np.random.default_rng(0).shuffle(y)
    folds = stratified_folds(y, 5, seed=3)
    assert len(folds) == 5
    np.testing.assert_array_equal(np.sort(np.concatenate(folds)), np.arange(len(y)))
    for f in folds:
        counts = Counter(y[f])
        assert counts["a"] == 2 and counts["c"] == 1 and counts["b"] in (1, 2)
    again = stratified_folds(y, 5, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again))
    other = stratified_folds(y, 5, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(folds, other))


def test_impossible_splits_are_refused():
    with pytest.raises(ProbeError, match="at least folds=5"):
        stratified_folds(["a"] * 10 + ["b"] * 4, 5)
    with pytest.raises(ProbeError, match="2 classes"):
        probe_embeddings(np.zeros((10, 3)), ["a"] * 10, 5)
    with pytest.raises(ProbeError, match="X must be"):
        probe_embeddings(np.zeros((9, 3)), ["a"] * 5 + ["b"] * 5, 5)


# ------------------------------------------------------------------ probe_embeddings
def clusters(n_per_class=40, n_classes=3, dim=8, separation=10.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = separation * rng.standard_normal((n_classes, dim))
    y = np.repeat(np.arange(n_classes), n_per_class)
    return centres[y] + rng.standard_normal((len(y), dim)), y


def test_separable_clusters_are_classified_perfectly():
    X, y = clusters()
    r = probe_embeddings(X * 1e3 + 5e3, y, folds=5, seed=0)  # scale/offset: standardised away
    assert r["accuracy"] == 1.0 and r["ci95"] == [1.0, 1.0]
    assert r["pooled_accuracy"] == 1.0 and r["pooled_ci95"][0] > 0.96
    assert r["fold_accuracies"] == [1.0] * 5
    assert r["per_class"] == {str(c): {"n": 40, "accuracy": 1.0} for c in range(3)}
    assert r["confusion"] == (40 * np.eye(3, dtype=int)).tolist()
    assert r["chance"] == pytest.approx(1 / 3) and r["n_samples"] == 120


def test_shuffled_labels_give_chance():
    """Informative clusters with shuffled labels: accuracy about 1/3 and the intervals cover
    chance. (Cross-validation under the null is slightly pessimistic, about 0.32 here, and a
    5-fold t-interval covers less than 95 %: so the check is over 10 data sets.)"""
    accuracies, covered, pooled_covered = [], 0, 0
    for seed in range(10):
        X, y = clusters(n_per_class=60, seed=seed)
        y = np.random.default_rng(100 + seed).permutation(y)
        r = probe_embeddings(X, y, folds=5, seed=seed)
        accuracies.append(r["accuracy"])
        covered += r["ci95"][0] <= 1 / 3 <= r["ci95"][1]
        pooled_covered += r["pooled_ci95"][0] <= 1 / 3 <= r["pooled_ci95"][1]
        # The reported interval is the t-interval of the reported fold accuracies.
        _, lo, hi = t_interval(r["fold_accuracies"])
        assert r["ci95"] == pytest.approx([max(0, lo), min(1, hi)])
    assert abs(np.mean(accuracies) - 1 / 3) < 0.04
    assert covered >= 7 and pooled_covered >= 7


def test_probe_is_deterministic_and_labels_may_be_strings():
    X, y = clusters(n_per_class=20, separation=1.0, seed=5)
    names = np.array(["dog", "rain", "car"])[y]
    a = probe_embeddings(X, names, folds=4, seed=7)
    b = probe_embeddings(X, names, folds=4, seed=7)
    assert a == b
    assert a["classes"] == ["car", "dog", "rain"]
    assert sum(v["n"] for v in a["per_class"].values()) == 60
    correct = sum(p == t for p, t in zip(a["predictions"], names))
    assert a["pooled_accuracy"] == pytest.approx(correct / 60)
    assert a["accuracy"] == pytest.approx(np.mean(a["fold_accuracies"]))


# ------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    cfg = resolve_config("cpu", overrides=TINY)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    save_checkpoint(path, {"config": cfg.to_dict(), "model": build_model(cfg).state_dict()})
    return path


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """10 tones (300-3000 Hz) and 10 white noises, 1.2 s, random direction and level (±10 dB),
    written as ambiX WAVs; labels.csv lists them plus one missing file."""
    d = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(0)
    t = np.arange(int(1.2 * SR)) / SR
    rows = []
    for i in range(20):
        label = "tone" if i % 2 == 0 else "noise"
        if label == "tone":
            s = np.sin(2 * np.pi * rng.uniform(300, 3000) * t + rng.uniform(0, 2 * np.pi))
        else:
            s = rng.standard_normal(len(t)) / 2
        s *= 0.1 * 10 ** rng.uniform(-0.5, 0.5)
        x = spatialfoa.encode(s, rng.uniform(-np.pi, np.pi), rng.uniform(-0.5, 0.5))
        name = f"{label}/{i:02d}.wav"
        (d / label).mkdir(exist_ok=True)
        sf.write(str(d / name), x.T, SR, subtype="FLOAT")
        rows.append((name, label))
    rows.append(("tone/missing.wav", "tone"))
    with open(d / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label"])
        w.writerows(rows)
    return d


def run_probe(ckpt, labelled, tmp_path, capsys, *extra):
    out = tmp_path / "r.json"
    code = probe.main([str(ckpt), "--data", str(labelled), "--labels",
                       str(labelled / "labels.csv"), "--folds", "4", "--json", str(out),
                       "--no-progress", *extra])
    err = capsys.readouterr()
    return code, (json.loads(out.read_text()) if code == 0 else None), err


def test_cli_linear_probe_separates_tones_from_noise(ckpt, labelled, tmp_path, capsys):
    code, r, err = run_probe(ckpt, labelled, tmp_path, capsys)
    assert code == 0
    assert r["method"] == "linear" and r["n_samples"] == 20 and r["folds"] == 4
    assert r["classes"] == ["noise", "tone"] and r["chance"] == 0.5
    # Random CNN features still tell a pure tone from broadband noise.
    assert r["accuracy"] > 0.5 + 0.3
    assert r["ci95"][0] <= r["accuracy"] <= r["ci95"][1]
    assert [s["file"] for s in r["skipped"]] == ["tone/missing.wav"]
    assert "skipped tone/missing.wav" in err.err
    assert "accuracy" in err.out and "tone" in err.out
    assert len(r["files"]) == 20 and len(r["predictions"]) == 20


def test_cli_finetune_beats_chance_and_leaves_the_checkpoint_alone(ckpt, labelled, tmp_path,
                                                                   capsys):
    before = torch.load(ckpt, weights_only=False)["model"]
    code, r, _ = run_probe(ckpt, labelled, tmp_path, capsys, "--finetune", "--epochs", "10",
                           "--lr", "1e-3", "--seed", "1")
    assert code == 0 and r["method"] == "finetune" and r["n_samples"] == 20
    assert r["accuracy"] > 0.5 + 0.2
    after = torch.load(ckpt, weights_only=False)["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_finetune_is_deterministic_in_the_seed(ckpt):
    from avsa_learn.pretrained import load_pretrained

    model, cfg = load_pretrained(ckpt)
    d = cfg.data
    rng = np.random.default_rng(0)
    windows = [rng.standard_normal((2, d.audio_channels, d.audio_frames, d.n_mels))
               for _ in range(8)]
    y = ["a", "b"] * 4
    runs = [probe.finetune_probe(model.encoders.audio_encoder, windows, y, folds=2, seed=s,
                                 epochs=2, lr=1e-3) for s in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0]["n_samples"] == 8 and runs[0]["folds"] == 2
    folds3, folds4 = (stratified_folds(y, 2, s) for s in (3, 4))
    assert not all(np.array_equal(a, b) for a, b in zip(folds3, folds4))


def test_cli_errors(ckpt, labelled, tmp_path, capsys):
    # Too few files per class for the folds: exit 1 with the reason.
    code = probe.main([str(ckpt), "--data", str(labelled), "--labels",
                       str(labelled / "labels.csv"), "--folds", "11", "--no-progress"])
    assert code == 1 and "at least folds=11" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("path,class\na.wav,x\n")
    code = probe.main([str(ckpt), "--data", str(labelled), "--labels", str(bad)])
    assert code == 1 and "file,label" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        probe.main([str(ckpt), "--data", str(tmp_path / "nope"), "--labels", str(bad)])
    assert e.value.code == 2
