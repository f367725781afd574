"""Collect expert demonstrations into the RLBench/PerAct layout, in parallel and resumably.

Plan: for each task, episode k (k = 0..N-1) uses
- variation ``variations[k % len(variations)]`` (round-robin over the requested variations,
  so every variation gets N / len(variations) episodes; RLBench's PerAct data picks a random
  variation per episode instead),
- seed ``episode_seed(S, task, k)``; when the expert fails (``demo.success`` False or an
  exception), attempt a uses ``episode_seed(S, task, k, a)``, up to ``max_attempts`` attempts
  (RLBench's generator retries 10 times too).
Everything is a function of (S, task, k), so a re-run with the same arguments produces the
same set of episodes. Resume: complete episodes are skipped, stale ``episode<N>.tmp-<pid>``
folders are deleted, only the missing episodes are recorded. A lock file keeps two
collectors out of the same output folder.

Workers are ``spawn``-ed processes, each with its own environment (``MUJOCO_GL=egl`` is set
before anything imports mujoco); they record and write episodes themselves. ``workers=0``
runs everything in this process.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import math
import multiprocessing as mp
import os
import queue
import shutil
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from mn_sim.dataset import layout
from mn_sim.progress import Progress, fmt_time
from mn_sim.types import CAMERAS, DATASET_CAMERAS, OPTIONAL_CAMERAS

DEFAULT_ENV_FACTORY = "mn_sim.env:MNEnv"
DEFAULT_CATALOG = "mn_sim.tasks.registry"
# what `--format peract` renders by default: RLBench's five cameras and the observer's
PERACT_DATASET_CAMERAS = DATASET_CAMERAS[:4] + ("overhead",) + DATASET_CAMERAS[4:]
MASK_HANDLES = "body_id+1"   # what mask values are (mn_sim.sim.MASK_HANDLE_OFFSET), in settings
SETTINGS_FILE = "mn_collect.json"   # <out>/<task>/mn_collect.json: what the episodes depend on
LOCK_FILE = ".mn_collect.lock"


@dataclass
class CollectConfig:
    """What to collect.

    Args:
        tasks: task names (see :func:`resolve_tasks` for "all").
        episodes_per_task: N; episodes are episode0..episode<N-1>.
        out: dataset root (``<out>/<task>/all_variations/episodes/episode<k>``).
        variations: variation indices to cycle through; None = all of each task.
        seed: collection seed S.
        workers: worker processes (0 = in this process).
        frame_rate: frames per simulated second; None = keyframe-only demos.
        cameras: cameras to render and save (default: the policy's four and the observer;
            with format "peract" also RLBench's overhead camera, which that format needs).
        image_size: square image size in pixels.
        max_attempts: expert attempts per episode before it is reported as failed.
        masks: render and save segmentation masks (``{cam}_mask``: per pixel the handle of
            the body seen, 0 = background; mn_sim.sim.MASK_HANDLE_OFFSET). None (default):
            on for format "peract" (RLBench's layout has them), off for "mn" (measured: +28 to
            +34 % CPU time per episode, and mn's trainer does not read them; README,
            "Demonstrations"). The environment is built with ``masks=True`` only when on.
        video: write observer.mp4 (needs the observer camera; format "mn" only).
        keyframes: what kfs.json holds for dense demos: "expert" (the frames where the expert's
            actions ended) or "heuristic" (PerAct's keypoint discovery, as on RLBench data);
            see mn_sim.dataset.writer.default_keyframes. Keyframe-only demos: action frames.
        format: "mn" (mn's layout: npz + json, what mn's trainer reads) or "peract" (what
            RLBench's dataset generator writes: pickles of rlbench's Demo/Observation, PyRep
            camera matrices; mn_sim/dataset/peract_export.py). Both are read by mn's reader.
        env_factory: "module:callable" building the environment (called with image_size and
            cameras); it must have ``record_demo(task, variation, seed, frame_rate)`` and
            ``close()``.
        catalog: module with ``task_names()`` and the tasks' variation counts.
        log_every: seconds between progress lines when stderr is not a terminal.
    """
    tasks: list[str]
    episodes_per_task: int
    out: str | Path
    variations: list[int] | None = None
    seed: int = 0
    workers: int = 2
    frame_rate: float | None = 20.0
    cameras: tuple[str, ...] | None = None
    image_size: int = 128
    max_attempts: int = 10
    masks: bool | None = None
    video: bool = True
    keyframes: str = "expert"
    format: str = "mn"
    env_factory: str = DEFAULT_ENV_FACTORY
    catalog: str = DEFAULT_CATALOG
    log_every: float = 10.0

    def __post_init__(self):
        self.out = Path(self.out)
        from mn_sim.dataset.peract_export import FORMATS, check_cameras
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}; got {self.format!r}")
        if self.cameras is None:
            self.cameras = DATASET_CAMERAS if self.format == "mn" else PERACT_DATASET_CAMERAS
        if self.masks is None:
            self.masks = self.format == "peract"
        self.masks = bool(self.masks)
        self.cameras = tuple(self.cameras)
        known = CAMERAS + OPTIONAL_CAMERAS
        bad = [c for c in self.cameras if c not in known]
        if bad or not self.cameras:
            raise ValueError(f"unknown camera(s) {bad or '(none given)'}; choose from {known}")
        if self.format == "peract":
            check_cameras(self.cameras, "--format peract with these --cameras")
        if self.episodes_per_task < 1:
            raise ValueError(f"episodes_per_task must be >= 1; got {self.episodes_per_task}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0 = in-process); got {self.workers}")
        if self.frame_rate is not None and not (self.frame_rate > 0 and
                                                math.isfinite(self.frame_rate)):
            raise ValueError(f"frame_rate must be a positive number of Hz or None "
                             f"(keyframe-only); got {self.frame_rate}")
        from mn_sim.dataset.writer import KEYFRAME_SOURCES
        if self.keyframes not in KEYFRAME_SOURCES:
            raise ValueError(f"keyframes must be one of {KEYFRAME_SOURCES}; got "
                             f"{self.keyframes!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1; got {self.max_attempts}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8 pixels; got {self.image_size}")


@dataclass(frozen=True)
class Job:
    task: str
    index: int
    variation: int


@dataclass
class CollectSummary:
    planned: int = 0                  # episodes asked for (tasks x N)
    already_complete: int = 0         # found on disk and skipped
    written: int = 0                  # written by this run
    failed_attempts: int = 0          # expert failures that were retried (or gave up)
    failed_episodes: list[dict] = field(default_factory=list)  # gave up after max_attempts
    errors: list[str] = field(default_factory=list)            # crashes, write errors
    stale_removed: int = 0            # tmp folders deleted
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed_episodes and not self.errors

    def __str__(self) -> str:
        lines = [f"collected {self.written} episode(s) in {fmt_time(self.seconds)} "
                 f"({self.already_complete} already complete, {self.planned} planned); "
                 f"{self.failed_attempts} failed expert attempt(s) retried; "
                 f"{self.stale_removed} stale tmp folder(s) removed"]
        for f in self.failed_episodes:
            lines.append(f"  FAILED {f['task']} episode{f['index']} (variation {f['variation']})"
                         f" after {f['attempts']} attempts: {f['reasons'][-1]}")
        for e in self.errors:
            lines.append(f"  ERROR {e}")
        return "\n".join(lines)


# ---------------------------------------------------------------------- seeds and plan
def episode_seed(seed: int, task: str, index: int, attempt: int = 0) -> int:
    """Deterministic 31-bit seed of episode ``index`` of ``task`` (attempt > 0: retries)."""
    key = f"{seed}:{task}:{index}" + (f":{attempt}" if attempt else "")
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


def _load_object(spec: str):
    """"pkg.module:attr" -> the attribute; "pkg.module" -> the module."""
    module, _, attr = spec.partition(":")
    try:
        obj = importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"cannot import {module!r} (from {spec!r}): {e}") from e
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def variation_count(catalog, task: str) -> int:
    """Variation count of ``task`` from a catalog module (several spellings are accepted)."""
    if hasattr(catalog, "variation_count"):
        return int(catalog.variation_count(task))
    for getter in ("make_task", "get_task"):
        if hasattr(catalog, getter):
            t = getattr(catalog, getter)(task)
            vc = getattr(t, "variation_count", None)
            if vc is None:
                vc = getattr(t, "num_variations", None)
            if vc is not None:
                return int(vc() if callable(vc) else vc)
    raise TypeError(f"catalog {getattr(catalog, '__name__', catalog)!r} does not tell the "
                    f"variation count of {task!r} (expected variation_count(task) or "
                    f"make_task(task).variation_count())")


def resolve_tasks(tasks: Sequence[str] | str, catalog) -> list[str]:
    """Expand "all" and check names against ``catalog.task_names()``."""
    known = list(catalog.task_names())
    if isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    if list(tasks) == ["all"]:
        return known
    unknown = [t for t in tasks if t not in known]
    if unknown or not tasks:
        raise ValueError(f"unknown task(s) {unknown or '(none given)'}; known tasks: "
                         f"{', '.join(known)}")
    return list(dict.fromkeys(tasks))  # de-duplicated, order kept


def task_variations(task: str, requested: Sequence[int] | None, catalog) -> list[int]:
    count = variation_count(catalog, task)
    if requested is None:
        return list(range(count))
    bad = [v for v in requested if not 0 <= v < count]
    if bad:
        raise ValueError(f"task {task!r} has variations 0..{count - 1}; "
                         f"requested {bad} do not exist")
    return list(dict.fromkeys(int(v) for v in requested))


def plan(config: CollectConfig, catalog) -> list[Job]:
    """All jobs (task, k, variation) of the collection, done or not."""
    jobs = []
    for task in config.tasks:
        vs = task_variations(task, config.variations, catalog)
        jobs += [Job(task, k, vs[k % len(vs)]) for k in range(config.episodes_per_task)]
    return jobs


# ---------------------------------------------------------------------- resume
def _settings(config: CollectConfig, variations: list[int]) -> dict:
    """What an episode's content depends on (beyond task and index)."""
    return {"format_version": layout.FORMAT_VERSION, "seed": config.seed,
            "frame_rate": config.frame_rate, "cameras": list(config.cameras),
            "image_size": config.image_size, "variations": variations,
            "masks": config.masks, "mask_handles": MASK_HANDLES, "video": config.video,
            "env_factory": config.env_factory, "format": config.format,
            "keyframes": _keyframe_setting(config.frame_rate, config.keyframes)}


def _keyframe_setting(frame_rate, source: str | None) -> str:
    """Keyframe-only demos always store their action frames; datasets written before the
    option existed (no entry) used the heuristic on dense demos."""
    if frame_rate is None:
        return "expert"
    return source or "heuristic"


def _read_settings(path: Path) -> dict:
    """A task folder's settings, with the keyframe source filled in for older datasets."""
    with open(path) as f:
        settings = json.load(f)
    settings["keyframes"] = _keyframe_setting(settings.get("frame_rate"),
                                              settings.get("keyframes"))
    settings.setdefault("format", "mn")   # datasets written before the option existed
    if "mask_handles" not in settings:
        # written before mn_sim rendered masks: "masks": true asked for masks that mn_sim's
        # environment never made, so its episodes have none, as masks off now means
        if settings.get("env_factory", DEFAULT_ENV_FACTORY) == DEFAULT_ENV_FACTORY:
            settings["masks"] = False
        settings["mask_handles"] = MASK_HANDLES
    return settings


def recorded_keyframe_source(out, tasks) -> str | None:
    """The keyframe source the dataset at ``out`` was collected with ("expert" or
    "heuristic"), from the first of ``tasks`` it holds; None when it holds none of them."""
    for task in tasks:
        path = Path(out) / task / SETTINGS_FILE
        if path.is_file():
            return _read_settings(path)["keyframes"]
    return None


def _check_settings(task_dir: Path, settings: dict) -> None:
    path = task_dir / SETTINGS_FILE
    if path.is_file():
        old = _read_settings(path)
        diff = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
        if diff:
            detail = "; ".join(f"{k}: was {a!r}, now {b!r}" for k, (a, b) in diff.items())
            raise ValueError(f"{task_dir} was collected with other settings ({detail}). "
                             f"Re-run with the same settings to resume, or use another --out.")
        return
    task_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(settings, f, indent=1)
    os.replace(tmp, path)


def _scan_task(episodes: Path) -> tuple[set[int], int]:
    """Complete episode indices; deletes stale tmp folders (returns how many)."""
    done, removed = set(), 0
    if not episodes.is_dir():
        return done, removed
    incomplete = []
    for p in episodes.iterdir():
        if layout.tmp_episode_info(p.name) is not None:
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
        elif (n := layout.episode_index(p.name)) is not None:
            if layout.is_complete(p):
                done.add(n)
            else:
                incomplete.append(p)
    if incomplete:
        raise RuntimeError(f"episode folder(s) without a completion marker ({layout.META_JSON}):"
                           f" {[str(p) for p in incomplete]}. mn never leaves these (it writes "
                           f"to tmp folders); move or delete them, then re-run.")
    return done, removed


class _Lock:
    """An exclusive flock on <out>/.mn_collect.lock (released by the OS if we are killed)."""

    def __init__(self, out: Path):
        self.path = out / LOCK_FILE
        self._f = None

    def __enter__(self):
        import fcntl
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a+")
        try:
            fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._f.close()
            raise RuntimeError(f"another `mn collect` is writing into {self.path.parent} "
                               f"(it holds {self.path}); wait for it or use another --out")
        return self

    def __exit__(self, *exc):
        self._f.close()


# ---------------------------------------------------------------------- one episode
def _record_episode(env, job: Job, config: CollectConfig) -> dict:
    """Run the expert until it succeeds (bounded) and write the episode. Returns a report."""
    from mn_sim.dataset.writer import default_keyframes, write_episode

    reasons = []
    episodes = layout.episodes_dir(config.out, job.task)
    t0 = time.monotonic()
    for attempt in range(config.max_attempts):
        seed = episode_seed(config.seed, job.task, job.index, attempt)
        try:
            demo = env.record_demo(job.task, job.variation, seed, config.frame_rate)
        except Exception as e:  # planning/IK errors fail an attempt, as in RLBench
            reasons.append(f"seed {seed}: {type(e).__name__}: {e}")
            continue
        if not demo.success:
            reasons.append(f"seed {seed}: {demo.failure_reason or 'expert failed'}")
            continue
        info = {"collection_seed": config.seed, "attempt": attempt, "failed_attempts": reasons}
        kfs = default_keyframes(demo, config.keyframes)
        if config.format == "peract":
            from mn_sim.dataset.peract_export import write_peract_episode
            write_peract_episode(demo, episodes, job.index, keyframes=kfs, cameras=config.cameras,
                                 masks=config.masks, keyframe_source=config.keyframes,
                                 extra_meta=info)
        else:
            write_episode(demo, episodes, job.index, cameras=config.cameras, masks=config.masks,
                          video=config.video, keyframes=kfs, extra_meta=info)
        return {"status": "done", "failures": len(reasons), "reasons": reasons,
                "seconds": time.monotonic() - t0}
    return {"status": "failed", "failures": len(reasons), "reasons": reasons,
            "seconds": time.monotonic() - t0}


def _make_env(config: CollectConfig, factory=None):
    """The environment; asked for masks (``masks=True``) only when the config wants them, so
    factories without that argument work with masks off."""
    factory = factory if factory is not None else _load_object(config.env_factory)
    kwargs = {"image_size": config.image_size, "cameras": tuple(config.cameras)}
    if not config.masks:
        return factory(**kwargs)
    try:
        import inspect
        inspect.signature(factory).bind(masks=True, **kwargs)
    except TypeError:
        raise ValueError(f"environment factory {config.env_factory!r} does not take "
                         f"masks=True; collect without masks (--no-masks)") from None
    except ValueError:   # no signature (a builtin): just try
        pass
    return factory(masks=True, **kwargs)


# ---------------------------------------------------------------------- workers
def _die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the collector dies (even by SIGKILL)."""
    try:  # Linux: the kernel sends SIGKILL when the parent exits
        import ctypes
        import signal
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:
        pass

    def watch():  # portable fallback
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent_pid:  # parent died before prctl took effect
        os._exit(1)


def _worker_main(wid: int, config: CollectConfig, jobs, results, parent_pid: int) -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    _die_with_parent(parent_pid)
    try:
        env = _make_env(config)
    except Exception:
        results.put(("fatal", wid, None, traceback.format_exc()))
        return
    try:
        while True:
            job = jobs.get()
            if job is None:
                break
            results.put(("start", wid, job, None))
            try:
                report = _record_episode(env, job, config)
            except Exception:
                report = {"status": "error", "error": traceback.format_exc()}
            results.put(("result", wid, job, report))
    finally:
        try:
            env.close()
        finally:
            results.put(("exit", wid, None, None))


# ---------------------------------------------------------------------- main entry
def collect(config: CollectConfig, env_factory: Callable | None = None, catalog=None,
            stream=None) -> CollectSummary:
    """Collect ``config.episodes_per_task`` successful demos of each task (resumable).

    Args:
        config: what to collect.
        env_factory: a callable(image_size=, cameras=) -> env, used instead of
            ``config.env_factory`` (in-process only: needs ``workers=0``, since spawned
            workers import the factory by name).
        catalog: object with ``task_names()`` and variation counts, instead of
            ``config.catalog``.
        stream: where progress lines go (default stderr).
    """
    t0 = time.monotonic()
    stream = stream or sys.stderr
    if env_factory is not None and config.workers > 0:
        raise ValueError("an env_factory object only works in-process (workers=0); for worker "
                         "processes give config.env_factory as 'module:callable'")
    catalog = catalog if catalog is not None else _load_object(config.catalog)
    config.tasks = resolve_tasks(config.tasks, catalog)
    summary = CollectSummary()
    for task in config.tasks:   # bad variations are refused before --out is created
        task_variations(task, config.variations, catalog)
    with _Lock(config.out):
        all_jobs = plan(config, catalog)
        summary.planned = len(all_jobs)
        pending = []
        for task in config.tasks:
            vs = task_variations(task, config.variations, catalog)
            _check_settings(config.out / task, _settings(config, vs))
            done, removed = _scan_task(layout.episodes_dir(config.out, task))
            summary.stale_removed += removed
            task_jobs = [j for j in all_jobs if j.task == task]
            summary.already_complete += sum(j.index in done for j in task_jobs)
            pending += [j for j in task_jobs if j.index not in done]
        print(f"[mn collect] {len(config.tasks)} task(s) x {config.episodes_per_task} episodes "
              f"-> {config.out}: {summary.already_complete} already complete, "
              f"{len(pending)} to record with {config.workers or 'no'} worker process(es)",
              file=stream, flush=True)
        if pending:
            progress = Progress("mn collect", len(pending), "episodes", config.log_every, stream,
                                per="min")
            try:
                if config.workers == 0:
                    _run_inline(config, pending, env_factory, summary, progress)
                else:
                    _run_workers(config, pending, summary, progress)
            finally:
                progress.close()
    summary.seconds = time.monotonic() - t0
    return summary


def _account(job: Job, report: dict, summary: CollectSummary, progress: Progress) -> None:
    summary.failed_attempts += report.get("failures", 0)
    if report["status"] == "done":
        summary.written += 1
    elif report["status"] == "failed":
        summary.failed_episodes.append({**asdict(job), "attempts": report["failures"],
                                        "reasons": report["reasons"]})
    else:
        summary.errors.append(f"{job.task} episode{job.index}: {report['error'].strip()}")
    progress.update(ok=report["status"] == "done")


def _run_inline(config, pending, env_factory, summary, progress) -> None:
    env = _make_env(config, env_factory)
    try:
        for job in pending:
            try:
                report = _record_episode(env, job, config)
            except Exception:
                report = {"status": "error", "error": traceback.format_exc()}
            _account(job, report, summary, progress)
    finally:
        env.close()


def _run_workers(config, pending, summary, progress) -> None:
    ctx = mp.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    n = min(config.workers, len(pending))
    for job in pending:
        jobs.put(job)
    for _ in range(n):
        jobs.put(None)
    procs = {wid: ctx.Process(target=_worker_main, name=f"mn-collect-{wid}",
                              args=(wid, config, jobs, results, os.getpid()), daemon=True)
             for wid in range(n)}
    # spawned workers copy os.environ at start: headless rendering from their first import on
    saved = {k: os.environ.get(k) for k in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    try:
        for k in saved:
            os.environ.setdefault(k, "egl")
        for p in procs.values():
            p.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
    running: dict[int, Job | None] = {wid: None for wid in procs}
    accounted = 0
    try:
        while running and accounted < len(pending):
            try:
                kind, wid, job, payload = results.get(timeout=1.0)
            except queue.Empty:
                for wid in [w for w in running if not procs[w].is_alive()]:
                    lost = running.pop(wid)
                    msg = f"worker {wid} died (exit code {procs[wid].exitcode})"
                    if lost is not None:
                        _account(lost, {"status": "error", "error": f"{msg} while recording "
                                        f"it"}, summary, progress)
                        accounted += 1
                    else:
                        summary.errors.append(msg)
                continue
            if kind == "start":
                running[wid] = job
            elif kind == "result":
                running[wid] = None
                _account(job, payload, summary, progress)
                accounted += 1
            elif kind == "fatal":
                running.pop(wid, None)
                summary.errors.append(f"worker {wid} could not create its environment:\n"
                                      f"{payload.strip()}")
            elif kind == "exit":
                running.pop(wid, None)
        left = len(pending) - accounted
        if left:
            summary.errors.append(f"{left} episode(s) not recorded: no worker left")
        for p in procs.values():
            p.join(timeout=30)
    finally:
        for p in procs.values():
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        jobs.close()
        results.close()
