"""Per-task Recall@1 of the probe (Observation 1 per task group): retrieval over all items,
scored per query task."""
import torch

from mn_models.eval.probe import per_task_recall


def test_per_task_recall_scores_each_tasks_queries():
    # task 0 (ids 0, 1): z_u and z_e identical -> every retrieval right
    # task 1 (ids 2, 3): z_e swapped -> u->e and e->u both retrieve the other instruction
    z_u = torch.eye(4)
    z_e = torch.eye(4)[[0, 1, 3, 2]]
    out = per_task_recall(z_u, z_e, torch.tensor([0, 1, 2, 3]), torch.tensor([0, 0, 1, 1]),
                          ["open_drawer", "turn_tap"])
    assert out == {"open_drawer": 1.0, "turn_tap": 0.0}
    # one of task 1's two queries right in one direction only: (1 + 0) / 2 per query
    z_e = torch.eye(4)[[0, 1, 2, 2]]
    out = per_task_recall(z_u, z_e, torch.tensor([0, 1, 2, 3]), torch.tensor([0, 0, 1, 1]),
                          ["open_drawer", "turn_tap"])
    assert out["turn_tap"] == 0.5
