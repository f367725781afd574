"""Run the scripted experts and measure their success rates (what `mn experts` prints)."""
from __future__ import annotations

import os
import time
from collections import Counter


def _run_task(args) -> dict:
    task, episodes, seed = args
    os.environ.setdefault("MUJOCO_GL", "egl")
    from mn_sim.env import MNEnv
    env = MNEnv(cameras=("front",))
    ok, reasons, t0 = 0, Counter(), time.perf_counter()
    try:
        env.reset(seed=seed, options={"task": task, "variation": 0, "render": False})
        nvar = env.task.variation_count()
        for k in range(episodes):
            success, reason, _ = env.run_expert(task, k % nvar, seed + k)
            ok += success
            if not success:
                reasons[reason.split(":")[0] if reason else "unknown"] += 1
    finally:
        env.close()
    return {"task": task, "success_rate": ok / episodes, "episodes": episodes,
            "failures": dict(reasons), "seconds_per_episode": (time.perf_counter() - t0) / episodes}


def evaluate_experts(tasks: list[str], episodes: int = 25, seed: int = 0, workers: int = 2,
                     progress=True) -> dict[str, dict]:
    """Success rate per task; episode k uses variation k % count and seed `seed + k`."""
    from mn_sim.progress import Progress, map_jobs
    jobs = [(t, episodes, seed) for t in tasks]
    results = {}
    bar = Progress("mn experts", len(jobs), "tasks", every_s=0.0) if progress else None

    def report(r):
        results[r["task"]] = r
        if bar:
            bar.update(extra=f"{r['task']} {r['success_rate']:.0%} "
                             f"({r['seconds_per_episode']:.2f} s/episode)")

    map_jobs(_run_task, jobs, workers, report)
    return {t: results[t] for t in tasks}
