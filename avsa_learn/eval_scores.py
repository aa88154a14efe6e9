"""Scores from frozen per-crop features: the classifier of [17], accuracy with its Wilson
interval, the one-modality floors and the accuracy per |yaw| bin.

Features are float tensors (N, K, F): N pairs, K crops, F = video ‖ audio features (the video
part first, ``dim_video`` wide). Labels (N,) are 0/1 (1 = mismatched / rotated).

- :func:`train_classifier` / :func:`predict`: dropout → Linear → ReLU → Linear(2) on z-scored
  crops, logits averaged over the K crops of a pair.
- :func:`accuracy_score`: fit on train pairs, accuracy on test pairs, 95 % Wilson interval.
- :func:`modality_floors`: the same classifier on the audio part only and on the video part only
  (what one modality alone tells on these pairs).
- :func:`yaw_bin_scores`: for the AVSA task with yaw from the full circle, the rate at which
  rotated test pairs are called rotated per |yaw| bin, and the balanced accuracy of each bin
  against all unrotated test pairs (chance 0.5).

Example::

    >>> from avsa_learn.config import EvalConfig
    >>> y = torch.arange(40) % 2
    >>> x = torch.randn(40, 4, 6); x[..., 5] += 4 * y[:, None]   # the audio part tells
    >>> ecfg = EvalConfig(epochs=20, hidden=8)
    >>> s = modality_floors((x, y), (x, y), dim_video=3, ecfg=ecfg, lr=1e-2, seed=0)
    >>> s["audio_only"]["accuracy"] > 0.9, s["video_only"]["accuracy"] < 0.8
    (True, True)
"""
import numpy as np
import torch
from torch import nn

from avsa_learn.probe import wilson_interval

#: |yaw| bins of the full-circle AVSA protocol, degrees [low, high); the last one is closed.
YAW_BINS_DEG = ((0, 45), (45, 90), (90, 135), (135, 180))


def make_classifier(in_dim, hidden=512, dropout=0.5):
    """dropout → Linear(in_dim, hidden) → ReLU → Linear(hidden, 2) ([17]: 1024 → 512 → 2)."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.ReLU(),
                         nn.Linear(hidden, 2))


def train_classifier(x, y, ecfg, lr, seed):
    """Fit the classifier on per-crop features ``x`` (N, K, F) with pair labels ``y`` (N,);
    returns (classifier, mean, std) with the z-scoring statistics. Seeded by ``seed`` alone
    (the global RNG is left as it was)."""
    g = torch.Generator().manual_seed(seed)
    flat = x.reshape(-1, x.shape[-1]).float()
    mean, std = flat.mean(0), flat.std(0) + 1e-6
    flat = (flat - mean) / std
    labels = y.repeat_interleave(x.shape[1])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)           # a small MLP: one thread is the fastest
    try:
        return _fit(flat, labels, mean, std, ecfg, lr, seed, g)
    finally:
        torch.set_num_threads(threads)


def _fit(flat, labels, mean, std, ecfg, lr, seed, g):
    """The training loop of :func:`train_classifier` on z-scored crops ``flat`` (N·K, F)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clf = make_classifier(flat.shape[1], ecfg.hidden, ecfg.dropout)
        opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=ecfg.weight_decay)
        clf.train()
        for _ in range(ecfg.epochs):
            order = torch.randperm(len(flat), generator=g)
            for b in range(0, len(flat), ecfg.batch_size):
                idx = order[b:b + ecfg.batch_size]
                loss = nn.functional.cross_entropy(clf(flat[idx]), labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    clf.eval()
    return clf, mean, std


@torch.no_grad()
def predict(clf, mean, std, x):
    """Pair predictions (N,): argmax of the logits averaged over the K crops."""
    logits = clf((x.float() - mean) / std)  # (N, K, 2)
    return logits.mean(1).argmax(-1)


def proportion(correct):
    """{"accuracy", "ci95": [low, high] (Wilson), "n"} of a bool/0-1 tensor of outcomes."""
    n, k = int(correct.numel()), int(correct.sum())
    if n == 0:
        return {"accuracy": None, "ci95": None, "n": 0}
    return {"accuracy": k / n, "ci95": [round(v, 4) for v in wilson_interval(k, n)], "n": n}


def accuracy_score(train, test, ecfg, lr, seed):
    """Fit on ``train`` = (x, y), score ``test`` = (x, y): :func:`proportion` of correct pairs
    plus "pred" (the test predictions, (N_test,) int64) and "classifier" (clf, mean, std)."""
    clf, mean, std = train_classifier(*train, ecfg, lr, seed)
    pred = predict(clf, mean, std, test[0])
    return {**proportion(pred == test[1]), "pred": pred, "classifier": (clf, mean, std)}


def modality_floors(train, test, dim_video, ecfg, lr, seed):
    """The classifier on one modality: {"audio_only": score, "video_only": score} with the
    features' last ``F - dim_video`` (audio) or first ``dim_video`` (video) columns."""
    out = {}
    for name, cols in (("audio_only", slice(dim_video, None)), ("video_only", slice(0, dim_video))):
        s = accuracy_score((train[0][..., cols], train[1]), (test[0][..., cols], test[1]), ecfg,
                           lr, seed)
        out[name] = {k: s[k] for k in ("accuracy", "ci95", "n")}
    return out


def yaw_bin_scores(pred, label, yaw, mirror_pred=None):
    """Per-|yaw| report of a full-circle AVSA test set: ``pred``/``label`` (N,) 0/1, ``yaw`` (N,)
    radians of each pair (0 for unrotated ones); ``mirror_pred`` (M,): predictions on extra
    pairs rotated by exactly 180° (all label 1). Returns a list of {"bin", "n", "recall" (share
    of that bin's rotated pairs called rotated, with "recall_ci95"), "balanced_accuracy"
    ((recall + specificity) / 2, chance 0.5)} and, first, "specificity" over the unrotated
    pairs (share called unrotated)."""
    pred, label = torch.as_tensor(pred), torch.as_tensor(label)
    deg = np.degrees(np.abs(np.asarray(yaw, dtype=float)))
    neg = label == 0
    spec = proportion(pred[neg] == 0)
    rows = [{"bin": "unrotated", "n": spec["n"], "specificity": spec["accuracy"],
             "specificity_ci95": spec["ci95"]}]
    groups = []
    for lo, hi in YAW_BINS_DEG:
        inside = (deg >= lo) & ((deg < hi) | ((hi == 180) & (deg <= hi)))  # last bin closed
        sel = (label == 1) & torch.from_numpy(inside)
        groups.append((f"{lo}-{hi}", pred[sel] == 1))
    if mirror_pred is not None:
        groups.append(("180 (mirror)", torch.as_tensor(mirror_pred) == 1))
    for name, hit in groups:
        r = proportion(hit)
        bal = None if r["accuracy"] is None else (r["accuracy"] + spec["accuracy"]) / 2
        rows.append({"bin": name, "n": r["n"], "recall": r["accuracy"], "recall_ci95": r["ci95"],
                     "balanced_accuracy": bal})
    return rows
