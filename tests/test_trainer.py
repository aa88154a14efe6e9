"""Config, checkpoints and the training loop on small random tensors shaped like dataset items.

FakeClips (also used by test_distributed.py and the subprocess scripts) gives every clip fixed
random video/audio patterns plus per-epoch noise, so the contrastive losses can fall.
"""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from avsa_learn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from avsa_learn.config import ConfigError, TrainConfig, config_diff, resolve_config
from avsa_learn.logging_utils import read_metrics
from avsa_learn.trainer import Trainer, TrainingError, lr_factor

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


@dataclass
class Rec:
    video_id: str


class FakeClips(torch.utils.data.Dataset):
    """Items like AVCDataset (crops=None) / AVSADataset (crops=4) for the config's data shapes.
    ``bad``: indices that behave like undecodable clips (None); ``nan_epoch``: from this epoch
    on the audio is NaN; ``sleep``: seconds per item (to slow a run down)."""

    def __init__(self, n, cfg, crops=None, bad=(), nan_epoch=None, sleep=0.0, clips_per_video=2):
        self.n, self.d, self.crops = n, cfg.data, crops
        self.bad, self.nan_epoch, self.sleep = set(bad), nan_epoch, sleep
        self.records = [Rec(f"v{i // clips_per_video}") for i in range(n)]
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.sleep:
            time.sleep(self.sleep)
        if i in self.bad:
            return None
        d, k = self.d, self.crops or 1
        g = torch.Generator().manual_seed(int(i))
        v = torch.randn(k, 3, d.n_frames, d.crop_size, d.crop_size, generator=g)
        a = torch.randn(k, d.audio_channels, d.audio_frames, d.n_mels, generator=g)
        noise = torch.Generator().manual_seed(10007 * self.epoch + int(i))
        v = v + 0.2 * torch.randn(v.shape, generator=noise)
        a = a + 0.2 * torch.randn(a.shape, generator=noise)
        if self.nan_epoch is not None and self.epoch >= self.nan_epoch:
            a = a * float("nan")
        if self.crops is None:
            v, a = v[0], a[0]
        return {"video": v, "audio": a, "clip_index": torch.tensor(i)}


def tiny_config(*overrides):
    return resolve_config("cpu", overrides=[
        "data.crop_size=16", "data.n_frames=2", "data.n_mels=16", "data.audio_seconds=0.2",
        "model.video_widths=[4, 8]", "model.video_blocks=[1, 1]", "model.audio_width=1",
        "model.proj_dim=8", "model.transformer_ff=16", "schedule.avc_batch_size=4",
        "schedule.avsa_batch_size=2", "schedule.avc_epochs=2", "schedule.avsa_epochs=1",
        "schedule.checkpoint_every=0", "optim.warmup_steps=0", "runtime.num_workers=0",
        "runtime.log_every=1", "runtime.progress=false", "runtime.tensorboard=false",
        *overrides])


def fake_sets(cfg, n=16, **kw):
    return {"avc": FakeClips(n, cfg, **kw), "avsa": FakeClips(n, cfg, crops=4, **kw)}


# ---------------------------------------------------------------- config

def test_config_file_and_overrides_round_trip(tmp_path):
    (tmp_path / "c.toml").write_text('[optim]\nlr = 0.002\n[data]\ncrop_size = 40\n'
                                     'fov_deg = [30.0, 60.0]\n[schedule]\navc_epochs = 3\n')
    (tmp_path / "c.yaml").write_text("optim:\n  lr: 0.002\ndata:\n  crop_size: 40\n"
                                     "  fov_deg: [30.0, 60.0]\nschedule:\n  avc_epochs: 3\n")
    sets = ["optim.lr=5e-4", "loss.avsa_negatives=same-index"]
    a = resolve_config("cpu", tmp_path / "c.toml", sets)
    b = resolve_config("cpu", tmp_path / "c.yaml", sets)
    assert a == b
    assert (a.optim.lr, a.data.crop_size, a.data.fov_deg, a.schedule.avc_epochs) == \
        (5e-4, 40, (30.0, 60.0), 3)
    assert a.loss.avsa_negatives == "same-index"
    assert a.model.video == "small"  # from the cpu preset, untouched by the file
    a.save(tmp_path / "config.json")
    c = resolve_config(None, tmp_path / "config.json")
    assert c == a and TrainConfig.from_dict(a.to_dict()) == a
    assert config_diff(a, c) == []
    assert config_diff(a, resolve_config("cpu")) != []


def test_paper_preset_values():
    p = resolve_config("paper")
    assert (p.data.crop_size, p.data.n_frames, p.data.n_mels) == (112, 8, 128)
    assert (p.schedule.avc_batch_size, p.schedule.avsa_batch_size) == (112, 28)
    assert (p.schedule.avc_epochs, p.schedule.avsa_epochs) == (50, 50)
    assert (p.optim.lr, p.optim.weight_decay, p.optim.lr_schedule) == (1e-4, 1e-5, "constant")
    assert p.model.video == "r2plus1d_18" and p.model.audio_width == 64
    assert p.loss.temperature == 0.07 and p.runtime.amp == "auto"
    # [17]: 31-way AVSA softmax per process, epochs of 2 clips per video
    assert p.loss.avsa_negatives == "same-index" and not p.loss.gather_negatives
    assert p.schedule.clips_per_video == 2
    assert resolve_config("paper", overrides=["loss.avsa_negatives=all"]).loss.avsa_negatives \
        == "all"


def test_unknown_keys_and_bad_values_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'optim.learning_rate'.*lr"):
        resolve_config("cpu", overrides=["optim.learning_rate=1"])
    with pytest.raises(ConfigError, match="unknown config key 'optimizer'.*optim"):
        resolve_config("cpu", overrides=["optimizer.lr=1"])
    (tmp_path / "bad.json").write_text(json.dumps({"data": {"crop_sise": 3}}))
    with pytest.raises(ConfigError, match="crop_sise.*crop_size"):
        resolve_config("cpu", tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="integer"):
        resolve_config("cpu", overrides=["schedule.avc_epochs=two"])
    with pytest.raises(ConfigError, match="data: feature 'foa-iv' needs"):
        resolve_config("cpu", overrides=["data.audio_format=stereo", "data.feature=foa-iv"])
    with pytest.raises(ConfigError, match="avsa_negatives"):
        resolve_config("cpu", overrides=["loss.avsa_negatives=none"])
    with pytest.raises(ConfigError, match="section.key"):
        resolve_config("cpu", overrides=["lr=3"])
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve_config("gpu")


# ---------------------------------------------------------------- checkpoints

def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": {"w": torch.arange(5.0)}, "step": 1})

    def crash(obj, f, *args, **kwargs):
        f.write(b"partial garbage")
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"model": {"w": torch.zeros(5)}, "step": 2})
    monkeypatch.undo()
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 1 and torch.equal(ckpt["model"]["w"], torch.arange(5.0))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind
    path.write_bytes(path.read_bytes()[:100])  # a truncated file is a clear error
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


# ---------------------------------------------------------------- training loop

def test_training_reduces_loss_and_writes_outputs(tmp_path):
    cfg = tiny_config("schedule.avc_epochs=8", "schedule.avsa_epochs=6", "optim.lr=3e-3",
                      "runtime.tensorboard=true")
    Trainer(cfg, fake_sets(cfg), tmp_path).fit()
    rows = read_metrics(tmp_path / "metrics.csv")
    for stage in ("avc", "avsa"):
        loss = [float(r["loss"]) for r in rows if r["stage"] == stage]
        assert sum(loss[-3:]) / 3 < 0.8 * sum(loss[:3]) / 3, (stage, loss)
    assert {"step", "epoch", "stage", "loss", "acc", "lr", "samples_per_s"} <= set(rows[0])
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert any((tmp_path / "tensorboard").iterdir())
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["config"] == cfg.to_dict()
    assert ckpt["progress"]["stage"] == 2 and ckpt["progress"]["step"] == len(rows)
    assert set(ckpt["rng"]) >= {"python", "numpy", "torch"}
    assert {"optimizer", "scheduler", "sampler", "model"} <= set(ckpt)


class _HandOver(Trainer):
    """Records the model and optimiser when the AVSA stage has just been set up."""

    def _setup_stage(self, idx):
        super()._setup_stage(idx)
        if self.stage_name == "avsa":
            self.at_avsa = ({k: v.clone() for k, v in self.model.state_dict().items()},
                            self.optimizer, self.scheduler.last_epoch)


def test_curriculum_hands_over_backbones_with_new_heads_and_optimiser(tmp_path):
    cfg = tiny_config("schedule.avc_epochs=2", "schedule.avsa_epochs=1", "optim.lr=3e-3")
    torch.manual_seed(5)
    init = {k: v.clone() for k, v in Trainer(cfg, fake_sets(cfg, n=8), tmp_path / "x")
            .model.state_dict().items()}
    avc_only = Trainer(tiny_config("schedule.avc_epochs=2", "schedule.avsa_epochs=0",
                                   "optim.lr=3e-3"), fake_sets(cfg, n=8), tmp_path / "a").fit()
    after_avc = avc_only.state_dict()
    t = _HandOver(cfg, fake_sets(cfg, n=8), tmp_path / "b")
    final = t.fit().state_dict()
    state, opt, sched_step = t.at_avsa
    enc = [k for k in state if k.startswith("encoders.")]
    avsa = [k for k in state if k.startswith("avsa.")]
    avc = [k for k in state if k.startswith("avc.")]
    assert enc and avsa and avc
    for k in enc + avc:        # backbones and AVC heads as the AVC stage left them
        assert torch.equal(state[k], after_avc[k]), k
    assert any(not torch.equal(after_avc[k], init[k]) for k in enc)   # AVC did train them
    for k in avsa:             # AVSA heads and transformers: new (as initialised, untrained)
        assert torch.equal(state[k], init[k]), k
    # a new Adam over exactly the AVSA stage's parameters, with no moments yet, new schedule
    stage_params = {id(p) for p in t.model.stage("avsa").parameters()}
    opt_params = {id(p) for g in opt.param_groups for p in g["params"]}
    assert opt_params == stage_params
    assert not any(id(p) in opt_params for p in t.model.avc.parameters())
    assert sched_step == 0
    assert all(torch.equal(final[k], after_avc[k]) for k in avc)      # AVC heads stay frozen
    assert any(not torch.equal(final[k], state[k]) for k in enc + avsa)


def test_cosine_schedule_and_warmup():
    f = lr_factor("cosine", 10, 110)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(60) == pytest.approx(0.5) and f(110) == 0.0
    assert lr_factor("constant", 0, 100)(57) == 1.0


def test_nan_loss_stops_with_clear_error_and_keeps_checkpoint(tmp_path):
    cfg = tiny_config("schedule.avc_epochs=3")
    with pytest.raises(TrainingError, match=r"loss became nan.*last good checkpoint"):
        Trainer(cfg, fake_sets(cfg, nan_epoch=1), tmp_path).fit()
    ckpt = load_checkpoint(tmp_path / "last.pt")  # written after epoch 0, never with NaNs
    assert ckpt["progress"]["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())


def test_too_few_clips_is_a_clear_error(tmp_path):
    cfg = tiny_config()
    with pytest.raises(TrainingError, match="not enough for one batch"):
        Trainer(cfg, fake_sets(cfg, n=3), tmp_path).fit()


def test_corrupt_clips_are_skipped_and_logged(tmp_path, caplog):
    cfg = tiny_config("schedule.avsa_epochs=0")
    with caplog.at_level("WARNING"):
        Trainer(cfg, fake_sets(cfg, bad=(1, 6)), tmp_path).fit()
    assert "could not be decoded and were skipped" in caplog.text
    assert load_checkpoint(tmp_path / "last.pt")["progress"]["stage"] == 1


SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import torch
from test_trainer import tiny_config, fake_sets
from avsa_learn.trainer import Trainer
out, resume = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
cfg = tiny_config("schedule.avc_epochs=2", "schedule.avsa_epochs=2", "schedule.checkpoint_every=3")
model = Trainer(cfg, fake_sets(cfg, sleep={sleep}), out).fit(resume=resume)
torch.save(model.state_dict(), out + "/final_state.pt")
"""


def _run(script, *args):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), sleep=0.01))
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    p_ref = _run(script, ref)
    p = _run(script, killed)
    ckpt = killed / "last.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL, p.stdout.read().decode()[-2000:]
    state = load_checkpoint(ckpt)
    assert not (killed / "final_state.pt").exists()
    assert state["progress"]["stage"] < 2  # killed mid-run
    p2 = _run(script, killed, ckpt)
    assert p2.wait(timeout=180) == 0, p2.stdout.read().decode()[-3000:]
    assert p_ref.wait(timeout=180) == 0, p_ref.stdout.read().decode()[-3000:]
    a = torch.load(ref / "final_state.pt")
    b = torch.load(killed / "final_state.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the resumed metrics read as one run: same steps as the reference
    assert [r["step"] for r in read_metrics(killed / "metrics.csv")] == \
        [r["step"] for r in read_metrics(ref / "metrics.csv")]
