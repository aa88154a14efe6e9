"""The AVC/AVSA evaluation protocol, avsa-eval, and short avsa-train runs on synthetic clips."""
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from avsa_learn.config import resolve_config
from avsa_learn.evaluate import (EvaluationError, check_compatible, draw_pairs, evaluate_model,
                                 predict, train_classifier)
from avsa_learn.evaluate import main as eval_main
from avsa_learn.models import build_model
from avsa_learn.train_cli import main as train_main
from test_trainer import tiny_config


@dataclass
class Rec:
    video_id: str


class Records:
    def __init__(self, videos):
        self.records = [Rec(v) for v in videos]


def test_pairs_are_balanced_seeded_and_valid():
    ds = Records([f"v{i // 2}" for i in range(20)])
    for task in ("avc", "avsa"):
        a = draw_pairs(ds, task, "test", seed=7, min_yaw_deg=45, draws=3)
        b = draw_pairs(ds, task, "test", seed=7, min_yaw_deg=45, draws=3)
        assert a == b and len(a) == 60
        assert sum(p["label"] for p in a) == 30                       # exactly half
        assert draw_pairs(ds, task, "test", seed=8, min_yaw_deg=45, draws=3) != a
        assert draw_pairs(ds, task, "train", seed=7, min_yaw_deg=45, draws=3) != a
    for p in draw_pairs(ds, "avc", "test", 7, 45, 3):
        assert p["audio_yaw"] == 0.0
        if p["label"]:
            assert ds.records[p["audio_from"]].video_id != ds.records[p["clip"]].video_id
        else:
            assert p["audio_from"] is None
    yaws = np.array([p["audio_yaw"] for p in draw_pairs(ds, "avsa", "test", 7, 45, 3)
                     if p["label"]])
    assert (np.abs(yaws) >= np.deg2rad(45)).all() and (np.abs(yaws) <= np.pi).all()
    assert (yaws > 0).any() and (yaws < 0).any()
    assert all(p["audio_yaw"] == 0 for p in draw_pairs(ds, "avsa", "test", 7, 45, 3)
               if not p["label"])
    with pytest.raises(EvaluationError, match="another video"):
        draw_pairs(Records(["same"] * 4), "avc", "test", 0, 45)


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
                       "eval.train_draws=1", "eval.feature_batch_size=8",
                       "synth.num_clips=10", *extra)


def test_evaluation_is_deterministic_with_exact_chance(synth_index):
    from avsa_learn.data.index import load_index

    cfg = _tiny(synth_index)
    records = load_index(synth_index)
    torch.manual_seed(0)
    model = build_model(cfg)
    r1 = evaluate_model(model, cfg, records)
    torch.manual_seed(123)                                 # global RNG state must not matter
    r2 = evaluate_model(model, cfg, records)
    assert r1 == r2
    n_test = sum(r.split == "test" for r in records)
    for task in ("avc", "avsa"):
        assert r1[f"{task}_test_pairs"] == 3 * n_test
        labels_one = (3 * n_test) // 2                     # draw_pairs balances exactly
        assert r1[f"{task}_chance"] == pytest.approx(max(labels_one, 3 * n_test - labels_one)
                                                     / (3 * n_test))
        assert 0.0 <= r1[f"{task}_accuracy"] <= 1.0
    other = _tiny(synth_index, "eval.seed=99")
    assert evaluate_model(model, other, records) != r1    # the seed does pick the test set


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
                "runtime.num_workers=1")
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
    assert p.stdout.count("AVSA") == 1                     # rank 0 alone evaluates and prints
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["avsa_chance"] == 0.5
