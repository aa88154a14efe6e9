"""The training configuration: one typed object, from a file plus overrides, saved everywhere.

``TrainConfig`` holds the data side (:class:`avsa_learn.data.config.DataConfig`) and sections for
the model, loss, optimiser, schedule, evaluation, synthetic data and runtime. Every field has a
type (taken from its default) that file values and ``--set section.key=value`` overrides are
checked against; an unknown key raises :class:`ConfigError` listing the valid ones.

Resolution order (later wins): dataclass defaults (the paper's values) → ``--preset`` (``cpu``
unless given) → ``--config FILE`` (TOML, JSON or YAML) → ``--set`` overrides → dedicated flags.

Example::

    >>> cfg = resolve_config(preset="cpu", overrides=["optim.lr=3e-3", "data.crop_size=48"])
    >>> cfg.optim.lr, cfg.data.crop_size
    (0.003, 48)
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
"""
import copy
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

from avsa_learn.data.config import CROP_STRATEGIES, DataConfig

VIDEO_ARCHS = ("r2plus1d_18", "small")
POOLS = ("max", "avg")
AVSA_NEGATIVES = ("all", "same-index")
LR_SCHEDULES = ("constant", "cosine")
AMP_MODES = ("auto", "off", "bf16", "fp16")
SYNTH_DIFFICULTIES = ("easy", "hard")   # = avsa_learn.data.synth.DIFFICULTIES (tested)
SYNTH_VALIDITY = ("pass", "all")


class ConfigError(ValueError):
    """A configuration file or override that does not fit :class:`TrainConfig`."""


def _check_choice(name, value, choices):
    if value not in choices:
        raise ConfigError(f"{name} must be one of {choices}, got {value!r}")


@dataclass
class ModelConfig:
    """Encoders, heads and transformers. Defaults: the paper / [17] sizes.

    ``video`` is ``r2plus1d_18`` (torchvision, 512-d, fc removed) or ``small`` (a (2+1)D ResNet
    with ``video_widths`` channels per stage and ``video_blocks`` blocks per stage). The audio
    CNN has 9 convs with ``audio_width * (1, 2, 4, 8)`` channels, so its feature size is
    ``8 * audio_width``; it must equal the video feature size.
    """

    video: str = "r2plus1d_18"
    video_widths: tuple = (64, 128, 256, 512)
    video_blocks: tuple = (2, 2, 2, 2)
    audio_width: int = 64
    pool: str = "max"                  # global pooling of both encoders: max ([17]) or avg
    proj_dim: int = 128                # linear heads 512 -> 128
    transformer_layers: int = 2
    transformer_heads: int = 1
    transformer_ff: int = 2048
    transformer_dropout: float = 0.1

    @property
    def feature_dim(self):
        """Size of the backbone features (512 for the paper config)."""
        return 512 if self.video == "r2plus1d_18" else int(self.video_widths[-1])

    def validate(self):
        _check_choice("model.video", self.video, VIDEO_ARCHS)
        _check_choice("model.pool", self.pool, POOLS)
        if self.video == "small" and len(self.video_widths) != len(self.video_blocks):
            raise ConfigError("model.video_widths and model.video_blocks need the same length, "
                              f"got {self.video_widths} and {self.video_blocks}")
        if 8 * self.audio_width != self.feature_dim:
            raise ConfigError(f"audio feature size 8 * model.audio_width = {8 * self.audio_width}"
                              f" must equal the video feature size {self.feature_dim}")
        if self.feature_dim % self.transformer_heads:
            raise ConfigError(f"model.transformer_heads={self.transformer_heads} must divide the "
                              f"feature size {self.feature_dim}")


@dataclass
class LossConfig:
    """InfoNCE settings. ``avsa_negatives``: ``all`` = Eq. 2 as written (every crop of every other
    clip is a negative: 4N-way), ``same-index`` = as in [17] (the 4 crops of the clip plus the
    same crop index of the other clips: (N + 3)-way, 31-way for 28 clips). N is the batch of one
    process; ``gather_negatives`` (beyond [17]) all-gathers the embeddings under torchrun so
    that N is the global batch (the loss then equals the one-process loss on the whole batch)."""

    temperature: float = 0.07
    avsa_negatives: str = "all"
    gather_negatives: bool = False     # under DDP: contrast against every process's batch

    def validate(self):
        _check_choice("loss.avsa_negatives", self.avsa_negatives, AVSA_NEGATIVES)
        if not self.temperature > 0:
            raise ConfigError(f"loss.temperature must be > 0, got {self.temperature}")


@dataclass
class OptimConfig:
    """Adam (paper: lr 1e-4, weight decay 1e-5, constant). ``grad_clip`` 0 = off; ``cosine``
    decays to 0 over each stage after ``warmup_steps`` of linear warm-up."""

    lr: float = 1e-4
    weight_decay: float = 1e-5
    betas: tuple = (0.9, 0.999)
    grad_clip: float = 0.0
    lr_schedule: str = "constant"
    warmup_steps: int = 0

    def validate(self):
        _check_choice("optim.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if not self.lr > 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.lr}")


@dataclass
class ScheduleConfig:
    """Curriculum: ``avc_epochs`` of AVC, then ``avsa_epochs`` of AVSA with new heads and
    transformers. Batch sizes are clips **per process** (the global batch is world_size times
    larger); an AVSA clip has 4 crops. ``clips_per_video`` > 0: an epoch takes that many clips
    of every video (drawn anew each epoch; [17]: 2), 0: every clip once.
    ``steps_per_epoch`` > 0 caps an epoch.
    A checkpoint is written every ``checkpoint_every`` steps (0: only at epoch ends)."""

    avc_epochs: int = 50
    avsa_epochs: int = 50
    avc_batch_size: int = 112
    avsa_batch_size: int = 28
    clips_per_video: int = 0
    steps_per_epoch: int = 0
    checkpoint_every: int = 1000

    def validate(self):
        if self.avc_epochs < 0 or self.avsa_epochs < 0 or self.avc_epochs + self.avsa_epochs == 0:
            raise ConfigError("schedule.avc_epochs + schedule.avsa_epochs must be > 0")
        if self.avc_batch_size < 2 or self.avsa_batch_size < 2:
            raise ConfigError("batch sizes must be >= 2 (in-batch negatives)")
        if self.clips_per_video < 0:
            raise ConfigError(f"schedule.clips_per_video must be >= 0, got {self.clips_per_video}")


@dataclass
class EvalConfig:
    """The AVC/AVSA evaluation of [17] with frozen features (see avsa_learn.evaluate).

    The test set (views, crops, partner clips, rotations) is drawn from ``seed`` alone, with
    ``crop_strategy`` crops whatever the model was trained with, so every model is scored on the
    same pairs; ``object_crops`` ("" = off) adds a protocol on object crops when the data have
    an object provider. AVSA rotations have |yaw| >= ``min_yaw_deg`` (45° is beyond the half
    field of view of the widest crop, 38°); ``full_circle`` adds [17]'s yaw ~ U(-180°, 180°)
    with a per-|yaw|-bin report, ``mirror_pairs`` the exactly-180° test pairs. Test clips are
    drawn ``test_draws`` times or more, until each task has ``min_test_pairs`` pairs.
    ``floors``: the untrained network and one-modality classifiers beside every score;
    ``transformer_features``: also score the A2V/V2A outputs.
    """

    after_training: bool = True
    seed: int = 12345
    epochs: int = 10
    batch_size: int = 32
    avc_lr: float = 1e-5
    avsa_lr: float = 1e-4
    weight_decay: float = 0.0
    hidden: int = 512
    dropout: float = 0.5
    min_yaw_deg: float = 45.0
    train_draws: int = 1               # views per training clip (2 pairs per task each)
    test_draws: int = 1                # at least this many views per test clip
    min_test_pairs: int = 1000         # more test draws until each task has this many pairs
    crop_strategy: str = "random"      # crops of the main protocol, the same for every model
    object_crops: str = "quadrants"    # second protocol on object crops ("" = off)
    full_circle: bool = True
    mirror_pairs: bool = True
    floors: bool = True
    transformer_features: bool = True
    feature_batch_size: int = 16

    def validate(self):
        if not 0 <= self.min_yaw_deg < 180:
            raise ConfigError(f"eval.min_yaw_deg must be in [0, 180), got {self.min_yaw_deg}")
        _check_choice("eval.crop_strategy", self.crop_strategy, CROP_STRATEGIES)
        _check_choice("eval.object_crops", self.object_crops, ("",) + CROP_STRATEGIES)
        if self.train_draws < 1 or self.test_draws < 1 or self.min_test_pairs < 0:
            raise ConfigError("eval.train_draws and eval.test_draws must be >= 1, "
                              "eval.min_test_pairs >= 0")


@dataclass
class SyntheticDataConfig:
    """The synthetic data set used when ``data.index`` is empty (``avsa-train`` alone).
    ``root`` empty: ``$AVSA_CACHE/synthetic`` or ``~/.cache/avsa_learn/synthetic``.
    ``difficulty``: the scene preset (``avsa_learn.data.synth.DIFFICULTIES``: "hard" by default,
    "easy" the earlier scenes); ``validity``: "pass" trains and evaluates on the clips that pass
    the paper's Eq. 13 test (Table I's filter; the hard set holds invalid-ambisonic files),
    "all" on every clip."""

    root: str = ""
    num_clips: int = 200
    seed: int = 0
    difficulty: str = "hard"
    validity: str = "pass"

    def validate(self):
        _check_choice("synth.difficulty", self.difficulty, SYNTH_DIFFICULTIES)
        _check_choice("synth.validity", self.validity, SYNTH_VALIDITY)
        if self.num_clips < 2:
            raise ConfigError(f"synth.num_clips must be >= 2, got {self.num_clips}")


@dataclass
class RuntimeConfig:
    """Where and how to run. ``amp`` auto = bf16 (fp16 if unsupported) on CUDA, off on CPU;
    ``channels_last`` applies on CUDA only. ``threads`` 0 = CPU cores / local processes."""

    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    channels_last: bool = True
    num_workers: int = 0
    threads: int = 0
    log_every: int = 10
    progress: bool = True
    tensorboard: bool = True

    def validate(self):
        _check_choice("runtime.amp", self.amp, AMP_MODES)


SECTIONS = ("data", "model", "loss", "optim", "schedule", "eval", "synth", "runtime")


@dataclass
class TrainConfig:
    """Everything a training run depends on; ``to_dict()`` is stored in every checkpoint."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    synth: SyntheticDataConfig = field(default_factory=SyntheticDataConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def validate(self):
        """Check cross-field constraints; raises :class:`ConfigError`. Returns self."""
        for name in SECTIONS:
            section = getattr(self, name)
            if hasattr(section, "validate"):
                section.validate()
        return self

    def to_dict(self):
        """Plain JSON-able nested dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d):
        """Strict inverse of :meth:`to_dict`; missing keys keep their defaults."""
        cfg = cls()
        _apply(cfg, d, "")
        return _finish(cfg)

    def save(self, path):
        """Write the config as JSON (atomically)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        os.replace(tmp, path)


def _valid_keys(obj):
    return [f.name for f in fields(obj)]


def _coerce(name, value, default):
    """Convert ``value`` to the type of ``default`` (bool, int, float, str, tuple)."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{name} expects true/false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ConfigError(f"{name} expects an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} expects a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{name} expects a string, got {value!r}")
        return str(value)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} expects a list, got {value!r}")
        if default:
            return tuple(_coerce(f"{name}[{i}]", v, default[0]) for i, v in enumerate(value))
        return tuple(value)
    return value


def _apply(obj, d, prefix):
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix or 'config'} must be a table/mapping, got {d!r}")
    valid = _valid_keys(obj)
    for key, value in d.items():
        name = f"{prefix}{key}"
        if key not in valid:
            raise ConfigError(f"unknown config key {name!r}; valid keys"
                              f"{' of ' + prefix[:-1] if prefix else ''}: {', '.join(valid)}")
        current = getattr(obj, key)
        if is_dataclass(current):
            _apply(current, value, name + ".")
        else:
            setattr(obj, key, _coerce(name, value, current))


def _finish(cfg):
    # DataConfig validates in __post_init__: rebuild it so file values are checked too.
    try:
        cfg.data = DataConfig(**asdict(cfg.data))
    except ValueError as e:
        raise ConfigError(f"data: {e}") from None
    return cfg.validate()


def load_config_file(path):
    """Read a TOML (.toml), JSON (.json) or YAML (.yaml/.yml) file into a nested dict."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text()
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            d = tomllib.loads(text)
        elif suffix == ".json":
            d = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml
            d = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{path}: unknown config format {suffix!r} (use .toml, .json, .yaml)")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot parse: {e}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at top level")
    return d


def parse_override(text):
    """``"optim.lr=1e-3"`` → ``{"optim": {"lr": 0.001}}`` (values parsed as JSON when they can
    be, e.g. ``true``, ``[48, 48]``, else taken as strings)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"override key {key!r} must be section.key (sections: "
                          f"{', '.join(SECTIONS)})")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return {parts[0]: {parts[1]: value}}


# Presets, applied to the dataclass defaults (which are the paper's values).
PRESETS = {
    # The paper / [17]: 112 crops, 8 frames, batch 112 AVC / 28 x 4 AVSA, 50 + 50 epochs of 2
    # clips per video, [17]'s 31-way AVSA softmax (same-index negatives), Adam 1e-4 wd 1e-5,
    # R(2+1)D-18 + 9-layer audio CNN, AMP + channels_last on CUDA.
    "paper": {
        "data": {"crop_size": 112, "n_frames": 8, "cache_frames": False,
                 "video_start_step": 8},
        "loss": {"avsa_negatives": "same-index"},
        "schedule": {"clips_per_video": 2},
        "runtime": {"num_workers": 8, "amp": "auto", "channels_last": True,
                    "log_every": 50},
        "synth": {"num_clips": 2000},
        "eval": {"epochs": 10, "batch_size": 32, "avc_lr": 1e-5, "avsa_lr": 1e-4},
    },
    # Fits 2 CPU cores in < 15 min (data generation, training and evaluation included): small
    # encoders, 48 px crops, 4 frames, 64 mel bands; object-centred crops from a detector
    # simulated on the synthetic ground truth (the paper's YOLO crops: jitter, misses, false
    # positives; "ground-truth" is the oracle); colour jitter on (in the hard scenes colour does
    # not name the class).
    "cpu": {
        "data": {"crop_size": 48, "n_frames": 4, "cache_frames": True, "n_mels": 64,
                 "color_jitter": True, "detections": "simulated",
                 "crop_strategy": "quadrants"},
        "model": {"video": "small", "video_widths": [16, 32, 64, 64], "video_blocks": [1, 1, 1, 1],
                  "audio_width": 8, "proj_dim": 64, "transformer_ff": 128},
        "optim": {"lr": 1e-3, "weight_decay": 1e-5, "lr_schedule": "cosine", "warmup_steps": 20},
        "schedule": {"avc_epochs": 40, "avsa_epochs": 20, "avc_batch_size": 32,
                     "avsa_batch_size": 8, "checkpoint_every": 100},
        "eval": {"epochs": 40, "batch_size": 256, "avc_lr": 2e-3, "avsa_lr": 2e-3,
                 "hidden": 128, "train_draws": 2},
        "synth": {"num_clips": 200},
        "runtime": {"num_workers": 1, "log_every": 5},
    },
}


def resolve_config(preset="cpu", config_file=None, overrides=(), extra=None, base=None):
    """Build a :class:`TrainConfig`: defaults → preset → file → ``overrides`` → ``extra`` dict.

    ``overrides`` are ``"section.key=value"`` strings; ``extra`` is a nested dict (the CLI's
    dedicated flags); ``base`` (a config dict, e.g. a checkpoint's) replaces the defaults.
    Raises :class:`ConfigError` on unknown keys or bad values.
    """
    cfg = TrainConfig()
    layers = [base] if base else []
    if preset:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        layers.append(copy.deepcopy(PRESETS[preset]))
    if config_file:
        layers.append(load_config_file(config_file))
    layers.extend(parse_override(o) for o in overrides)
    if extra:
        layers.append(extra)
    for layer in layers:
        _apply(cfg, layer, "")
    return _finish(cfg)


def config_diff(a, b, ignore=("runtime", "eval")):
    """Dotted keys whose values differ between two configs (dicts or TrainConfigs)."""
    a = a.to_dict() if isinstance(a, TrainConfig) else a
    b = b.to_dict() if isinstance(b, TrainConfig) else b
    out = []
    for section in SECTIONS:
        if section in ignore:
            continue
        sa, sb = a.get(section, {}), b.get(section, {})
        for key in sorted(set(sa) | set(sb)):
            if sa.get(key) != sb.get(key):
                out.append(f"{section}.{key}: {sa.get(key)!r} -> {sb.get(key)!r}")
    return out
