"""Single-process and torchrun (DDP) runs: process group, device, data order, DDP wrapping.

Run one process per device with ``torchrun`` (it sets RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE, MASTER_ADDR/PORT, also across nodes); :func:`setup` reads them and joins the
group with the ``gloo`` backend on CPU and ``nccl`` on CUDA. Batch sizes in the config are per
process; gradients are averaged over processes (DDP), so the effective batch is
world_size × batch. Only rank 0 logs and writes checkpoints. Each process contrasts its own
batch unless the loss gathers the others' embeddings (:func:`gather_with_local_grad`).

:class:`ClipSampler` is a ``DistributedSampler`` whose epoch order (a function of seed and epoch
only, see ``set_epoch``) puts clips of one video into different batches where it can — two clips
of a video in a batch would be false negatives for the contrastive loss — and that can start
mid-epoch (``start_batch``) for an exact resume. It yields ``(epoch, index)`` pairs that
:class:`EpochDataset` turns into ``dataset.set_epoch(epoch); dataset[index]``, so persistent
DataLoader workers (and their frame caches) survive epochs.

Example::

    >>> ctx = setup("cpu")                  # no torchrun variables: rank 0 of 1
    >>> ctx.rank, ctx.world_size, ctx.is_main
    (0, 1, True)
"""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler


@dataclass
class DistContext:
    """Where this process stands: rank/world size (1 process: 0/1) and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.world_size > 1


def pick_device(pref="auto", local_rank=0):
    """torch.device for ``runtime.device`` (auto: cuda:local_rank when available, else cpu)."""
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    if pref == "cuda":
        pref = f"cuda:{local_rank}"
    device = torch.device(pref)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"runtime.device={pref!r} but CUDA is not available")
        torch.cuda.set_device(device)
    return device


def setup(device="auto", threads=0):
    """Detect torchrun variables, pick the device, join the process group (gloo on CPU, nccl on
    CUDA) and set torch's CPU threads (``threads`` 0: cores / local processes)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    dev = pick_device(device, local_rank)
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // max(1, local_world)))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank,
                                world_size=world)
    return DistContext(rank, world, local_rank, dev)


def cleanup(ctx):
    """Leave the process group (no-op for a single process)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx):
    if ctx.distributed:
        dist.barrier()


def wrap(module, ctx):
    """``DistributedDataParallel(module)`` under torchrun, else ``module`` itself."""
    if not ctx.distributed:
        return module
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def all_mean(values, ctx):
    """Average a list of floats over processes (returns them unchanged for one process)."""
    if not ctx.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return (t / ctx.world_size).tolist()


def all_true(flag, ctx):
    """True when ``flag`` holds on every process."""
    if not ctx.distributed:
        return bool(flag)
    t = torch.tensor([0.0 if flag else 1.0], device=ctx.device)
    dist.all_reduce(t)
    return t.item() == 0


def gather_with_local_grad(x, ctx):
    """Concatenate ``x`` (N_r, ...) of every process in rank order → (sum N_r, ...), the same on
    every rank; gradients flow into this process's own slice only (the others are copies).
    Batches may differ in size (clips skipped as undecodable). One process: ``x`` itself.

    Under DDP (gradients averaged over processes), backpropagating ``world_size × loss`` of a
    loss computed on the gathered tensors gives every process the gradient of the one-process
    loss on the concatenated batch."""
    if not ctx.distributed:
        return x
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(ctx.world_size)]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    pad = max(sizes) - x.shape[0]
    local = x.detach()
    if pad:
        local = torch.cat([local, local.new_zeros((pad, *x.shape[1:]))])
    parts = [torch.empty_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(parts, local.contiguous())
    parts = [p[:s] for p, s in zip(parts, sizes)]
    parts[ctx.rank] = x
    return torch.cat(parts)


def sync_buffers(module, ctx):
    """Copy rank 0's buffers (BatchNorm running statistics) to every process, so all ranks hold
    identical state (DDP only syncs them at the next forward)."""
    if ctx.distributed:
        for b in module.buffers():
            dist.broadcast(b.data, 0)


class ClipSampler(DistributedSampler):
    """Epoch order of clip indices, split over processes, as ``(epoch, index)`` pairs.

    Global batches of ``batch_size * num_replicas`` clips are built greedily (first fit) from a
    permutation seeded by ``seed + epoch`` so that no two clips of one video share a global batch
    when possible; process r takes slice ``[r*B, (r+1)*B)`` of each. Incomplete batches are
    dropped; ``max_batches`` > 0 keeps only the first ones. ``start_batch`` skips the first local
    batches (resume); ``len()`` counts items. ``clips_per_video`` > 0: the epoch holds only that
    many clips of each video (the first ones of the permutation, so a random subset drawn anew
    each epoch), as [17] defines an epoch (2 clips per video).
    """

    def __init__(self, video_ids, batch_size, num_replicas=1, rank=0, seed=0, max_batches=0,
                 clips_per_video=0):
        super().__init__(range(len(video_ids)), num_replicas=num_replicas, rank=rank,
                         shuffle=True, seed=seed, drop_last=True)
        self.video_ids = list(video_ids)
        self.batch_size = int(batch_size)
        self.max_batches = int(max_batches)
        self.clips_per_video = int(clips_per_video)
        self.start_batch = 0
        self._cache = (None, None)

    def global_batches(self):
        """Lists of clip indices, each one global batch, for the current epoch."""
        if self._cache[0] == (self.seed, self.epoch):
            return self._cache[1]
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        size = self.batch_size * self.num_replicas
        open_batches, done = [], []
        order = torch.randperm(len(self.video_ids), generator=g).tolist()
        if self.clips_per_video:
            taken = {}
            for i in order:
                taken.setdefault(self.video_ids[i], []).append(i)
            keep = {i for clips in taken.values() for i in clips[:self.clips_per_video]}
            order = [i for i in order if i in keep]
        for i in order:
            vid = self.video_ids[i]
            for b in open_batches:
                if vid not in b[1]:
                    break
            else:
                b = ([], set())
                open_batches.append(b)
            b[0].append(i)
            b[1].add(vid)
            if len(b[0]) == size:
                open_batches.remove(b)
                done.append(b[0])
        if self.max_batches:
            done = done[:self.max_batches]
        self._cache = ((self.seed, self.epoch), done)
        return done

    def batches_per_epoch(self):
        return len(self.global_batches())

    def __iter__(self):
        r, bs = self.rank, self.batch_size
        for batch in self.global_batches()[self.start_batch:]:
            for i in batch[r * bs:(r + 1) * bs]:
                yield self.epoch, i

    def __len__(self):
        return max(0, self.batches_per_epoch() - self.start_batch) * self.batch_size


class EpochDataset(Dataset):
    """Wraps a dataset with ``set_epoch``: item ``(epoch, i)`` is ``dataset[i]`` at ``epoch``."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, i = key
        if self.dataset.epoch != epoch:
            self.dataset.set_epoch(epoch)
        return self.dataset[i]
