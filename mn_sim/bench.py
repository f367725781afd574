"""Simulator benchmark (`mn bench sim`): numbers, not pass/fail.

render_fps_4cam            4-camera RGB-D frames per second at 128x128 (goal >= 14)
realtime_factor            simulated seconds per wall second of physics with the arm moving
episodes_per_min_keyframes collection rate with both workers, keyframe-only frames (goal >= 20)
episodes_per_min_default   the same at the default frame rate (20 Hz)
episodes_per_min_per_task  (--per-task) {task: rate} with one worker at 20 Hz, task by task
"""
from __future__ import annotations

import tempfile
import time

import numpy as np


def bench_render(task: str = "open_drawer", frames: int = 30) -> float:
    from mn_sim.env import MNEnv
    env = MNEnv()
    try:
        env.reset(seed=0, options={"task": task, "variation": 0})
        env.sim.render_cameras()   # warm-up (context, textures)
        t = time.perf_counter()
        for _ in range(frames):
            env.sim.render_cameras()
        return frames / (time.perf_counter() - t)
    finally:
        env.close()


def bench_physics(task: str = "open_drawer", sim_seconds: float = 4.0) -> float:
    from mn_sim.env import MNEnv
    env = MNEnv(cameras=("front",))
    try:
        env.reset(seed=0, options={"task": task, "variation": 0, "render": False})
        sim = env.sim
        q0 = sim.data.qpos[sim.arm_qadr].copy()
        n = int(sim_seconds / sim.model.opt.timestep)
        t = time.perf_counter()
        for i in range(n):   # a slow sinusoidal sweep of every joint keeps contacts and control busy
            sim.data.ctrl[:7] = q0 + 0.3 * np.sin(2 * np.pi * 0.25 * i * sim.model.opt.timestep)
            sim._physics_step()
        return sim_seconds / (time.perf_counter() - t)
    finally:
        env.close()


def bench_collect(tasks: list[str], episodes_per_task: int, frame_rate: float | None,
                  workers: int = 2) -> float:
    from mn_sim.collect import CollectConfig, collect
    with tempfile.TemporaryDirectory(prefix="mn-bench-") as d:
        cfg = CollectConfig(tasks=tasks, episodes_per_task=episodes_per_task, out=d,
                            workers=workers, frame_rate=frame_rate, log_every=1e9)
        t = time.perf_counter()
        summary = collect(cfg)
        dt = time.perf_counter() - t
    if summary.written == 0:
        raise RuntimeError(f"collection wrote nothing:\n{summary}")
    return summary.written / dt * 60.0


def bench_collect_per_task(tasks: list[str], episodes_per_task: int,
                           frame_rate: float | None = 20.0, progress: bool = True) -> dict:
    """{task: episodes/min} collecting each task alone with one worker (all cameras the
    default collection writes, dataset on disk)."""
    import sys
    out = {}
    for i, t in enumerate(tasks):
        out[t] = bench_collect([t], episodes_per_task, frame_rate, workers=0)
        if progress:
            print(f"[{i + 1}/{len(tasks)}] {t}: {out[t]:.1f} episodes/min", file=sys.stderr,
                  flush=True)
    return out


def run_all(tasks: list[str], episodes_per_task: int = 4, workers: int = 2,
            per_task: bool = False) -> dict:
    if per_task:
        return {"episodes_per_min_per_task": bench_collect_per_task(tasks, episodes_per_task),
                "workers": 1, "frame_rate": 20.0, "episodes_per_task": episodes_per_task}
    return {
        "render_fps_4cam": bench_render(tasks[0]),
        "realtime_factor": bench_physics(tasks[0]),
        "episodes_per_min_keyframes": bench_collect(tasks, episodes_per_task, None, workers),
        "episodes_per_min_default": bench_collect(tasks, episodes_per_task, 20.0, workers),
    }
