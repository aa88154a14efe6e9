"""Load a trained checkpoint for inference (embeddings, linear probes, fine-tuning).

A checkpoint written by the trainer (:mod:`avsa_learn.checkpoint`) holds the training
``config`` (``TrainConfig.to_dict()``) and the ``model`` state dict of an
:class:`~avsa_learn.models.AudioVisualModel`; the optimiser/RNG/progress entries are ignored
here. The config says how the model's inputs must be made (audio format, feature, mel bands,
sample rate, crop size, frames): read them from ``cfg.data``.

Example::

    >>> model, cfg = load_pretrained("runs/a/last.pt")                   # doctest: +SKIP
    >>> feats = crop_audio_features(x, cfg.data.sample_rate, 0.0, 0.0, cfg.data)  # doctest: +SKIP
    >>> model.encoders.encode_audio(torch.from_numpy(feats)[None]).shape  # doctest: +SKIP
    torch.Size([1, 512])
"""
import torch

from avsa_learn.checkpoint import CheckpointError, load_checkpoint
from avsa_learn.config import ConfigError, TrainConfig
from avsa_learn.models import build_model


def load_pretrained(path, map_location="cpu"):
    """``(model, cfg)``: the :class:`~avsa_learn.models.AudioVisualModel` of checkpoint
    ``path`` in eval mode on ``map_location`` (a device name or ``torch.device``), and its
    :class:`~avsa_learn.config.TrainConfig`.

    ``model.encoders.encode_audio`` maps (B, C, F, M) features to (B, D) embeddings and
    ``model.encoders.encode_video`` (B, 3, T, S, S) crops to (B, D) (D = 512 for the paper's
    model). Raises :class:`~avsa_learn.checkpoint.CheckpointError` naming the file when it is
    missing, not a checkpoint, lacks ``config``/``model``, or its weights do not fit its config.
    """
    ckpt = load_checkpoint(path, map_location=map_location)
    missing = [k for k in ("config", "model") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: the checkpoint has no {' or '.join(missing)} entry "
                              "(expected one written by avsa-train)")
    try:
        cfg = TrainConfig.from_dict(ckpt["config"])
    except ConfigError as err:
        raise CheckpointError(f"{path}: the stored config is not valid: {err}") from None
    model = build_model(cfg)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: the weights do not match the stored config: {err}") from None
    return model.to(torch.device(map_location)).eval(), cfg
