"""Action recognition (`mn eval au`, paper Table 1): for each held-out video pick the most similar
instruction among all candidates; top-1 accuracy per task and their average.

Candidates = the checkpoint's instruction vocabulary ∪ the canonical instruction (descriptions[0])
of every variation of the evaluated tasks (from mn_sim's task definitions; for tasks mn_sim does
not know, the dataset's instructions). Clips use the middle frame of each of the recognizer's
`num_frames` segments (deterministic).
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from mn_models import checkpoint as ck
from mn_models.eval.common import EvalError, label, load_split, train_config_of
from mn_models.eval.report import wide_table
from mn_models.eval.stats import format_ci, mean_ci

log = logging.getLogger("mn.eval.au")


def candidate_instructions(vocab: Sequence[str], tasks: Sequence[str],
                           found: Sequence[str] = ()) -> list[str]:
    """Sorted union of `vocab`, `found` and the canonical instruction of every variation of
    `tasks` that mn_sim defines."""
    from mn_sim.tasks.registry import task_names
    known = [t for t in tasks if t in task_names()]
    unknown = sorted(set(tasks) - set(known))
    if unknown:
        log.warning("tasks %s are not defined in mn_sim: their candidates are the dataset's "
                    "instructions only", unknown)
    canon: set[str] = set()
    if known:
        from mn_sim.describe import canonical_instructions
        canon = {i for v in canonical_instructions(known).values() for i in v}
    return sorted(set(vocab) | set(found) | canon)


@torch.no_grad()
def evaluate_recognition(checkpoint, data, split: str = "val", tasks: Sequence[str] | None = None,
                         candidates: Sequence[str] | None = None, batch_size: int = 16) -> dict:
    """Top-1 recognition of one checkpoint (kind au, mn or probe).

    Returns {"accuracy": mean of per-task accuracies, "per_task": {task: acc},
    "episodes": {task: n}, "sample_accuracy": over all videos, "num_candidates", "checkpoint",
    "step", "split"}."""
    c = ck.open_checkpoint(checkpoint, need=("recognizer",))
    rec = ck.build_recognizer(c).eval()
    d = load_split(data, split, train_config_of(c), tasks=tasks, clip_size=rec.config.image_size,
                   need_samples=False, need_clips=True, checkpoints=[c])
    present = sorted({r.task for r in d.records})
    if candidates is None:
        candidates = candidate_instructions(c.meta.get("instructions", []), present,
                                            d.instructions)
    candidates = list(candidates)
    missing = sorted({r.instruction for r in d.records} - set(candidates))
    if missing:
        raise EvalError(f"instructions {missing} of the data are not among the candidates")
    text = torch.cat([rec.embed_text(candidates[i:i + 64])
                      for i in range(0, len(candidates), 64)])          # (K, embed_dim)
    nf = rec.config.num_frames
    correct: dict[str, int] = {t: 0 for t in present}
    total: dict[str, int] = {t: 0 for t in present}
    for i in range(0, len(d.records), batch_size):
        recs = d.records[i:i + batch_size]
        video = torch.from_numpy(np.stack([d.clip(r, nf, None) for r in recs]))  # (B,T,S,S,3)
        idx, _ = rec.recognize(video, text)
        for r, k in zip(recs, idx.tolist()):
            total[r.task] += 1
            correct[r.task] += int(candidates[k] == r.instruction)
    per_task = {t: correct[t] / total[t] for t in present}
    return {"accuracy": float(np.mean(list(per_task.values()))), "per_task": per_task,
            "episodes": total, "sample_accuracy": sum(correct.values()) / sum(total.values()),
            "num_candidates": len(candidates), "checkpoint": str(c.path), "label": label(c),
            "step": c.meta.get("step"), "split": split}


def summarize(results: list[dict]) -> dict:
    """Several checkpoints (seeds) -> mean ± 95% CI of the average and of each task."""
    tasks = sorted({t for r in results for t in r["per_task"]})
    out = {"accuracy": None, "per_task": {}, "per_task_ci95": {}, "seeds": len(results)}
    for t in tasks:
        vals = [r["per_task"][t] for r in results if t in r["per_task"]]
        out["per_task"][t], out["per_task_ci95"][t] = mean_ci(vals)
    out["accuracy"], out["accuracy_ci95"] = mean_ci([r["accuracy"] for r in results])
    out["runs"] = results
    return out


def markdown(summary: dict) -> str:
    """Table 1 layout: one row per checkpoint, a mean ± CI row when there are several."""
    tasks = list(summary["per_task"])
    rows = {}
    for r in summary["runs"]:
        rows[r["label"]] = {**{t: format_ci(r["per_task"][t], 0.0) for t in r["per_task"]},
                            "Avg.": format_ci(r["accuracy"], 0.0)}
    if len(summary["runs"]) > 1:
        rows[f"mean ± 95% CI ({len(summary['runs'])} seeds)"] = {
            **{t: format_ci(summary["per_task"][t], summary["per_task_ci95"][t]) for t in tasks},
            "Avg.": format_ci(summary["accuracy"], summary["accuracy_ci95"])}
    r0 = summary["runs"][0]
    head = (f"# Action recognition: top-1 accuracy (%)\n\n{r0['split']} split; "
            f"{r0['num_candidates']} candidate instructions; episodes per task: "
            + ", ".join(f"{t} {n}" for t, n in r0["episodes"].items()) + "\n\n")
    return head + wide_table("checkpoint", tasks, rows)
