"""The AVC/AVSA evaluation protocol, avsa-eval, and short avsa-train runs on synthetic clips."""
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from avsa_learn.config import resolve_config
from avsa_learn.eval_scores import (accuracy_score, modality_floors, predict, train_classifier,
                                    yaw_bin_scores)
from avsa_learn.evaluate import (EvaluationError, check_compatible, draw_views, draws_for_pairs,
                                 evaluate_model, extract_view_features, format_table)
from avsa_learn.evaluate import main as eval_main
from avsa_learn.models import build_model
from avsa_learn.train_cli import main as train_main
from test_trainer import tiny_config


@dataclass
class Rec:
    video_id: str


def test_views_are_seeded_and_valid():
    recs = [Rec(f"v{i // 2}") for i in range(20)]
    a = draw_views(recs, "test", seed=7, min_yaw_deg=45, draws=3)
    assert a == draw_views(recs, "test", seed=7, min_yaw_deg=45, draws=3) and len(a) == 60
    assert draw_views(recs, "test", seed=8, min_yaw_deg=45, draws=3) != a
    assert draw_views(recs, "train", seed=7, min_yaw_deg=45, draws=3) != a
    for v in a:
        assert recs[v["audio_from"]].video_id != recs[v["clip"]].video_id
    yaws = np.array([v["yaw"] for v in a])
    assert (np.abs(yaws) >= np.deg2rad(45)).all() and (np.abs(yaws) <= np.pi).all()
    assert (yaws > 0).any() and (yaws < 0).any()
    full = np.array([v["yaw_full"] for v in draw_views(recs, "test", 7, 45, 50)])
    assert (np.abs(full) <= np.pi).all()
    # U(-pi, pi): about a quarter below 45 degrees, [17]'s tiny "rotations" included
    assert abs(np.mean(np.abs(full) < np.pi / 4) - 0.25) < 0.05
    assert draw_views([Rec("same")] * 4, "test", 0, 45)[0]["audio_from"] is None
    # enough draws for the requested pairs (2 per view and task), never fewer than asked
    assert draws_for_pairs(40, 1000, 1) == 13 and draws_for_pairs(40, 10, 4) == 4
    assert draws_for_pairs(3000, 1000, 1) == 1


def _xor_pairs(n, seed, audio_tells):
    """Pairs with K=2 crops: video part (3 dims) and audio part (3 dims). Label 1 pairs differ
    from label 0 ones only in the *relation* of audio to video (sign flipped: no audio-alone
    cue) or, with ``audio_tells``, in the audio itself (an offset)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    v = torch.randn(n, 2, 3, generator=g)
    s = torch.where(torch.rand(n, 1, 1, generator=g) < 0.5, -1.0, 1.0)
    v[..., 0] = 2 * s[..., 0]
    a = v.clone() + 0.3 * torch.randn(n, 2, 3, generator=g)
    if audio_tells:
        a[..., 1] += 3.0 * y[:, None]
    else:
        a[..., 0] *= (1 - 2 * y)[:, None]          # the audio's sign disagrees when y = 1
    return torch.cat([v, a], -1), y


@pytest.mark.parametrize("audio_tells", [False, True])
def test_audio_only_floor_is_chance_unless_audio_alone_can_tell(audio_tells):
    ecfg = resolve_config("cpu", overrides=["eval.hidden=32", "eval.epochs=40",
                                            "eval.batch_size=128"]).eval
    train, test = _xor_pairs(1000, 0, audio_tells), _xor_pairs(1000, 1, audio_tells)
    full = accuracy_score(train, test, ecfg, 1e-2, seed=0)
    floors = modality_floors(train, test, dim_video=3, ecfg=ecfg, lr=1e-2, seed=0)
    assert full["accuracy"] > 0.95 and full["n"] == 1000
    lo, hi = floors["video_only"]["ci95"]
    assert lo < 0.5 < hi                           # video alone: nothing to tell
    if audio_tells:
        assert floors["audio_only"]["accuracy"] > 0.95
    else:
        lo, hi = floors["audio_only"]["ci95"]
        assert lo < 0.5 < hi and abs(floors["audio_only"]["accuracy"] - 0.5) < 0.05
    # Wilson interval of the reported score, recomputed by hand
    k, n, z = round(full["accuracy"] * 1000), 1000, 1.959964
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert full["ci95"] == pytest.approx([centre - half, min(1.0, centre + half)], abs=1e-4)


def test_yaw_bins_closed_form():
    deg = np.array([0, 10, 44.9, 45, 60, 89, 90, 100, 134, 135, 170, 180, -180, -50, -95, -140])
    yaw = np.concatenate([np.zeros(8), np.deg2rad(deg)])
    label = torch.tensor([0] * 8 + [1] * len(deg))
    called = (np.abs(deg) > 92).astype(int)           # a classifier that sees |yaw| > 92 only
    pred = torch.tensor([0] * 6 + [1] * 2 + list(called))
    rows = yaw_bin_scores(pred, label, yaw, mirror_pred=torch.tensor([1, 1, 0, 1]))
    assert rows[0]["bin"] == "unrotated" and rows[0]["n"] == 8
    assert rows[0]["specificity"] == 6 / 8
    by = {r["bin"]: r for r in rows[1:]}
    assert [by[b]["n"] for b in ("0-45", "45-90", "90-135", "135-180")] == [3, 4, 4, 5]
    assert by["0-45"]["recall"] == 0 and by["45-90"]["recall"] == 0
    assert by["90-135"]["recall"] == 3 / 4 and by["135-180"]["recall"] == 1.0
    assert by["135-180"]["balanced_accuracy"] == pytest.approx((1 + 0.75) / 2)
    assert by["180 (mirror)"]["n"] == 4 and by["180 (mirror)"]["recall"] == 0.75


def test_classifier_protocol_learns_separable_features_and_averages_crops():
    cfg = resolve_config("cpu", overrides=["eval.epochs=30", "eval.hidden=16"])
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    x = torch.randn(64, 4, 8, generator=g)
    x[:, :, 0] += 3.0 * (2 * y[:, None] - 1)              # feature 0 says the label
    clf, mean, std = train_classifier(x, y, cfg.eval, 1e-2, seed=0)
    assert (predict(clf, mean, std, x) == y).all()
    # predict = argmax of the crop-averaged logits
    logits = clf((x - mean) / std)
    assert torch.equal(predict(clf, mean, std, x), logits.mean(1).argmax(-1))
    again = train_classifier(x, y, cfg.eval, 1e-2, seed=0)[0]
    for p, q in zip(clf.parameters(), again.parameters()):
        assert torch.equal(p, q)                           # seeded: the same classifier


def test_input_mismatch_is_a_clear_error():
    trained = resolve_config("cpu")
    check_compatible(trained, resolve_config("cpu", overrides=["eval.seed=3",
                                                               "data.crop_strategy=random"]))
    with pytest.raises(EvaluationError, match="data.feature: checkpoint 'logmel', requested "
                                              "'foa-iv'"):
        check_compatible(trained, resolve_config("cpu", overrides=["data.feature=foa-iv"]))
    with pytest.raises(EvaluationError, match="n_mels"):
        check_compatible(trained, resolve_config("cpu", overrides=["data.n_mels=128"]))


# ------------------------------------------------------------- on real (synthetic) clips

@pytest.fixture(scope="module")
def synth_index(tmp_path_factory):
    from avsa_learn.data.synth import ensure_synthetic_dataset

    root = tmp_path_factory.mktemp("synth")
    return ensure_synthetic_dataset(root, 10, seed=3, jobs=1, progress=False, duration=1.5,
                                    width=128)


def _tiny(index, *extra):
    return tiny_config(f"data.index={index}", "data.audio_seconds=0.5", "data.crop_size=24",
                       "data.detections=ground-truth", "eval.epochs=5", "eval.test_draws=3",
                       "eval.min_test_pairs=40", "eval.train_draws=1",
                       "eval.feature_batch_size=8",
                       "synth.num_clips=10", *extra)


def test_evaluation_protocol_floors_and_bins(synth_index):
    from avsa_learn.data.index import load_index

    from avsa_learn.detect import make_object_provider

    cfg = _tiny(synth_index)
    records = load_index(synth_index)
    objects = make_object_provider("ground-truth", records)
    torch.manual_seed(0)
    model = build_model(cfg)
    r1 = evaluate_model(model, cfg, records, objects)
    torch.manual_seed(123)                                 # global RNG state must not matter
    assert evaluate_model(model, cfg, records, objects) == r1
    n_test = sum(r.split == "test" for r in records)
    draws = draws_for_pairs(n_test, 40, 3)
    assert r1["protocol"]["test_views"] == n_test * draws and r1["protocol"]["test_clips"] == n_test
    for task in ("avc", "avsa"):
        assert r1["n_test_pairs"][task] == r1[f"{task}_test_pairs"] == 2 * n_test * draws >= 40
        assert r1[f"{task}_chance"] == 0.5
        lo, hi = r1[f"{task}_ci95"]
        assert lo <= r1[f"{task}_accuracy"] <= hi
        for floor in ("untrained", "audio_only", "video_only"):
            assert 0 <= r1["floors"][floor][task] <= 1
        # twinned pairs share their video crops: a video-only classifier gives both pairs of a
        # view the same answer, so exactly one of the two is right
        assert r1["floors"]["video_only"][task] == 0.5
        assert 0 <= r1["transformer"][task] <= 1
    # the model evaluated is untrained: its own untrained floor is the same network
    assert r1["floors"]["untrained"] == {t: r1[f"{t}_accuracy"] for t in ("avc", "avsa")}
    full = r1["scores"]["main"]["avsa_full"]
    rows = {r["bin"]: r for r in full["bins"]}
    assert rows["unrotated"]["n"] == n_test * draws
    assert sum(rows[b]["n"] for b in ("0-45", "45-90", "90-135", "135-180")) == n_test * draws
    assert rows["180 (mirror)"]["n"] == n_test * draws
    # the object-crop protocol is reported apart, on the same views
    obj = r1["scores"]["object"]
    assert obj["crop_strategy"] == "quadrants" and obj["avc"]["n"] == r1["avc_test_pairs"]
    # one protocol for every model: the training crop strategy does not change the test pairs
    other = _tiny(synth_index, "data.crop_strategy=random", "eval.seed=99")
    assert evaluate_model(model, other, records)["scores"]["main"] != r1["scores"]["main"]
    other = _tiny(synth_index, "data.crop_strategy=random")
    assert evaluate_model(model, other, records)["scores"]["main"] == r1["scores"]["main"]
    table = format_table(r1)
    for word in ("untrained", "audio only", "video only", "transformer", "AVSA full", "|yaw|",
                 "quadrants", "180 (mirror)"):
        assert word in table


def test_transformer_features_are_a2v_v2a_of_the_backbone_features(synth_index):
    from avsa_learn.data.datasets import AVSADataset
    from avsa_learn.data.index import load_index

    cfg = _tiny(synth_index, "data.crop_strategy=random")
    records = load_index(synth_index)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    ds = AVSADataset(records, cfg.data, split="test", train=False)
    views = draw_views(ds.records, "test", 0, 45, 1)[:3]
    jobs = [("t", v, ["aligned", "avsa"]) for v in views]
    feats = extract_view_features({"trained": model}, {"t": ds}, jobs, transformer=True)
    with torch.no_grad():
        for n, v in enumerate(views):
            item = ds.sample(v["clip"], np.random.default_rng(v["seed"]), audio_yaw=v["yaw"])
            vid, aud = model(item["video"][None], item["audio"][None])
            f = feats[n]
            assert torch.allclose(f["trained"]["video"], vid[0], atol=1e-5)
            assert torch.allclose(f["trained"]["avsa"], aud[0], atol=1e-5)
            assert torch.allclose(f["transformer"]["video"], model.avsa.v2a(vid)[0], atol=1e-5)
            assert torch.allclose(f["transformer"]["avsa"], model.avsa.a2v(aud)[0], atol=1e-5)
            assert not torch.allclose(f["trained"]["avsa"], f["trained"]["aligned"])


def test_train_resume_and_eval_cli_on_synthetic_clips(synth_index, tmp_path, capsys):
    cfg = _tiny(synth_index, "schedule.avc_epochs=2", "schedule.avsa_epochs=1",
                "schedule.avc_batch_size=3", "schedule.avsa_batch_size=2",
                "runtime.tensorboard=true")
    cfg_file = tmp_path / "tiny.json"
    cfg.save(cfg_file)
    out = tmp_path / "run"
    assert train_main(["--config", str(cfg_file), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "AVC" in table and "AVSA" in table
    for name in ("last.pt", "config.json", "metrics.csv", "curves.png", "eval.json"):
        assert (out / name).exists(), name
    assert any((out / "tensorboard").iterdir())
    result = json.loads((out / "eval.json").read_text())
    assert {"avc_accuracy", "avc_chance", "avsa_accuracy", "avsa_chance"} <= set(result)
    assert json.loads((out / "config.json").read_text()) == cfg.to_dict()

    # resuming a finished run changes nothing; a different configuration is refused
    before = torch.load(out / "last.pt", weights_only=False)["model"]
    assert train_main(["--out", str(out), "--resume", "--no-eval"]) == 0
    after = torch.load(out / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert train_main(["--config", str(cfg_file), "--set", "optim.lr=0.5", "--out", str(out),
                       "--resume"]) == 1
    assert "optim.lr" in capsys.readouterr().err

    # avsa-eval: same numbers twice, and as the training run's own evaluation
    j1, j2 = tmp_path / "e1.json", tmp_path / "e2.json"
    assert eval_main([str(out / "last.pt"), "--json", str(j1), "--no-progress"]) == 0
    assert eval_main([str(out / "last.pt"), "--json", str(j2), "--no-progress"]) == 0
    e1, e2 = json.loads(j1.read_text()), json.loads(j2.read_text())
    assert e1 == e2
    assert e1["avc_accuracy"] == result["avc_accuracy"]
    assert e1["avsa_accuracy"] == result["avsa_accuracy"]
    capsys.readouterr()
    assert eval_main([str(out / "last.pt"), "--feature", "foa-iv"]) == 1
    assert "data.feature" in capsys.readouterr().err


def test_train_cli_errors(tmp_path, capsys, synth_index):
    assert train_main(["--set", "optim.nope=1", "--out", str(tmp_path / "a")]) == 1
    assert "valid keys" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert train_main(["--data", str(empty), "--out", str(tmp_path / "b")]) == 1
    assert "empty" in capsys.readouterr().err
    # the ground-truth object provider needs synthetic clips
    lines = [json.loads(x) for x in synth_index.read_text().splitlines()]
    for rec in lines:
        rec["gt_path"] = None
        rec["video_path"] = rec["audio_path"] = str(synth_index.parent / rec["video_path"])
    real = tmp_path / "real.jsonl"
    real.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert train_main(["--data", str(real), "--out", str(tmp_path / "c")]) == 1
    assert "gt_path" in capsys.readouterr().err


def test_help_explains_presets_and_examples(capsys):
    with pytest.raises(SystemExit):
        train_main(["--help"])
    text = capsys.readouterr().out
    for word in ("--preset", "paper", "--resume", "torchrun", "--set", "examples"):
        assert word in text


def test_train_cli_under_torchrun(synth_index, tmp_path):
    """``torchrun --nproc_per_node=2 -m avsa_learn.train_cli``: gloo on CPU, one checkpoint."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from test_distributed import _free_port

    cfg = _tiny(synth_index, "schedule.avc_batch_size=2", "schedule.avsa_batch_size=2",
                "runtime.num_workers=1", "loss.gather_negatives=true")
    cfg.save(tmp_path / "tiny.json")
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(repo))
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                        "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m",
                        "avsa_learn.train_cli", "--config", str(tmp_path / "tiny.json"),
                        "--out", str(tmp_path / "run")],
                       env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ckpt["world_size"] == 2 and ckpt["progress"]["stage"] == 2
    assert p.stdout.count("evaluation protocol") == 1     # rank 0 alone evaluates and prints
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["avsa_chance"] == 0.5
