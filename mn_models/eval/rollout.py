"""Policy rollouts in mn_sim (`mn eval ee`, paper Table 2): success rate per task.

Episode k of evaluation seed s on task t: variation k % variation_count (round-robin), scene seed
``rollout_seed(s, t, k)`` (a hash kept apart from the collection seeds, so the scenes are unseen).
Each step the policy gets the observation and the tokens of the canonical instruction
(descriptions[0]) and its 9-vector is executed by the planner; the episode ends on success, on a
planning failure (a failure), or after `max_steps` actions (a failure). Only those, the task's
own failure reasons, count as failed episodes: an exception raised by the policy or the simulator
is a bug, and it stops the evaluation with a RolloutError that names the episode and carries the
traceback (also from a worker process).

Work is spread over `workers` spawned processes, each loading the checkpoint once and running
torch on 1 thread (MuJoCo renders in the same process). Seeds are reported as mean ± 95% CI.
"""
from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import os
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mn_models.eval.stats import format_ci, mean_ci

log = logging.getLogger("mn.eval.ee")
VIDEO_FPS = 10.0   # frames per simulated second in the saved rollout videos


class RolloutError(RuntimeError):
    """The policy or the simulator raised during an episode: a bug, not a failed episode.
    Deliberately not an EvalError/ValueError, so `mn eval` shows it with its traceback instead
    of as a usage error."""


@dataclass(frozen=True)
class RolloutJob:
    task: str
    variation: int
    scene_seed: int
    index: int = 0          # episode index within (task, seed)
    eval_seed: int = 0
    video: str = ""         # mp4 to write: the observer camera at 256 px, captioned

    def describe(self) -> str:
        return (f"episode {self.index} of {self.task} (variation {self.variation}, "
                f"evaluation seed {self.eval_seed}, scene seed {self.scene_seed})")


def rollout_seed(seed: int, task: str, index: int) -> int:
    """Deterministic 31-bit scene seed of evaluation episode `index` (never a collection seed:
    the hashed key differs from mn_sim.collect.episode_seed's)."""
    key = f"eval:{seed}:{task}:{index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little") & 0x7FFFFFFF


def parse_variations(text: str, tasks: Sequence[str]) -> dict[str, list[int] | None]:
    """`--variations`: '' or 'all' (every variation of every task), '0,1' (those of every
    task) or per task, space-separated: 'push_buttons=0 open_drawer=0,1' (tasks not named get
    all). Returns {task: indices or None for all}."""
    from mn_models.eval.common import EvalError
    out: dict[str, list[int] | None] = {t: None for t in tasks}
    text = text.strip()
    if text in ("", "all"):
        return out

    def ints(s: str) -> list[int]:
        try:
            v = [int(x) for x in s.split(",") if x.strip()]
        except ValueError:
            v = []
        if not v:
            raise EvalError(f"--variations: expected integers like 0,1 in {text!r}, got {s!r}")
        return v

    if "=" not in text:
        return {t: ints(text) for t in tasks}
    for item in text.split():
        task, _, vs = item.partition("=")
        if task not in out:
            raise EvalError(f"--variations names {task!r}, which is not among the evaluated "
                            f"tasks {list(tasks)}")
        out[task] = ints(vs)
    return out


VIDEO_MODES = ("none", "first", "all")


def plan_jobs(tasks: Sequence[str], episodes: int, seeds: Sequence[int],
              video: str = "first",
              variations: dict[str, list[int] | None] | None = None,
              video_dir: str | os.PathLike = ".") -> list[RolloutJob]:
    """Round-robin over each task's variations (all, or those in `variations`). Videos
    (`video_dir`): "first" records the first episode of the first seed of each task as
    <task>.mp4, "all" every episode as <task>_seed<S>_ep<K>.mp4, "none" nothing."""
    headless()
    from mn_models.eval.common import EvalError
    from mn_sim.tasks.registry import make_task
    jobs = []
    for t in tasks:
        nvar = make_task(t).variation_count()
        chosen = (variations or {}).get(t) or list(range(nvar))
        bad = [v for v in chosen if not 0 <= v < nvar]
        if bad:
            raise EvalError(f"{t} has variations 0..{nvar - 1}; --variations asked for {bad}")
        for si, s in enumerate(seeds):
            for k in range(episodes):
                name = ("" if video == "none" else f"{t}.mp4" if si == 0 and k == 0 and
                        video == "first" else f"{t}_seed{s}_ep{k}.mp4" if video == "all" else "")
                jobs.append(RolloutJob(t, chosen[k % len(chosen)], rollout_seed(s, t, k), k, s,
                                       str(Path(video_dir) / name) if name else ""))
    return jobs


def headless() -> None:
    """Render with EGL unless the user chose otherwise (must run before mujoco is imported)."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


class EpisodeRunner:
    """A policy checkpoint and an environment in one process; `run(job)` plays one episode.

    The policy acts through mn_models.runtime.PolicyRunner, the policy node's own code: what is
    evaluated is what the node would send the robot (and, with the monitor, the z_e it would
    publish)."""

    def __init__(self, checkpoint, image_size: int = 128, max_steps: int = 25,
                 threads: int | None = 1, monitor: bool = False):
        headless()
        from mn_models.runtime import PolicyRunner
        from mn_sim.env import MNEnv
        self.agent = PolicyRunner(checkpoint, threads=threads)
        self.policy = self.agent.policy
        self.max_steps = max_steps
        self.env = MNEnv(image_size=image_size, cameras=self.agent.cameras,
                         max_steps=max_steps)
        # the success monitor (mn_models/eval/monitor.py): the same checkpoint's recognizer
        # watches the execution on the observer camera; z_e and confidences per decision
        self.monitor = None
        if monitor:
            from mn_models.eval.monitor import MonitorModels
            self.monitor = MonitorModels.from_checkpoint(self.agent.checkpoint, image_size)
        self._decisions: list = []

    def act(self, obs, instruction: str) -> np.ndarray:
        from mn_models.policy import constants as K
        out = self.agent.predict(obs, instruction)
        if self.monitor is not None:
            from mn_models.eval.monitor import decision_confidence
            self._decisions.append((self.agent.embedding(out), decision_confidence(out)))
        return out[K.ACTIONS][0].double().numpy()                          # (9,)

    def run(self, job: RolloutJob) -> dict:
        env = self.env
        t0 = time.perf_counter()
        obs, info = env.reset(seed=job.scene_seed,
                              options={"task": job.task, "variation": job.variation})
        instruction = info["descriptions"][0]
        frames: list[np.ndarray] = []      # the video for people (observer camera, 256 px)
        watched: list[np.ndarray] = []     # the observer camera as the observer node sees it
        self._decisions = []
        if self.monitor is not None:
            from mn_models.eval.monitor import FRAME_RATE
            size, every = self.monitor.image_size, max(1, round(FRAME_RATE / VIDEO_FPS))

            def grab():
                watched.append(env.render(size))
                if job.video and len(watched) % every == 1 % every:
                    frames.append(env.render())
            grab()
            env.sim.start_recording(1.0 / FRAME_RATE, grab)
        elif job.video:
            frames.append(env.render())
            env.sim.start_recording(1.0 / VIDEO_FPS, lambda: frames.append(env.render()))
        self.policy.reset()
        success, reason, steps = False, "", 0
        try:
            for steps in range(1, self.max_steps + 1):
                action = self.act(obs, instruction)   # an exception here is a bug: it propagates
                obs, _, terminated, truncated, step_info = env.step(action)
                if job.video:
                    frames.append(env.render())
                if terminated or truncated:
                    success = bool(step_info["success"])
                    reason = step_info["failure_reason"] or ("" if success else "step limit")
                    break
        finally:
            if job.video or self.monitor is not None:
                env.sim.start_recording(None, None)
        if not success and not reason:
            reason = "step limit"
        out = {**asdict(job), "instruction": instruction, "success": success,
               "failure_reason": reason, "steps": steps,
               "seconds": time.perf_counter() - t0}
        if self.monitor is not None:
            from mn_models.eval.monitor import episode_signals
            out["monitor"] = episode_signals(self.monitor, watched,
                                             [z for z, _ in self._decisions],
                                             [c for _, c in self._decisions], instruction)
        if job.video:   # for people: the observer camera at 256 px, captioned
            from mn_sim.annotate import annotate_episode
            from mn_sim.dataset import write_video
            path = Path(job.video)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            try:
                write_video(tmp, annotate_episode(frames, instruction, success, reason,
                                                  VIDEO_FPS), VIDEO_FPS)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        return out

    def close(self):
        self.env.close()


def play(runner: EpisodeRunner, job: RolloutJob) -> dict:
    """runner.run(job); an exception becomes a RolloutError naming the job, with the original
    traceback in its message (so it survives the trip back from a worker process)."""
    try:
        return runner.run(job)
    except Exception as e:
        raise RolloutError(
            f"{job.describe()} raised {type(e).__name__}: {e}. An exception in the policy or "
            f"the simulator is a bug, not a failed episode, so the evaluation stopped. "
            f"Traceback:\n{traceback.format_exc()}") from None


_RUNNER: EpisodeRunner | None = None
_INIT_ERROR: str = ""


def _init_worker(checkpoint, image_size, max_steps, monitor=False):
    """Pool initializer. An exception here would make the pool respawn workers forever, so it
    is kept and raised by the first job instead."""
    headless()
    global _RUNNER, _INIT_ERROR
    try:
        _RUNNER = EpisodeRunner(checkpoint, image_size, max_steps, threads=1, monitor=monitor)
    except Exception as e:
        _INIT_ERROR = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"


def _work(job: RolloutJob) -> dict:
    if _RUNNER is None:
        raise RolloutError(f"the rollout worker for {job.describe()} failed to start: "
                           f"{_INIT_ERROR}")
    return play(_RUNNER, job)


def run_jobs(checkpoint, jobs: Sequence[RolloutJob], image_size: int = 128, max_steps: int = 25,
             workers: int = 2, progress: bool = True, monitor: bool = False) -> list[dict]:
    """Play every job; results in job order. workers <= 1 runs in this process."""
    headless()
    from mn_sim.progress import Progress
    results: dict[int, dict] = {}
    bar = Progress("mn eval ee", len(jobs), "episodes", every_s=0.0) if progress else None

    def report(i, r):
        results[i] = r
        if bar:
            bar.update(extra=f"{r['task']} v{r['variation']}: " + (
                "success" if r["success"] else f"failure ({r['failure_reason']})"))

    if workers <= 1 or len(jobs) <= 1:
        runner = EpisodeRunner(checkpoint, image_size, max_steps, threads=None, monitor=monitor)
        try:
            for i, j in enumerate(jobs):
                report(i, play(runner, j))
        finally:
            runner.close()
    else:
        ctx = mp.get_context("spawn")
        with ctx.Pool(min(workers, len(jobs)), initializer=_init_worker,
                      initargs=(str(checkpoint), image_size, max_steps, monitor)) as pool:
            try:
                for i, r in pool.imap_unordered(_indexed, list(enumerate(jobs))):
                    report(i, r)
            except RolloutError as e:
                # the message already holds the worker's traceback; drop the pool's copy
                raise RolloutError(str(e)) from None
    return [results[i] for i in range(len(jobs))]


def _indexed(item):
    i, job = item
    return i, _work(job)


def evaluate_policy(checkpoint, tasks: Sequence[str] | None = None, episodes: int = 25,
                    max_steps: int = 25, seeds: Sequence[int] = (0,), workers: int = 2,
                    image_size: int = 128, video: str = "first", progress: bool = True,
                    variations: str = "", video_dir=None, monitor: bool = False) -> dict:
    """Success rates. Returns {"success_rate": mean over tasks (mean over seeds),
    "success_rate_ci95", "per_task": {task: rate}, "per_task_ci95", "per_seed":
    {seed: {"success_rate", "per_task"}}, "episodes": [...per-episode records...],
    "videos": [mp4 paths]}. Videos (see plan_jobs) go to `video_dir` (default:
    <run>/eval_ee).
    `variations`: see parse_variations (default: every variation of each task).
    `monitor`: also record the success monitor's signals per episode and their AUROC
    ("monitor", see mn_models/eval/monitor.py); needs an mn or probe checkpoint."""
    headless()
    from mn_models import checkpoint as ck
    from mn_models.eval.common import EvalError
    from mn_sim.tasks.registry import task_names
    if episodes < 1 or max_steps < 1:
        raise EvalError(f"episodes and max_steps must be >= 1; got {episodes} and {max_steps}")
    if not seeds:
        raise EvalError("give at least one evaluation seed")
    c = ck.open_checkpoint(checkpoint, need=("policy",))
    tasks = list(tasks or c.meta.get("tasks") or [])
    if not tasks:
        raise EvalError(f"{c.path} names no tasks: pass --tasks")
    unknown = [t for t in tasks if t not in task_names()]
    if unknown:
        raise EvalError(f"tasks {unknown} are not simulated by mn_sim; known: "
                        f"{', '.join(task_names())}")
    chosen = parse_variations(variations, tasks)
    if video not in VIDEO_MODES:
        raise EvalError(f"video must be one of {VIDEO_MODES}; got {video!r}")
    if video != "none":
        from mn_models.eval.report import output_dir
        video_dir = output_dir(video_dir, c.path, "ee")
    jobs = plan_jobs(tasks, episodes, list(seeds), video, chosen, video_dir or ".")
    res = run_jobs(c.path, jobs, image_size, max_steps, workers, progress, monitor)
    per_seed = {}
    for s in seeds:
        pt = {t: float(np.mean([r["success"] for r in res if r["task"] == t
                                and r["eval_seed"] == s])) for t in tasks}
        per_seed[s] = {"success_rate": float(np.mean(list(pt.values()))), "per_task": pt}
    out = {"per_task": {}, "per_task_ci95": {}}
    for t in tasks:
        out["per_task"][t], out["per_task_ci95"][t] = mean_ci(
            [per_seed[s]["per_task"][t] for s in seeds])
    out["success_rate"], out["success_rate_ci95"] = mean_ci(
        [per_seed[s]["success_rate"] for s in seeds])
    videos = [r["video"] for r in res if r["video"]]
    out.update({"per_seed": {str(s): v for s, v in per_seed.items()}, "seeds": list(seeds),
                "episodes_per_task": episodes, "max_steps": max_steps,
                "variations": {t: v or "all" for t, v in chosen.items()},
                "checkpoint": str(c.path), "step": c.meta.get("step"), "episodes": res,
                "videos": videos})
    if monitor:
        from mn_models.eval.monitor import summarize
        out["monitor"] = summarize(res)
    return out


def markdown(result: dict) -> str:
    """Table 2 layout: success rate (%) per task, mean ± 95% CI over seeds, failure reasons."""
    from collections import Counter

    from mn_models.eval.report import markdown_table, wide_table
    tasks = list(result["per_task"])
    rows = {}
    if len(result["seeds"]) > 1:
        for s, v in result["per_seed"].items():
            rows[f"seed {s}"] = {**{t: format_ci(v["per_task"][t], 0.0) for t in tasks},
                                 "Avg.": format_ci(v["success_rate"], 0.0)}
    name = "mean ± 95% CI" if len(result["seeds"]) > 1 else "success"
    rows[name] = {**{t: format_ci(result["per_task"][t], result["per_task_ci95"][t])
                     for t in tasks},
                  "Avg.": format_ci(result["success_rate"], result["success_rate_ci95"])}
    reasons = Counter((r["task"], (r["failure_reason"] or "?").split(":")[0])
                      for r in result["episodes"] if not r["success"])
    text = (f"# Policy rollouts: success rate (%)\n\n{result['episodes_per_task']} episodes per "
            f"task and seed, seeds {result['seeds']}, at most {result['max_steps']} steps, "
            f"variations {result.get('variations', 'all')}; "
            f"checkpoint {result['checkpoint']}\n\n" + wide_table("", tasks, rows))
    if reasons:
        text += "\n## Failures\n\n" + markdown_table(
            ["task", "reason", "episodes"], [[t, why, n] for (t, why), n in reasons.items()])
    return text
