"""InfoNCE losses of the paper: AVC (Eq. 1) and AVSA (Eq. 2), both directions.

Embeddings are L2-normalised, cosine similarities divided by the temperature τ (0.07) and fed to
a cross-entropy whose target is the positive pair; in-batch negatives only. The returned loss is
the mean of the two directions; ``acc`` is the fraction of queries whose most similar candidate
is the positive (both directions pooled).

AVSA candidates for query crop k of clip i (``negatives``):

- ``"all"`` (Eq. 2 as written): every crop l of every clip j — (N·K)-way, with the K − 1 other
  crops of clip i as hard spatial negatives;
- ``"same-index"`` (as in [17]): the K crops of clip i and crop k of the N − 1 other clips —
  (N + K − 1)-way, 31-way for N = 28, K = 4.

N is the batch the loss is given. Under torchrun each process has its own batch (27 negatives
per AVSA InfoNCE at 4 × 28 with ``same-index``, as [17]); with ``loss.gather_negatives`` the
trainer first concatenates every process's embeddings
(:func:`avsa_learn.distributed.gather_with_local_grad`), so N is the global batch and the loss
equals the one-process loss on the whole batch (values and, after DDP's averaging of
``world_size × loss``, gradients).

Example::

    >>> v = torch.nn.functional.one_hot(torch.arange(4), 8).float()
    >>> loss, acc = avc_loss(v, v, temperature=0.07)
    >>> float(acc)
    1.0
"""
import torch
import torch.nn.functional as F

AVSA_NEGATIVES = ("all", "same-index")


def _info_nce(query, target, temperature, mask=None):
    """Rows of ``query`` (Q, P) against rows of ``target`` (Q, P); positive of row q is row q.
    ``mask`` (Q, Q) bool marks the allowed candidates. Returns (loss, correct (Q,) bool)."""
    q = F.normalize(query.float(), dim=-1)
    t = F.normalize(target.float(), dim=-1)
    logits = q @ t.T / temperature
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    labels = torch.arange(q.shape[0], device=q.device)
    return F.cross_entropy(logits, labels), logits.argmax(1) == labels


def avc_loss(video_emb, audio_emb, temperature=0.07):
    """Eq. 1: video targets ṽ (N, P) = predicted audio â, audio targets ã (N, P) = predicted
    video v̂. Mean of CE(sim(â_i, ã_·)) and CE(sim(v̂_i, ṽ_·)) → (loss, accuracy) scalars."""
    if video_emb.shape != audio_emb.shape or video_emb.ndim != 2:
        raise ValueError(f"avc_loss expects two (N, P) tensors, got {tuple(video_emb.shape)} "
                         f"and {tuple(audio_emb.shape)}")
    l1, c1 = _info_nce(video_emb, audio_emb, temperature)   # â_i = ṽ_i against ã_j
    l2, c2 = _info_nce(audio_emb, video_emb, temperature)   # v̂_i = ã_i against ṽ_j
    return (l1 + l2) / 2, torch.cat([c1, c2]).float().mean()


def avsa_candidate_mask(n_clips, n_crops, negatives="all", device=None):
    """(N·K, N·K) bool: candidate (j, l) allowed for query (i, k) (rows/cols ordered i·K + k)."""
    if negatives not in AVSA_NEGATIVES:
        raise ValueError(f"negatives must be one of {AVSA_NEGATIVES}, got {negatives!r}")
    n = n_clips * n_crops
    if negatives == "all":
        return torch.ones(n, n, dtype=torch.bool, device=device)
    idx = torch.arange(n, device=device)
    clip, crop = idx // n_crops, idx % n_crops
    return (clip[:, None] == clip[None, :]) | (crop[:, None] == crop[None, :])


def avsa_loss(out, temperature=0.07, negatives="all"):
    """Eq. 2 on the AVSA model output ``out``: dict of (N, K, P) tensors ``video_target`` ṽ,
    ``audio_target`` ã, ``video_pred`` v̂, ``audio_pred`` â. Mean of CE(sim(â_ik, ã_··)) and
    CE(sim(v̂_ik, ṽ_··)) → (loss, accuracy) scalars."""
    n, k, p = out["video_target"].shape
    mask = avsa_candidate_mask(n, k, negatives, out["video_target"].device)
    flat = {name: t.reshape(n * k, p) for name, t in out.items()}
    l1, c1 = _info_nce(flat["audio_pred"], flat["audio_target"], temperature, mask)
    l2, c2 = _info_nce(flat["video_pred"], flat["video_target"], temperature, mask)
    return (l1 + l2) / 2, torch.cat([c1, c2]).float().mean()
