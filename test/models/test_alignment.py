"""Mirror alignment: loss values by hand, positives, training on synthetic u/e, recall, DDP."""
import math
import os
import socket
import tempfile

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

from mn_models.alignment import (MirrorAlignment, as_id_tensor, chance_recall_at_1, pair_ids,
                                 recall_at_1, recall_at_1_directions)
from mn_models.losses import bidirectional_contrastive_loss, multi_positive_nce


# ----- the loss against hand computation ------------------------------------------------------
def _hand_infonce(zu, ze, ids, tau, mode):
    """Both directions written out with math.exp, row by row."""
    zu = [np.asarray(v, float) / np.linalg.norm(v) for v in zu]
    ze = [np.asarray(v, float) / np.linalg.norm(v) for v in ze]
    n = len(zu)

    def direction(q, k):
        total = 0.0
        for i in range(n):
            logits = [float(q[i] @ k[j]) / tau for j in range(n)]
            denom = sum(math.exp(s) for s in logits)
            pos = [j for j in range(n) if ids[j] == ids[i]]
            if mode == "soft":
                total += -sum(math.log(math.exp(logits[j]) / denom) for j in pos) / len(pos)
            else:
                total += -math.log(sum(math.exp(logits[j]) for j in pos) / denom)
        return total / n

    return (direction(zu, ze) + direction(ze, zu)) / 2


ZU = [[1.0, 0.0, 0.5], [0.2, 1.0, 0.0], [0.0, 0.3, 1.0]]
ZE = [[0.9, 0.1, 0.4], [0.0, 1.0, 0.2], [0.5, 0.0, 1.0]]


@pytest.mark.parametrize("mode", ["soft", "lse"])
@pytest.mark.parametrize("ids", [[0, 1, 2], [7, 7, 3]])
def test_loss_matches_hand_computation(mode, ids):
    out = bidirectional_contrastive_loss(torch.tensor(ZU), torch.tensor(ZE), torch.tensor(ids),
                                         0.1, positives=mode)
    assert out.loss.item() == pytest.approx(_hand_infonce(ZU, ZE, ids, 0.1, mode), rel=1e-5)


def test_single_positive_is_paper_eq2_cross_entropy():
    """With unique ids both modes equal Eq. (2): mean of the two cross-entropies."""
    zu, ze = F.normalize(torch.tensor(ZU), dim=1), F.normalize(torch.tensor(ZE), dim=1)
    logits = zu @ ze.T / 0.1
    eq2 = (F.cross_entropy(logits, torch.arange(3)) + F.cross_entropy(logits.T, torch.arange(3)))
    for mode in ("soft", "lse"):
        out = bidirectional_contrastive_loss(torch.tensor(ZU), torch.tensor(ZE),
                                             torch.arange(3), 0.1, positives=mode)
        assert out.loss.item() == pytest.approx(eq2.item() / 2, rel=1e-5)


def test_multi_positive_logic():
    # Row 0 has positives at columns 0 and 1 (same id); soft = mean of their -log p,
    # lse = -log(p0 + p1); both differ from treating only the diagonal as positive.
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 1.0, 1.0]])
    pos = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    p = logits.softmax(dim=1)
    soft = multi_positive_nce(logits, pos, "soft")
    lse = multi_positive_nce(logits, pos, "lse")
    assert soft[0].item() == pytest.approx(-(p[0, 0].log() + p[0, 1].log()).item() / 2)
    assert lse[0].item() == pytest.approx(-(p[0, 0] + p[0, 1]).log().item())
    assert soft[2].item() == pytest.approx(math.log(3))
    # Perfectly separated groups: lse -> 0, soft -> log(group size).
    big = torch.tensor([[50.0, 50.0, 0.0], [50.0, 50.0, 0.0], [0.0, 0.0, 50.0]])
    assert multi_positive_nce(big, pos, "lse").max().item() < 1e-6
    assert multi_positive_nce(big, pos, "soft")[0].item() == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="no positive"):
        multi_positive_nce(logits, torch.zeros(3, 3, dtype=torch.bool))


def test_same_id_pairs_are_not_pushed_apart():
    """Two samples of one instruction: the gradient must not push u_0 away from e_1."""
    u = torch.tensor([[1.0, 0.0], [1.0, 0.1]], requires_grad=True)
    e = torch.tensor([[1.0, 0.05], [0.99, 0.0]])
    loss_same = bidirectional_contrastive_loss(u, e, torch.tensor([5, 5]), 0.1).loss
    loss_diff = bidirectional_contrastive_loss(u, e, torch.tensor([5, 6]), 0.1).loss
    assert loss_same.item() == pytest.approx(math.log(2), abs=0.05)  # soft floor log|P|
    assert loss_diff.item() > 0.3 and loss_same.item() != pytest.approx(loss_diff.item())


# ----- pair ids -------------------------------------------------------------------------------
def test_pair_id_strategies():
    episodes = [("open_drawer", 0), ("open_drawer", 1), ("open_drawer", 0), ("turn_tap", 0)]
    instructions = ["open the top drawer", "open the top drawer", "open the bottom drawer",
                    "turn left tap"]
    tasks = ["open_drawer", "open_drawer", "open_drawer", "turn_tap"]

    def groups(ids):
        ids = ids.tolist()
        return [[j for j in range(4) if ids[j] == ids[i]] for i in range(4)]

    by_episode = groups(pair_ids("episode", episodes, instructions, tasks))
    by_instruction = groups(pair_ids("instruction", episodes, instructions, tasks))
    by_task = groups(pair_ids("task", episodes, instructions, tasks))
    assert by_episode == [[0, 2], [1], [0, 2], [3]]
    assert by_instruction == [[0, 1], [0, 1], [2], [3]]
    assert by_task == [[0, 1, 2], [0, 1, 2], [0, 1, 2], [3]]
    assert pair_ids("task", task_ids=np.array([3, 3, 1])).tolist() == [3, 3, 1]
    # hashed labels are stable (same in every process): fixed by content, not by order
    assert as_id_tensor(["a", "b"])[0] == as_id_tensor(["b", "a"])[1]
    with pytest.raises(ValueError, match="unknown positive-pair strategy 'variation'"):
        pair_ids("variation", instruction_ids=[1])
    with pytest.raises(ValueError, match="needs task_ids"):
        pair_ids("task", instruction_ids=[1])
    with pytest.raises(TypeError, match="integers"):
        as_id_tensor(torch.tensor([0.5]))


# ----- recall ---------------------------------------------------------------------------------
def test_recall_at_1_counts_same_id_retrievals_as_correct():
    z_u = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    z_e = torch.tensor([[0.0, 1.0], [1.0, 0.0], [-1.0, 0.1]])  # items 0 and 1 swapped
    assert recall_at_1(z_u, z_e, [0, 1, 2]) == pytest.approx(1 / 3)
    assert recall_at_1(z_u, z_e, [4, 4, 2]) == 1.0  # 0 and 1 share an id: both correct
    assert recall_at_1_directions(z_u, z_e, [0, 1, 2]) == (pytest.approx(1 / 3),
                                                           pytest.approx(1 / 3))
    assert chance_recall_at_1([0, 1, 2, 3]) == 0.25
    assert chance_recall_at_1([1, 1, 2, 2]) == 0.5
    with pytest.raises(ValueError, match="pair ids"):
        recall_at_1(z_u, z_e, [0, 1])


# ----- training on synthetic correlated features ------------------------------------------------
def _synthetic(n, seed, dim_x=8, dim_u=48, dim_e=32, noise=0.3):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(dim_u, dim_x, generator=torch.Generator().manual_seed(100))
    B = torch.randn(dim_e, dim_x, generator=torch.Generator().manual_seed(101))
    x = torch.randn(n, dim_x, generator=g)
    u = x @ A.T + noise * torch.randn(n, dim_u, generator=g)
    e = x @ B.T + noise * torch.randn(n, dim_e, generator=g)
    return u, e


def _train(align, u, e, steps=200, batch=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(align.parameters(), lr=1e-3)
    ids = torch.arange(u.shape[0])
    losses = []
    for _ in range(steps):
        idx = torch.randperm(u.shape[0], generator=g)[:batch]
        loss, logs = align(u[idx], e[idx], ids[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, logs


def test_training_aligns_correlated_features_and_not_shuffled_ones():
    torch.manual_seed(0)
    u_tr, e_tr = _synthetic(1024, seed=1)
    u_te, e_te = _synthetic(256, seed=2)
    test_ids = torch.arange(256)
    align = MirrorAlignment(48, 32, dim_z=64, tau=0.1)
    with torch.no_grad():
        before = recall_at_1(*align.project(u_te, e_te), test_ids)
    losses, logs = _train(align, u_tr, e_tr)
    with torch.no_grad():
        after = recall_at_1(*align.project(u_te, e_te), test_ids)
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 1.0
    chance = chance_recall_at_1(test_ids)  # 1/256
    assert before < 0.1 and after > 0.5, (before, after)
    # logs carry the MI lower bound log(B) - L per direction
    assert logs["align/batch"] == 64
    assert logs["align/mi_lb_u2e"] == pytest.approx(math.log(64) - logs["align/loss_u2e"])
    assert logs["align/mi_lb_e2u"] > 1.0

    # Shuffled pairs carry no information: the held-out (also shuffled) recall stays ~chance.
    perm_tr, perm_te = torch.randperm(1024), torch.randperm(256)
    shuffled = MirrorAlignment(48, 32, dim_z=64, tau=0.1)
    _train(shuffled, u_tr, e_tr[perm_tr])
    with torch.no_grad():
        r = recall_at_1(*shuffled.project(u_te, e_te[perm_te]), test_ids)
    assert r < 8 * chance, r


def test_mlp_head_and_input_checks():
    align = MirrorAlignment(5, 7, dim_z=16, head="mlp")
    z_u, z_e = align.project(torch.randn(4, 5), torch.randn(4, 7))
    assert z_u.shape == z_e.shape == (4, 16)
    assert torch.allclose(z_u.norm(dim=1), torch.ones(4))
    with pytest.raises(ValueError, match=r"u must be \(B, 5\)"):
        align(torch.randn(4, 6), torch.randn(4, 7), torch.arange(4))
    with pytest.raises(ValueError, match="paired row by row"):
        align(torch.randn(4, 5), torch.randn(3, 7), torch.arange(4))
    with pytest.raises(ValueError, match="head must be one of"):
        MirrorAlignment(5, 7, head="conv")
    assert MirrorAlignment(**align.config()).config() == align.config()


# ----- torch.distributed: global-batch negatives with gradients --------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, data, out_path):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        torch.manual_seed(0)
        align = MirrorAlignment(6, 5, dim_z=8, tau=0.1)
        u, e, ids = data
        n = u.shape[0] // world
        sl = slice(rank * n, (rank + 1) * n)
        loss, logs = align(u[sl], e[sl], ids[sl])
        loss.backward()
        grads = [p.grad.clone() for p in align.parameters()]
        for g in grads:  # what DDP does: average gradients over ranks
            dist.all_reduce(g)
            g /= world
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        mean_loss /= world
        if rank == 0:
            torch.save({"grads": grads, "loss": mean_loss, "batch": logs["align/batch"]},
                       out_path)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_distributed_gather_matches_single_process():
    torch.manual_seed(3)
    u, e = torch.randn(8, 6), torch.randn(8, 5)
    ids = torch.tensor([0, 1, 2, 3, 1, 5, 6, 0])  # positives across the two ranks
    torch.manual_seed(0)
    ref = MirrorAlignment(6, 5, dim_z=8, tau=0.1)
    loss, _ = ref(u, e, ids)
    loss.backward()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rank0.pt")
        mp.spawn(_ddp_worker, args=(2, _free_port(), (u, e, ids), out), nprocs=2, join=True)
        res = torch.load(out, weights_only=True)
    assert res["batch"] == 8  # each rank contrasted against the global batch
    assert res["loss"].item() == pytest.approx(loss.item(), rel=1e-5)
    for g_ref, g in zip([p.grad for p in ref.parameters()], res["grads"]):
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-6)
