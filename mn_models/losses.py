"""Contrastive losses shared by the recognizer (video-text) and the mirror alignment (u-e).

Both use the same bidirectional InfoNCE on L2-normalized embeddings divided by a temperature,
where every pair of samples sharing an id counts as positive (ViCLIP: same caption; mirror
alignment: same episode / instruction / task). Two ways to score several positives:

- ``"soft"`` (ViCLIP's choice): the target distribution is uniform over the positives,
  loss_i = -sum_{j in P(i)} log softmax(s_i)_j / |P(i)|. Its minimum is log |P(i)|.
- ``"lse"``: loss_i = -log sum_{j in P(i)} softmax(s_i)_j (all positives' probability mass).
  Its minimum is 0.
With one positive per row both are the paper's Eq. (2).

Under an initialized ``torch.distributed`` group the candidates (keys) come from the global
batch: :func:`all_gather_with_grad` gathers them and sends gradients back to the rank that
owns them. Each rank scores its own rows (queries) against all keys; with DDP's gradient
averaging this gives exactly the gradient of the loss averaged over all ranks' rows, i.e. of
the single-process loss on the concatenated batch (equal local batch sizes).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

POSITIVE_MODES = ("soft", "lse")


def dist_world() -> tuple[int, int]:
    """(world_size, rank) of the default process group, (1, 0) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _gather_padded(x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """all_gather along dim 0, allowing a different number of rows per rank."""
    world, _ = dist_world()
    n = torch.tensor([x.shape[0]], device=x.device, dtype=torch.long)
    sizes_t = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes_t, n)
    sizes = [int(s.item()) for s in sizes_t]
    padded = x.new_zeros((max(sizes), *x.shape[1:]))
    padded[: x.shape[0]] = x
    bufs = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(bufs, padded.contiguous())
    return torch.cat([b[:k] for b, k in zip(bufs, sizes)], dim=0), sizes


class _AllGatherWithGrad(torch.autograd.Function):
    """Forward: concatenate every rank's rows. Backward: sum the gradient over ranks
    (each rank's loss used every row) and return this rank's slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out, sizes = _gather_padded(x.detach())
        _, rank = dist_world()
        ctx.start, ctx.count = sum(sizes[:rank]), sizes[rank]
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # gloo has no reduce_scatter
        return grad[ctx.start: ctx.start + ctx.count]


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` from all ranks (sum_r B_r, ...), differentiable; ``x`` if not distributed."""
    if dist_world()[0] == 1:
        return x
    return _AllGatherWithGrad.apply(x)


@torch.no_grad()
def all_gather_nograd(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` from all ranks (ids, labels); ``x`` when not distributed."""
    if dist_world()[0] == 1:
        return x
    return _gather_padded(x)[0]


def _stable_id(value) -> int:
    """A 63-bit id that is the same in every process (unlike hash() of a str)."""
    digest = hashlib.blake2b(repr(value).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def as_id_tensor(values) -> torch.Tensor:
    """Integer ids (B,) int64 from ints (kept as they are) or any hashable labels (strings,
    tuples such as (task, episode)), which get process-independent hashed ids."""
    if isinstance(values, torch.Tensor):
        if values.is_floating_point() or values.is_complex():
            raise TypeError(f"ids must be integers or labels, got a {values.dtype} tensor")
        return values.reshape(-1).long()
    if isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.integer):
        return torch.from_numpy(values.reshape(-1).astype(np.int64))
    values = list(values)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return torch.tensor([int(v) for v in values], dtype=torch.long)
    return torch.tensor([_stable_id(v) for v in values], dtype=torch.long)


def multi_positive_nce(logits: torch.Tensor, positives: torch.Tensor,
                       mode: str = "soft") -> torch.Tensor:
    """Per-row InfoNCE with several positives.

    Args:
        logits: (N, M) similarities already divided by the temperature.
        positives: (N, M) bool, True where column j is a positive for row i; every row needs
            at least one.
        mode: "soft" or "lse" (see the module docstring).
    Returns:
        (N,) loss per row.
    """
    if mode not in POSITIVE_MODES:
        raise ValueError(f"mode must be one of {POSITIVE_MODES}, got {mode!r}")
    if logits.shape != positives.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and positives "
                         f"{tuple(positives.shape)} differ in shape")
    n_pos = positives.sum(dim=1)
    if bool((n_pos == 0).any()):
        raise ValueError("a row has no positive: every query needs a key with its pair id")
    log_prob = logits.float().log_softmax(dim=1)  # (N, M)
    if mode == "soft":
        return -(log_prob * positives).sum(dim=1) / n_pos
    return -log_prob.masked_fill(~positives, float("-inf")).logsumexp(dim=1)


@dataclass
class ContrastiveOutput:
    """Result of :func:`bidirectional_contrastive_loss` (all tensors; loss is differentiable)."""

    loss: torch.Tensor       # mean of the two directions
    loss_ab: torch.Tensor    # rows of a query keys of b
    loss_ba: torch.Tensor    # rows of b query keys of a
    recall_ab: torch.Tensor  # in-batch Recall@1 of a -> b (the top key shares the id)
    recall_ba: torch.Tensor
    num_keys: int            # global batch size (candidates per query)


def bidirectional_contrastive_loss(a: torch.Tensor, b: torch.Tensor, ids: torch.Tensor,
                                   temperature: float | torch.Tensor, *,
                                   positives: str = "soft",
                                   gather: bool = True) -> ContrastiveOutput:
    """Symmetric InfoNCE between paired rows of ``a`` (B, Da) and ``b`` (B, Db), Da == Db.

    Rows are L2-normalized; similarities are cosines / ``temperature``. Rows i and j are a
    positive pair when ``ids[i] == ids[j]`` (so the diagonal always is). With ``gather`` and an
    initialized process group, keys come from every rank (gradients included).
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"expected two (B, D) tensors of the same shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    ids = as_id_tensor(ids).to(a.device)
    if ids.shape[0] != a.shape[0]:
        raise ValueError(f"{ids.shape[0]} ids for a batch of {a.shape[0]}")
    a = F.normalize(a.float(), dim=-1)
    b = F.normalize(b.float(), dim=-1)
    if gather and dist_world()[0] > 1:
        a_all, b_all = all_gather_with_grad(a), all_gather_with_grad(b)
        ids_all = all_gather_nograd(ids)
    else:
        a_all, b_all, ids_all = a, b, ids
    pos = ids[:, None] == ids_all[None, :]          # (B, N)
    logits_ab = a @ b_all.T / temperature           # (B, N)
    logits_ba = b @ a_all.T / temperature           # (B, N)
    loss_ab = multi_positive_nce(logits_ab, pos, positives).mean()
    loss_ba = multi_positive_nce(logits_ba, pos, positives).mean()
    with torch.no_grad():
        recall_ab = (ids_all[logits_ab.argmax(dim=1)] == ids).float().mean()
        recall_ba = (ids_all[logits_ba.argmax(dim=1)] == ids).float().mean()
    return ContrastiveOutput(loss=(loss_ab + loss_ba) / 2, loss_ab=loss_ab, loss_ba=loss_ba,
                             recall_ab=recall_ab, recall_ba=recall_ba,
                             num_keys=int(ids_all.shape[0]))


def infonce_mi_lower_bound(loss: float | torch.Tensor, num_keys: int) -> float:
    """I(u; e) >= log(B) - L for one direction's InfoNCE loss L over B candidates (nats)."""
    return math.log(num_keys) - float(loss)
