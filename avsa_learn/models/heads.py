"""Projection heads, A2V/V2A transformers and the AVC / AVSA models around the two encoders.

:class:`AudioVisualModel` owns the encoders plus the AVC heads and the (separate, new) AVSA heads
and transformers of the curriculum of [17]. ``model.stage("avc")`` / ``model.stage("avsa")``
return a module that *shares* those submodules and holds only what that stage uses (so DDP sees
no unused parameters); its state lives in the parent's ``state_dict``.

Shapes (P = ``proj_dim``, D = feature size, K = crops per clip):

- AVC: video (B, 3, T, S, S), audio (B, C, F, M) → video target ṽ (B, P), audio target ã (B, P);
  per Eq. 1 the predictions are â = ṽ and v̂ = ã.
- AVSA: video (B, K, 3, T, S, S), audio (B, K, C, F, M) → dict of (B, K, P) tensors
  ``video_target`` ṽ, ``audio_target`` ã, ``video_pred`` v̂ = head(A2V(a)),
  ``audio_pred`` â = head(V2A(v)) (Eq. 2).

Example::

    >>> from avsa_learn.config import resolve_config
    >>> m = build_model(resolve_config("cpu"))
    >>> avc = m.stage("avc")
"""
import torch
from torch import nn

from avsa_learn.models.audio import AudioCNN
from avsa_learn.models.video import build_video_encoder


class CropTransformer(nn.Module):
    """A2V / V2A translation: post-LN transformer encoder over the K crops of a clip, no
    positional encoding ([17]: 2 layers, width 512, 1 head, feed-forward 2048, dropout 0.1).
    (B, K, D) → (B, K, D)."""

    def __init__(self, dim, layers=2, heads=1, ff=2048, dropout=0.1):
        super().__init__()
        layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout, batch_first=True,
                                           norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x):
        return self.encoder(x)


class AVCHeads(nn.Module):
    """Linear(D, P) video and audio heads of the AVC stage."""

    def __init__(self, dim, proj_dim):
        super().__init__()
        self.video = nn.Linear(dim, proj_dim)
        self.audio = nn.Linear(dim, proj_dim)


class AVSAHeads(nn.Module):
    """The four Linear(D, P) heads and the A2V / V2A transformers of the AVSA stage."""

    def __init__(self, dim, proj_dim, layers, heads, ff, dropout):
        super().__init__()
        self.video_target = nn.Linear(dim, proj_dim)
        self.audio_target = nn.Linear(dim, proj_dim)
        self.video_pred = nn.Linear(dim, proj_dim)
        self.audio_pred = nn.Linear(dim, proj_dim)
        self.a2v = CropTransformer(dim, layers, heads, ff, dropout)
        self.v2a = CropTransformer(dim, layers, heads, ff, dropout)


class Encoders(nn.Module):
    """The two backbones; ``channels_last`` converts inputs on the fly (CUDA speed-up)."""

    def __init__(self, video_encoder, audio_encoder):
        super().__init__()
        self.video_encoder = video_encoder
        self.audio_encoder = audio_encoder
        self.channels_last = False

    def set_channels_last(self, flag=True):
        self.channels_last = bool(flag)
        if flag:
            self.video_encoder.to(memory_format=torch.channels_last_3d)
            self.audio_encoder.to(memory_format=torch.channels_last)
        return self

    def encode_video(self, video):
        """(B, 3, T, S, S) → (B, D)."""
        if self.channels_last:
            video = video.contiguous(memory_format=torch.channels_last_3d)
        return self.video_encoder(video)

    def encode_audio(self, audio):
        """(B, C, F, M) → (B, D)."""
        if self.channels_last:
            audio = audio.contiguous(memory_format=torch.channels_last)
        return self.audio_encoder(audio)

    def forward(self, video, audio):
        """Backbone features of paired crops, any leading dims: (..., 3, T, S, S), (..., C, F, M)
        → (..., D), (..., D)."""
        lead = video.shape[:-4]
        v = self.encode_video(video.reshape(-1, *video.shape[-4:]))
        a = self.encode_audio(audio.reshape(-1, *audio.shape[-3:]))
        return v.reshape(*lead, -1), a.reshape(*lead, -1)


class AVCModel(nn.Module):
    """AVC stage view: (B, 3, T, S, S), (B, C, F, M) → (ṽ, ã), each (B, P)."""

    def __init__(self, encoders, heads):
        super().__init__()
        self.encoders = encoders
        self.heads = heads

    def forward(self, video, audio):
        v, a = self.encoders(video, audio)
        return self.heads.video(v), self.heads.audio(a)


class AVSAModel(nn.Module):
    """AVSA stage view: (B, K, 3, T, S, S), (B, K, C, F, M) → dict of (B, K, P) tensors."""

    def __init__(self, encoders, heads):
        super().__init__()
        self.encoders = encoders
        self.heads = heads

    def forward(self, video, audio):
        v, a = self.encoders(video, audio)
        h = self.heads
        return {"video_target": h.video_target(v), "audio_target": h.audio_target(a),
                "video_pred": h.video_pred(h.a2v(a)), "audio_pred": h.audio_pred(h.v2a(v))}


class AudioVisualModel(nn.Module):
    """Encoders + AVC heads + AVSA heads/transformers; ``stage(name)`` gives the trainable view."""

    def __init__(self, video_encoder, audio_encoder, model_cfg):
        super().__init__()
        dim = video_encoder.out_dim
        if audio_encoder.out_dim != dim:
            raise ValueError(f"audio feature size {audio_encoder.out_dim} != video {dim}")
        self.feature_dim = dim
        self.encoders = Encoders(video_encoder, audio_encoder)
        self.avc = AVCHeads(dim, model_cfg.proj_dim)
        self.avsa = AVSAHeads(dim, model_cfg.proj_dim, model_cfg.transformer_layers,
                              model_cfg.transformer_heads, model_cfg.transformer_ff,
                              model_cfg.transformer_dropout)

    def stage(self, name):
        """``"avc"`` → :class:`AVCModel`, ``"avsa"`` → :class:`AVSAModel` (shared modules)."""
        if name == "avc":
            return AVCModel(self.encoders, self.avc)
        if name == "avsa":
            return AVSAModel(self.encoders, self.avsa)
        raise ValueError(f"unknown stage {name!r} (avc or avsa)")

    def forward(self, video, audio):
        """Backbone features (..., D) of paired crops (used by the evaluation)."""
        return self.encoders(video, audio)


def build_model(cfg):
    """:class:`AudioVisualModel` for a :class:`avsa_learn.config.TrainConfig`."""
    video = build_video_encoder(cfg.model)
    audio = AudioCNN(cfg.data.audio_channels, cfg.model.audio_width, cfg.model.pool)
    return AudioVisualModel(video, audio, cfg.model)
