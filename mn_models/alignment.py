"""Mirror-neuron alignment: map recognizer features u and policy features e into one space Z.

``T_u`` and ``T_e`` (linear layers, as in the paper, or small MLPs) project u (B, dim_u) and
e (B, dim_e) to Z = R^dim_z; a bidirectional InfoNCE on cosine similarity / tau (paper Eq. 2,
tau = 0.1) pulls together every (u_i, e_j) whose pair ids match. The pair ids encode the
positive-pair strategy (:func:`pair_ids`): same episode, same instruction (paper default) or
same task. ``recall_at_1`` is the paper's alignment score (mean bidirectional Recall@1).

Usage (probing, U and E frozen)::

    align = MirrorAlignment(dim_u=512, dim_e=128)
    ids = pair_ids("instruction", episode_ids, instruction_ids, task_ids)
    loss, logs = align(u, e, ids)
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from mn_models.losses import (POSITIVE_MODES, as_id_tensor, bidirectional_contrastive_loss,
                              infonce_mi_lower_bound)

STRATEGIES = ("episode", "instruction", "task")
HEADS = ("linear", "mlp")


def pair_ids(strategy: str, episode_ids=None, instruction_ids=None,
             task_ids=None) -> torch.Tensor:
    """Pair ids (B,) for a positive-pair strategy: samples with equal ids are positives.

    Args:
        strategy: "episode" (same trajectory), "instruction" (same instruction string, any
            episode; the paper's default) or "task" (same task class).
        episode_ids: ids unique per episode across the whole dataset (an episode index
            repeats across tasks, so pass e.g. (task, episode) tuples or global indices).
        instruction_ids: instruction strings or ids.
        task_ids: task names or ids.
    Only the ids the strategy needs must be given. Ints are kept; other labels are hashed
    the same way in every process, so ids agree across ranks.
    """
    chosen = {"episode": episode_ids, "instruction": instruction_ids, "task": task_ids}
    if strategy not in chosen:
        raise ValueError(f"unknown positive-pair strategy {strategy!r}; choose one of "
                         f"{STRATEGIES}")
    if chosen[strategy] is None:
        raise ValueError(f"strategy {strategy!r} needs {strategy}_ids")
    return as_id_tensor(chosen[strategy])


def _head(dim_in: int, dim_out: int, kind: str) -> nn.Module:
    if kind == "linear":
        return nn.Linear(dim_in, dim_out)
    return nn.Sequential(nn.Linear(dim_in, dim_out), nn.GELU(), nn.Linear(dim_out, dim_out))


class MirrorAlignment(nn.Module):
    """Two projections T_u, T_e into a shared space and the bidirectional InfoNCE between them.

    Args:
        dim_u: size of the recognizer feature u (video encoder output).
        dim_e: size of the policy feature e (last block of the policy network).
        dim_z: size of the shared space Z (paper: 1024).
        tau: temperature of the cosine similarities (paper: 0.1).
        head: "linear" (paper) or "mlp" (Linear-GELU-Linear).
        positives: "soft" or "lse" handling of several positives per row (see losses.py).
        gather: use the global batch as negatives under torch.distributed.
    """

    def __init__(self, dim_u: int, dim_e: int, dim_z: int = 1024, tau: float = 0.1,
                 head: str = "linear", positives: str = "soft", gather: bool = True):
        super().__init__()
        for name, v in (("dim_u", dim_u), ("dim_e", dim_e), ("dim_z", dim_z)):
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if positives not in POSITIVE_MODES:
            raise ValueError(f"positives must be one of {POSITIVE_MODES}, got {positives!r}")
        self.dim_u, self.dim_e, self.dim_z = dim_u, dim_e, dim_z
        self.tau, self.head, self.positives, self.gather = float(tau), head, positives, gather
        self.T_u = _head(dim_u, dim_z, head)
        self.T_e = _head(dim_e, dim_z, head)

    def config(self) -> dict:
        """Constructor arguments (saved with checkpoints)."""
        return dict(dim_u=self.dim_u, dim_e=self.dim_e, dim_z=self.dim_z, tau=self.tau,
                    head=self.head, positives=self.positives, gather=self.gather)

    def project(self, u: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_u, z_e), each (B, dim_z), L2-normalized."""
        self._check(u, e)
        return F.normalize(self.T_u(u), dim=-1), F.normalize(self.T_e(e), dim=-1)

    def _check(self, u: torch.Tensor, e: torch.Tensor) -> None:
        if u.ndim != 2 or u.shape[1] != self.dim_u:
            raise ValueError(f"u must be (B, {self.dim_u}), got {tuple(u.shape)}")
        if e.ndim != 2 or e.shape[1] != self.dim_e:
            raise ValueError(f"e must be (B, {self.dim_e}), got {tuple(e.shape)}")
        if u.shape[0] != e.shape[0]:
            raise ValueError(f"u and e are paired row by row but have {u.shape[0]} and "
                             f"{e.shape[0]} rows")

    def forward(self, u: torch.Tensor, e: torch.Tensor,
                pair_ids) -> tuple[torch.Tensor, dict[str, float]]:
        """Alignment loss and logs for paired features.

        Args:
            u: (B, dim_u) recognizer features; e: (B, dim_e) policy features, row i of each
                coming from the same sample.
            pair_ids: (B,) ids; (u_i, e_j) is a positive pair when pair_ids[i] == pair_ids[j].
        Returns:
            loss (scalar, mean of both directions) and logs: align/loss, align/loss_u2e,
            align/loss_e2u, align/mi_lb_u2e and align/mi_lb_e2u (log B - L, nats),
            align/recall_u2e and align/recall_e2u (in-batch Recall@1), align/batch (B global).
        """
        z_u, z_e = self.project(u, e)
        ids = as_id_tensor(pair_ids).to(u.device)
        out = bidirectional_contrastive_loss(z_u, z_e, ids, self.tau,
                                             positives=self.positives, gather=self.gather)
        logs = {
            "align/loss": float(out.loss.detach()),
            "align/loss_u2e": float(out.loss_ab.detach()),
            "align/loss_e2u": float(out.loss_ba.detach()),
            "align/mi_lb_u2e": infonce_mi_lower_bound(out.loss_ab.detach(), out.num_keys),
            "align/mi_lb_e2u": infonce_mi_lower_bound(out.loss_ba.detach(), out.num_keys),
            "align/recall_u2e": float(out.recall_ab),
            "align/recall_e2u": float(out.recall_ba),
            "align/batch": float(out.num_keys),
        }
        return out.loss, logs


@torch.no_grad()
def retrieval_hits(z_u: torch.Tensor, z_e: torch.Tensor,
                   pair_ids) -> tuple[torch.Tensor, torch.Tensor]:
    """Per item, whether its nearest neighbour (by cosine similarity) on the other side carries
    the same pair id: ((N,) u->e hits, (N,) e->u hits) as floats."""
    if z_u.ndim != 2 or z_u.shape != z_e.shape:
        raise ValueError(f"expected two (N, D) tensors of one shape, got {tuple(z_u.shape)} "
                         f"and {tuple(z_e.shape)}")
    ids = as_id_tensor(pair_ids).to(z_u.device)
    if ids.shape[0] != z_u.shape[0]:
        raise ValueError(f"{ids.shape[0]} pair ids for {z_u.shape[0]} items")
    sim = F.normalize(z_u.float(), dim=-1) @ F.normalize(z_e.float(), dim=-1).T  # (N, N)
    return (ids[sim.argmax(dim=1)] == ids).float(), (ids[sim.argmax(dim=0)] == ids).float()


def recall_at_1_directions(z_u: torch.Tensor, z_e: torch.Tensor,
                           pair_ids) -> tuple[float, float]:
    """(Recall@1 u->e, Recall@1 e->u): nearest neighbour by cosine similarity; a retrieval is
    correct when the retrieved item's pair id equals the query's."""
    u2e, e2u = retrieval_hits(z_u, z_e, pair_ids)
    return u2e.mean().item(), e2u.mean().item()


def recall_at_1(z_u: torch.Tensor, z_e: torch.Tensor, pair_ids) -> float:
    """Mean bidirectional Recall@1, the paper's alignment score (in [0, 1])."""
    u2e, e2u = recall_at_1_directions(z_u, z_e, pair_ids)
    return (u2e + e2u) / 2


def id_shares(pair_ids: Sequence | torch.Tensor) -> torch.Tensor:
    """Per item, the share of all items carrying its pair id: a random retrieval's chance of
    a hit for that query."""
    ids = as_id_tensor(pair_ids)
    _, inverse, counts = torch.unique(ids, return_inverse=True, return_counts=True)
    return counts[inverse].float() / ids.numel()


def chance_recall_at_1(pair_ids: Sequence | torch.Tensor) -> float:
    """Expected Recall@1 of a random retrieval: mean over items of the share of items
    carrying the same pair id (1/N for unique ids)."""
    return id_shares(pair_ids).mean().item()
