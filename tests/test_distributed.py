"""Data order (ClipSampler) and a 2-process CPU DDP run under torchrun."""
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from avsa_learn.distributed import ClipSampler, DistContext, EpochDataset, all_mean, setup

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def videos(n, per_video):
    return [f"v{i // per_video}" for i in range(n)]


def test_batches_hold_distinct_videos_and_cover_each_clip_once():
    vids = videos(48, 4)  # 12 videos
    s = ClipSampler(vids, batch_size=5, num_replicas=2, rank=0, seed=3)
    batches = s.global_batches()
    assert all(len(b) == 10 for b in batches)
    for b in batches:
        assert len({vids[i] for i in b}) == len(b)  # no video twice in a global batch
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))               # no clip twice in an epoch
    assert len(batches) >= 3                         # only the tail is dropped


def test_plain_permutation_would_mix_videos():
    """Why the sampler exists: a random permutation cut into batches puts clips of one video
    together (false negatives for InfoNCE)."""
    vids = videos(48, 4)
    g = torch.Generator().manual_seed(3)
    perm = torch.randperm(48, generator=g).tolist()
    dup = sum(max(Counter(vids[i] for i in perm[b:b + 10]).values()) > 1 for b in (0, 10, 20, 30))
    assert dup > 0


def test_order_depends_on_seed_and_epoch_only():
    vids = videos(30, 3)
    a = ClipSampler(vids, 4, seed=1)
    b = ClipSampler(vids, 4, seed=1)
    a.set_epoch(5)
    b.set_epoch(5)
    assert list(a) == list(b)
    b.set_epoch(6)
    assert list(a) != list(b)
    assert all(epoch == 5 for epoch, _ in a)


def test_ranks_partition_each_global_batch():
    vids = videos(40, 2)
    r0 = ClipSampler(vids, 3, num_replicas=2, rank=0, seed=0)
    r1 = ClipSampler(vids, 3, num_replicas=2, rank=1, seed=0)
    i0, i1 = [i for _, i in r0], [i for _, i in r1]
    assert len(i0) == len(i1) == len(r0) == r0.batches_per_epoch() * 3
    assert not set(i0) & set(i1)
    for b, batch in enumerate(r0.global_batches()):
        assert set(i0[3 * b:3 * b + 3]) | set(i1[3 * b:3 * b + 3]) == set(batch)


def test_start_batch_resumes_mid_epoch_and_max_batches_caps():
    vids = videos(40, 1)
    s = ClipSampler(vids, 4, seed=2)
    s.set_epoch(1)
    full = list(s)
    s.start_batch = 3
    assert list(s) == full[12:] and len(s) == len(full) - 12
    capped = ClipSampler(vids, 4, seed=2, max_batches=2)
    capped.set_epoch(1)
    assert list(capped) == full[:8]


def test_clips_per_video_epochs_as_the_reference():
    vids = videos(60, 5)                                # 12 videos of 5 clips
    s = ClipSampler(vids, 4, clips_per_video=2, seed=3)
    seen = []
    for epoch in range(3):
        s.set_epoch(epoch)
        batches = s.global_batches()
        clips = [i for b in batches for i in b]
        # 2 clips of each of 12 videos = 24, less an incomplete last batch
        assert 20 <= len(clips) == len(set(clips)) <= 24 and len(clips) % 4 == 0
        assert max(Counter(vids[i] for i in clips).values()) == 2
        assert all(len({vids[i] for i in b}) == len(b) for b in batches)
        seen.append(frozenset(clips))
    assert len(set(seen)) == 3                           # other clips each epoch
    s.set_epoch(1)
    assert frozenset(i for b in s.global_batches() for i in b) == seen[1]   # seeded
    few = ClipSampler(videos(6, 1), 2, clips_per_video=2)   # 1 clip per video: all of them
    assert few.batches_per_epoch() == 3


def test_epoch_dataset_sets_the_epoch():
    class DS:
        epoch = 0

        def set_epoch(self, e):
            self.epoch = e

        def __getitem__(self, i):
            return (self.epoch, i)

        def __len__(self):
            return 3

    w = EpochDataset(DS())
    assert w[(4, 2)] == (4, 2) and w[(0, 1)] == (0, 1) and len(w) == 3


def test_single_process_context():
    ctx = setup("cpu", threads=torch.get_num_threads())
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.distributed) == (0, 1, True, False)
    assert all_mean([1.0, 2.0], DistContext()) == [1.0, 2.0]


DDP_SCRIPT = """
import os, sys
sys.path.insert(0, {tests!r})
import torch
from test_trainer import tiny_config, fake_sets
from avsa_learn import distributed as D
from avsa_learn.trainer import Trainer
out = sys.argv[1]
ctx = D.setup("cpu", threads=1)
assert ctx.world_size == 2 and torch.distributed.get_backend() == "gloo"
cfg = tiny_config("schedule.avc_epochs=2", "schedule.avsa_epochs=1", "schedule.checkpoint_every=2")
# every rank gets its own folder: only rank 0's may receive checkpoints and logs
model = Trainer(cfg, fake_sets(cfg, n=24), os.path.join(out, f"rank{{ctx.rank}}"), ctx).fit()
torch.save(model.state_dict(), os.path.join(out, f"state{{ctx.rank}}.pt"))
D.cleanup(ctx)
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_on_cpu(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(TESTS)))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script), str(tmp_path)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-4000:]
    s0 = torch.load(tmp_path / "state0.pt")
    s1 = torch.load(tmp_path / "state1.pt")
    for k in s0:  # parameters and BatchNorm statistics alike
        assert torch.equal(s0[k], s1[k]), k
    assert (tmp_path / "rank0" / "last.pt").exists()
    assert (tmp_path / "rank0" / "metrics.csv").exists()
    assert not (tmp_path / "rank1").exists() or not any((tmp_path / "rank1").iterdir())
    ckpt = torch.load(tmp_path / "rank0" / "last.pt", weights_only=False)
    assert ckpt["world_size"] == 2 and ckpt["progress"]["stage"] == 2
    for k in s0:
        assert torch.equal(ckpt["model"][k], s0[k]), k
    # steps = global batches of the data order: 2 AVC epochs of 4 x 2 clips, 1 AVSA of 2 x 2
    steps = 0
    for epoch, batch in ((0, 4), (1, 4), (2, 2)):
        s = ClipSampler(videos(24, 2), batch, num_replicas=2, seed=0)
        s.set_epoch(epoch)
        steps += s.batches_per_epoch()
    assert ckpt["progress"]["step"] == steps >= 2 * 2 + 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_context_picks_nccl_device():
    ctx = setup("cuda")
    assert ctx.device.type == "cuda"
