"""Contact sheets (`mn tasks --sheets DIR`): per task, the first and last frame of one expert
episode per variation (up to 6, spread over the variations), seen from the observer camera,
with each variation's instruction. They show what distinguishes the variations."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

MAX_VARIATIONS = 6
SEED_TRIES = 5          # an expert that fails on a seed gets the next one (the sheet shows success)
ROBOT_ALPHA = 0.3       # the last frame draws the arm translucent: what it holds or covers shows


def sheet_variations(count: int, k: int = MAX_VARIATIONS) -> list[int]:
    """Up to k variations spread evenly over 0..count-1 (both ends included)."""
    return sorted({int(round(x)) for x in np.linspace(0, count - 1, min(count, k))})


def expert_frames(env, task: str, variation: int, seed: int, size: int):
    """(first frame, last frame, success, descriptions) of one expert episode."""
    from mn_sim.types import OBSERVER_CAMERA
    _, info = env.reset(seed=seed, options={"task": task, "variation": variation,
                                            "render": False})
    first = env.render(size, OBSERVER_CAMERA)
    success = False
    for action in env.task.expert():
        _, _, terminated, truncated, step = env.step(action, render=False)
        if terminated or truncated:
            success = bool(step["success"])
            break
    else:
        success = env.task.success()
    last = env.sim.render_rgb(OBSERVER_CAMERA, size, robot_alpha=ROBOT_ALPHA)
    return first, last, success, info["descriptions"]


def make_sheet(task: str, out_dir: str, size: int = 256, thumb: int = 192) -> dict:
    """Write <out_dir>/<task>.png atomically; returns what was drawn."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from mn_sim.annotate import contact_sheet
    from mn_sim.env import MNEnv
    env = MNEnv(cameras=("front",))
    rows, shown, t0 = [], [], time.perf_counter()
    try:
        env.reset(seed=0, options={"task": task, "variation": 0, "render": False})
        count = env.task.variation_count()
        for v in sheet_variations(count):
            for seed in range(v, v + SEED_TRIES):
                first, last, ok, desc = expert_frames(env, task, v, seed, size)
                if ok:
                    break
            rows.append((f"{v}: {desc[0]}" + ("" if ok else " (expert failed)"), first, last))
            shown.append({"variation": v, "seed": seed, "success": ok, "instruction": desc[0]})
    finally:
        env.close()
    sheet = contact_sheet(rows, f"{task} ({count} variations)", thumb)
    out = Path(out_dir) / f"{task}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    sheet.quantize(colors=255, method=2).save(tmp, format="PNG", optimize=True)
    os.replace(tmp, out)
    return {"task": task, "path": str(out), "variations": shown,
            "seconds": time.perf_counter() - t0}


def _job(args):
    return make_sheet(*args)


def make_sheets(tasks: list[str], out_dir: str, workers: int = 2, size: int = 256,
                progress: bool = True) -> list[dict]:
    """One sheet per task, `workers` processes; progress lines with elapsed time and ETA."""
    from mn_sim.progress import Progress, map_jobs
    jobs = [(t, str(out_dir), size) for t in tasks]
    done = []
    bar = Progress("mn tasks --sheets", len(jobs), "sheets", every_s=0.0) if progress else None

    def report(r):
        done.append(r)
        if bar:
            bad = [s["variation"] for s in r["variations"] if not s["success"]]
            bar.update(extra=f"{r['path']} ({len(r['variations'])} variations"
                             f"{', expert failed on ' + str(bad) if bad else ''})")

    map_jobs(_job, jobs, workers, report)
    order = {t: i for i, t in enumerate(tasks)}
    return sorted(done, key=lambda r: order[r["task"]])
