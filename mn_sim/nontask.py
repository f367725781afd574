"""Videos in which no known instruction is carried out: what an observer must answer "none" to.

Five kinds, all from the observer camera at the dataset's image size (what the recognizer
watches), at 20 frames per simulated second:

    static        a task scene after reset, nothing moves (the scene of a random task/variation)
    grey          uniform grey frames (a random level per video), as a covered or dead camera
    noise         uniform random pixels, a new pattern every frame
    random_arm    the arm moving to random reachable poses above the table (collisions
                  ignored, gripper toggled at random), no task carried out
    other_task    an expert demonstration of a task that is not in the recognizer's vocabulary

Each video is a function of (seed, kind, index): generating a folder twice gives the same
videos. ROS-free, torch-free.

    index = generate("/tmp/nontask", per_kind=8, seed=0, exclude_tasks=["open_drawer"])
    for item, frames in load("/tmp/nontask"): ...      # frames (T, S, S, 3) uint8

A folder holds ``<kind>_<k>.npz`` (key ``frames``) and ``index.json`` (the settings and one
entry per video); it is written video by video and resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

KINDS = ("static", "grey", "noise", "random_arm", "other_task")
INDEX = "index.json"
FRAME_RATE = 20.0
# targets of the random arm: a box above the table (RLBench coordinates, table top z = 0.752)
ARM_BOX = np.array([[-0.05, -0.3, 0.85], [0.35, 0.3, 1.2]])


def video_seed(seed: int, kind: str, k: int) -> int:
    h = hashlib.sha256(f"mn-nontask:{seed}:{kind}:{k}".encode()).digest()
    return int.from_bytes(h[:4], "little")


def _length(rng: np.random.Generator) -> int:
    return int(rng.integers(40, 90))   # as long as a demonstration (40-90 frames at 20 Hz)


def _scene_tasks(exclude: Sequence[str]) -> list[str]:
    from mn_sim.tasks.registry import task_names
    return [t for t in task_names() if t not in set(exclude)] or list(task_names())


class _Generator:
    def __init__(self, image_size: int, exclude_tasks: Sequence[str]):
        self.size = image_size
        self.exclude = list(exclude_tasks)
        self._env = None

    @property
    def env(self):
        if self._env is None:
            from mn_sim.env import MNEnv
            from mn_sim.types import OBSERVER_CAMERA
            self._env = MNEnv(image_size=self.size, cameras=(OBSERVER_CAMERA,))
        return self._env

    def _reset(self, rng, tasks: Sequence[str]) -> dict:
        from mn_sim.tasks.registry import make_task
        task = str(rng.choice(list(tasks)))
        variation = int(rng.integers(0, make_task(task).variation_count()))
        seed = int(rng.integers(0, 2**31))
        self.env.reset(seed=seed, options={"task": task, "variation": variation,
                                           "render": False})
        return {"task": task, "variation": variation, "seed": seed}

    def _frame(self) -> np.ndarray:
        from mn_sim.types import OBSERVER_CAMERA
        return self.env.sim.render_rgb(OBSERVER_CAMERA, self.size)

    def make(self, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        s = self.size
        if kind == "grey":
            level = int(rng.integers(40, 216))
            return np.full((_length(rng), s, s, 3), level, np.uint8), {"level": level}
        if kind == "noise":
            return rng.integers(0, 256, (_length(rng), s, s, 3), dtype=np.uint8), {}
        if kind == "static":
            info = self._reset(rng, _scene_tasks([]))
            frame = self._frame()
            return np.repeat(frame[None], _length(rng), axis=0), info
        if kind == "random_arm":
            return self._random_arm(rng)
        if kind == "other_task":
            return self._other_task(rng)
        raise ValueError(f"unknown non-task kind {kind!r}; kinds: {', '.join(KINDS)}")

    def _random_arm(self, rng) -> tuple[np.ndarray, dict]:
        from scipy.spatial.transform import Rotation
        info = self._reset(rng, _scene_tasks([]))
        sim = self.env.sim
        frames = [self._frame()]
        sim.start_recording(1.0 / FRAME_RATE, lambda: frames.append(self._frame()))
        q0 = Rotation.from_quat(sim.tcp_pose()[3:7])
        moves, want = 0, int(rng.integers(3, 6))
        try:
            for _ in range(4 * want):   # unreachable targets are skipped
                pos = rng.uniform(ARM_BOX[0], ARM_BOX[1])
                quat = (Rotation.from_euler("z", rng.uniform(-np.pi / 2, np.pi / 2)) * q0).as_quat()
                moves += bool(sim.execute(pos, quat, bool(rng.integers(0, 2)), True).ok)
                if moves >= want:
                    break
        finally:
            sim.start_recording(None, None)
        return np.stack(frames), {**info, "moves": moves}

    def _other_task(self, rng) -> tuple[np.ndarray, dict]:
        from mn_sim.tasks.registry import make_task
        from mn_sim.types import OBSERVER_CAMERA
        tasks = _scene_tasks(self.exclude)
        for _attempt in range(5):
            task = str(rng.choice(tasks))
            variation = int(rng.integers(0, make_task(task).variation_count()))
            seed = int(rng.integers(0, 2**31))
            demo = self.env.record_demo(task, variation, seed, frame_rate=FRAME_RATE)
            if demo.success:
                frames = np.stack([o.cameras[OBSERVER_CAMERA].rgb for o in demo.observations])
                return frames, {"task": task, "variation": variation, "seed": seed,
                                "instruction": demo.descriptions[0]}
        raise RuntimeError(f"the experts failed 5 times in a row on {tasks}")

    def close(self) -> None:
        if self._env is not None:
            self._env.close()


def generate(out, per_kind: int, seed: int = 0, exclude_tasks: Sequence[str] = (),
             kinds: Sequence[str] = KINDS, image_size: int = 128, log=print) -> dict:
    """Write ``per_kind`` videos of each kind into ``out`` (resumable); returns the index.
    exclude_tasks: the recognizer's tasks (never shown as other_task)."""
    if per_kind < 1:
        raise ValueError(f"per_kind must be >= 1, got {per_kind}")
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ValueError(f"unknown non-task kinds {bad}; kinds: {', '.join(KINDS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"seed": int(seed), "per_kind": int(per_kind), "kinds": list(kinds),
                "image_size": int(image_size), "exclude_tasks": sorted(exclude_tasks),
                "frame_rate": FRAME_RATE}
    index_path = out / INDEX
    index = {"settings": settings, "videos": []}
    if index_path.is_file():
        old = json.loads(index_path.read_text())
        if old.get("settings") != settings:
            raise ValueError(f"{out} holds non-task videos made with other settings "
                             f"{old.get('settings')}; use another folder")
        index = old
    done = {v["file"] for v in index["videos"]}
    gen = _Generator(image_size, exclude_tasks)
    try:
        for kind in kinds:
            for k in range(per_kind):
                name = f"{kind}_{k}.npz"
                if name in done and (out / name).is_file():
                    continue
                frames, info = gen.make(kind, np.random.default_rng(video_seed(seed, kind, k)))
                tmp = out / f".{name}.tmp-{os.getpid()}.npz"
                np.savez(tmp, frames=frames)
                os.replace(tmp, out / name)
                index["videos"].append({"file": name, "kind": kind, "index": k,
                                        "frames": int(len(frames)), **info})
                _write_index(index_path, index)
                log(f"[mn nontask] {name}: {len(frames)} frames {info}")
    finally:
        gen.close()
    return index


def _write_index(path: Path, index: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(index, indent=1) + "\n")
    os.replace(tmp, path)


def load(folder) -> Iterator[tuple[dict, np.ndarray]]:
    """(index entry, frames (T, S, S, 3) uint8) of every video of a generated folder."""
    folder = Path(folder)
    index_path = folder / INDEX
    if not index_path.is_file():
        raise FileNotFoundError(f"{folder} has no {INDEX}: generate non-task videos first "
                                "(`mn calibrate` makes them, or mn_sim.nontask.generate)")
    index = json.loads(index_path.read_text())
    for item in index["videos"]:
        with np.load(folder / item["file"], allow_pickle=False) as z:
            yield item, z["frames"]


def settings(folder) -> dict:
    return json.loads((Path(folder) / INDEX).read_text())["settings"]
