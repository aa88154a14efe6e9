"""Atomic training checkpoints with everything needed to resume bit-for-bit.

A checkpoint is a ``torch.save``d dict: ``format``, ``config`` (TrainConfig.to_dict()),
``model`` (AudioVisualModel state_dict), ``optimizer``, ``scheduler``, ``scaler`` (AMP, or
None), ``rng`` (python, numpy, torch CPU and CUDA states), ``progress`` (stage index, stage name,
epoch within the stage, batches done in that epoch, global step) and ``sampler`` (seed, epoch,
start batch of the data order). It is written to a temporary file in the same folder, flushed
to disk, then moved over the target with ``os.replace``: a crash mid-save leaves the previous
checkpoint intact.

Example::

    >>> save_checkpoint("out/last.pt", {"model": model.state_dict()})   # doctest: +SKIP
    >>> ckpt = load_checkpoint("out/last.pt")                           # doctest: +SKIP
"""
import os
import random
from pathlib import Path

import numpy as np
import torch

FORMAT = "avsa_learn.checkpoint/1"


class CheckpointError(RuntimeError):
    """A missing, truncated or foreign checkpoint file."""


def save_checkpoint(path, state):
    """Write ``state`` (a dict) to ``path`` atomically (temp file + fsync + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path, map_location="cpu"):
    """Read a checkpoint written by :func:`save_checkpoint`; raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        # Our own files: they hold python/numpy RNG states, which weights_only refuses.
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # truncated/corrupt files raise various errors inside torch.load
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an avsa_learn checkpoint")
    return ckpt


def rng_state():
    """Python, numpy and torch (CPU and CUDA) generator states."""
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state):
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
