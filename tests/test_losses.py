"""AVC (Eq. 1) and AVSA (Eq. 2) InfoNCE losses against explicit-loop references and closed forms."""
import math

import numpy as np
import pytest
import torch

from avsa_learn.losses import avc_loss, avsa_candidate_mask, avsa_loss

TAU = 0.07


def cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def nce_row(query, candidates, positive, tau):
    """-log softmax of the positive among the candidates, plain python."""
    s = [cos(query, c) / tau for c in candidates]
    m = max(s)
    return -(s[positive] - m - math.log(sum(math.exp(x - m) for x in s)))


def avc_reference(v, a, tau):
    v, a = v.double().numpy(), a.double().numpy()
    n = len(v)
    l1 = [nce_row(v[i], [a[j] for j in range(n)], i, tau) for i in range(n)]  # â_i = ṽ_i vs ã_j
    l2 = [nce_row(a[i], [v[j] for j in range(n)], i, tau) for i in range(n)]  # v̂_i = ã_i vs ṽ_j
    return (np.mean(l1) + np.mean(l2)) / 2


def avsa_reference(out, tau, negatives):
    """Eq. 2 with explicit loops over (i, k) queries and (j, l) candidates."""
    o = {k: t.double().numpy() for k, t in out.items()}
    n, K, _ = o["video_target"].shape
    terms = []
    for pred, target in (("audio_pred", "audio_target"), ("video_pred", "video_target")):
        losses = []
        for i in range(n):
            for k in range(K):
                cands, pos = [], None
                for j in range(n):
                    for l in range(K):
                        if negatives == "same-index" and j != i and l != k:
                            continue
                        if (j, l) == (i, k):
                            pos = len(cands)
                        cands.append(o[target][j, l])
                losses.append(nce_row(o[pred][i, k], cands, pos, tau))
        terms.append(np.mean(losses))
    return float(np.mean(terms))


def random_out(n, k, p, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {name: torch.randn(n, k, p, generator=g)
            for name in ("video_target", "audio_target", "video_pred", "audio_pred")}


def test_avc_matches_loop_reference():
    g = torch.Generator().manual_seed(1)
    v, a = torch.randn(7, 16, generator=g), torch.randn(7, 16, generator=g)
    for tau in (TAU, 0.5):
        loss, _ = avc_loss(v, a, tau)
        assert loss.item() == pytest.approx(avc_reference(v, a, tau), rel=1e-5)


@pytest.mark.parametrize("negatives", ["all", "same-index"])
def test_avsa_matches_loop_reference(negatives):
    out = random_out(5, 4, 12, seed=2)
    loss, _ = avsa_loss(out, TAU, negatives)
    assert loss.item() == pytest.approx(avsa_reference(out, TAU, negatives), rel=1e-5)


def test_avc_minimum_closed_form_when_embeddings_match():
    """Orthonormal, matched embeddings: every row is log(1 + (n - 1) e^{-1/τ}), and any
    perturbation of the predictions increases the loss."""
    n, tau = 6, 0.5  # a larger τ keeps the float32 loss far from 0
    e = torch.eye(n, 10)
    loss, acc = avc_loss(e, e, tau)
    assert loss.item() == pytest.approx(math.log(1 + (n - 1) * math.exp(-1 / tau)), rel=1e-5)
    assert acc.item() == 1.0
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        worse, _ = avc_loss(e + 0.3 * torch.randn(n, 10, generator=g), e, tau)
        assert worse.item() > loss.item()


def test_avc_chance_when_embeddings_unrelated():
    """Identical embeddings for every clip: the loss is log(n), uniform over candidates."""
    v = torch.ones(8, 4)
    loss, _ = avc_loss(v, v, TAU)
    assert loss.item() == pytest.approx(math.log(8), rel=1e-6)


@pytest.mark.parametrize("negatives,extra", [("all", lambda n, k: n * k - 1),
                                             ("same-index", lambda n, k: n + k - 2)])
def test_avsa_minimum_closed_form(negatives, extra):
    n, k, tau = 3, 4, 0.5
    e = torch.eye(n * k).reshape(n, k, n * k)
    out = {name: e for name in ("video_target", "audio_target", "video_pred", "audio_pred")}
    loss, acc = avsa_loss(out, tau, negatives)
    assert loss.item() == pytest.approx(math.log(1 + extra(n, k) * math.exp(-1 / tau)), rel=1e-5)
    assert acc.item() == 1.0


def test_candidate_counts():
    """[17]: 28 clips x 4 crops -> 31-way softmax (4 crops of the clip + 27 same-index);
    Eq. 2 as written: 112-way."""
    same = avsa_candidate_mask(28, 4, "same-index")
    assert same.shape == (112, 112)
    assert (same.sum(1) == 31).all()
    assert (avsa_candidate_mask(28, 4, "all").sum(1) == 112).all()
    # query (clip 2, crop 1): its own clip's 4 crops and crop 1 of every other clip
    row = same[2 * 4 + 1].reshape(28, 4)
    assert row[2].all() and row[:, 1].all() and row.sum() == 31
    with pytest.raises(ValueError, match="negatives"):
        avsa_candidate_mask(2, 4, "some")


def _orthonormal(n, dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, n, generator=g))
    return q.T  # (n, dim), orthonormal rows


@pytest.mark.parametrize("negatives", ["all", "same-index"])
def test_avsa_hard_negatives_are_within_clip_crops(negatives):
    """A: the 4 crops of each clip are indistinguishable (3 same-clip confusers per query),
    clips are distinct. B: every crop is distinct within its clip, but crop k of clip i equals
    crop k of one other clip (1 cross-clip confuser). Eq. 2 counts same-clip crops as negatives,
    so A costs more; an AVC-style loss without spatial negatives would score A as perfect."""
    n, k = 4, 4
    basis = _orthonormal(n * k, 32)
    same_clip = basis[:n].repeat_interleave(k, 0).reshape(n, k, 32)
    partner = torch.arange(n * k).reshape(n, k)
    partner = partner.reshape(n // 2, 2, k)[:, :1].repeat(1, 2, 1).reshape(n, k)
    cross_clip = basis[partner]
    loss_a, _ = avsa_loss({m: same_clip for m in ("video_target", "audio_target",
                                                   "video_pred", "audio_pred")}, TAU, negatives)
    loss_b, _ = avsa_loss({m: cross_clip for m in ("video_target", "audio_target",
                                                    "video_pred", "audio_pred")}, TAU, negatives)
    assert loss_a.item() > loss_b.item()
    # closed forms: A has 3 candidates tied with the positive, B has 1
    rest_a = (n - 1) * k if negatives == "all" else n - 1
    rest_b = n * k - 2 if negatives == "all" else (k - 1) + (n - 2)
    assert loss_a.item() == pytest.approx(math.log(k + rest_a * math.exp(-1 / TAU)), rel=1e-5)
    assert loss_b.item() == pytest.approx(math.log(2 + rest_b * math.exp(-1 / TAU)), rel=1e-5)


def test_losses_are_symmetric_in_direction():
    g = torch.Generator().manual_seed(3)
    v, a = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    assert avc_loss(v, a)[0].item() == pytest.approx(avc_loss(a, v)[0].item(), rel=1e-6)


def test_avc_shape_error():
    with pytest.raises(ValueError, match=r"\(N, P\)"):
        avc_loss(torch.zeros(4, 8), torch.zeros(4, 6))


def test_gradients_pull_positives_together():
    """One gradient step on the predictions raises the positive pairs' similarity."""
    out = random_out(4, 4, 8, seed=4)
    pred = out["audio_pred"].clone().requires_grad_(True)
    loss, _ = avsa_loss({**out, "audio_pred": pred}, TAU)
    loss.backward()
    before = torch.cosine_similarity(pred, out["audio_target"], -1).mean()
    after = torch.cosine_similarity(pred - 0.5 * pred.grad, out["audio_target"], -1).mean()
    assert after > before


# ------------------------------------------------------------ gathered negatives (DDP)

GATHER_SCRIPT = r"""
import sys
import torch
from avsa_learn import distributed as D
from avsa_learn.losses import avc_loss, avsa_loss

out = sys.argv[1]
ctx = D.setup("cpu", threads=1)
torch.manual_seed(0)
net = torch.nn.Linear(6, 5)
ddp = torch.nn.parallel.DistributedDataParallel(net)
g = torch.Generator().manual_seed(1)
x_avc, y_avc = torch.randn(7, 6, generator=g), torch.randn(7, 6, generator=g)
x_avsa, y_avsa = torch.randn(5, 4, 6, generator=g), torch.randn(5, 4, 6, generator=g)
# unequal local batches (as when a clip fails to decode): rank 0 takes 4 / 3, rank 1 3 / 2
cut_avc, cut_avsa = (slice(0, 4), slice(4, 7)), (slice(0, 3), slice(3, 5))
res = {}
for name in ("avc", "avsa"):
    net.zero_grad()
    if name == "avc":
        s = cut_avc[ctx.rank]
        v, a = (D.gather_with_local_grad(ddp(t[s]), ctx) for t in (x_avc, y_avc))
        loss, acc = avc_loss(v, a)
    else:
        s = cut_avsa[ctx.rank]
        v, a = ddp(x_avsa[s]), ddp(y_avsa[s])
        o = {"video_target": v, "audio_target": a, "video_pred": 2 * a, "audio_pred": v ** 2}
        o = {k: D.gather_with_local_grad(t, ctx) for k, t in o.items()}
        loss, acc = avsa_loss(o, negatives="same-index")
    (loss * ctx.world_size).backward()
    res[name] = {"loss": loss.item(), "acc": acc.item(),
                 "grad": [p.grad.clone() for p in net.parameters()]}
torch.save(res, f"{out}/rank{ctx.rank}.pt")
D.cleanup(ctx)
"""


def test_gathered_negatives_equal_the_one_process_loss_on_the_whole_batch(tmp_path):
    """2 gloo processes with gather_with_local_grad + DDP: the loss value and the averaged
    gradients equal one process computing the loss on the concatenated batch."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from test_distributed import _free_port

    script = tmp_path / "gather.py"
    script.write_text(GATHER_SCRIPT)
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(repo))
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                        "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script),
                        str(tmp_path)], env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]

    torch.manual_seed(0)
    net = torch.nn.Linear(6, 5)
    g = torch.Generator().manual_seed(1)
    x_avc, y_avc = torch.randn(7, 6, generator=g), torch.randn(7, 6, generator=g)
    x_avsa, y_avsa = torch.randn(5, 4, 6, generator=g), torch.randn(5, 4, 6, generator=g)
    for name in ("avc", "avsa"):
        net.zero_grad()
        if name == "avc":
            loss, acc = avc_loss(net(x_avc), net(y_avc))
        else:
            v, a = net(x_avsa), net(y_avsa)
            loss, acc = avsa_loss({"video_target": v, "audio_target": a, "video_pred": 2 * a,
                                   "audio_pred": v ** 2}, negatives="same-index")
        loss.backward()
        for r in ranks:
            assert r[name]["loss"] == pytest.approx(loss.item(), rel=1e-5)
            assert r[name]["acc"] == pytest.approx(acc.item())
            for got, want in zip(r[name]["grad"], net.parameters()):
                torch.testing.assert_close(got, want.grad, rtol=1e-4, atol=1e-6)
    # without the gather each process would see only its own 3-4 clips: a different loss
    local, _ = avc_loss(net(x_avc[:4]), net(y_avc[:4]))
    assert abs(local.item() - ranks[0]["avc"]["loss"]) > 1e-3
