"""The task contract, RLBench's shape: one file per task under mn_sim/tasks/, class named after
the file (open_drawer.py -> OpenDrawer).

Hooks a task implements:
    init_task(scene)            add its objects to the scene (once, when the scene is built)
    init_episode(variation)     place objects for a new episode (use self.rng), register success
                                conditions, return the instruction strings (first = canonical)
    variation_count()           number of variations
    expert()                    generator of mn_sim.types.Action: a scripted demonstration that
                                drives the same action interface a policy uses
Optional: low_dim_state() (default: positions of the bodies listed in `state_bodies`).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from mn_sim.conditions import Condition
from mn_sim.geometry import quat_to_mat, top_down_quat
from mn_sim.scene import TABLE_Z
from mn_sim.types import Action

COLORS: list[tuple[str, tuple[float, float, float]]] = [
    ("red", (1.0, 0.0, 0.0)), ("maroon", (0.5, 0.0, 0.0)), ("lime", (0.0, 1.0, 0.0)),
    ("green", (0.0, 0.5, 0.0)), ("blue", (0.0, 0.0, 1.0)), ("navy", (0.0, 0.0, 0.5)),
    ("yellow", (1.0, 1.0, 0.0)), ("cyan", (0.0, 1.0, 1.0)), ("magenta", (1.0, 0.0, 1.0)),
    ("silver", (0.75, 0.75, 0.75)), ("gray", (0.5, 0.5, 0.5)), ("orange", (1.0, 0.5, 0.0)),
    ("olive", (0.5, 0.5, 0.0)), ("purple", (0.5, 0.0, 0.5)), ("teal", (0, 0.5, 0.5)),
    ("azure", (0.0, 0.5, 1.0)), ("violet", (0.5, 0.0, 1.0)), ("rose", (1.0, 0.0, 0.5)),
    ("black", (0.0, 0.0, 0.0)), ("white", (1.0, 1.0, 1.0)),
]   # RLBench's 20 colours (rlbench/const.py), in its order


class Task:
    """Base class of every task. Subclasses set `state_bodies` and implement the hooks."""

    state_bodies: tuple[str, ...] = ()

    def __init__(self):
        self.sim = None
        self.rng = np.random.default_rng(0)
        self.variation = 0
        self._success: list[Condition] = []

    # ---- identity
    @property
    def name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]

    # ---- hooks
    def init_task(self, scene) -> None:
        raise NotImplementedError

    def init_episode(self, variation: int) -> list[str]:
        raise NotImplementedError

    def variation_count(self) -> int:
        raise NotImplementedError

    def expert(self) -> Iterator[Action]:
        raise NotImplementedError

    def low_dim_state(self) -> np.ndarray:
        if not self.state_bodies:
            return np.zeros(0)
        return np.concatenate([self.sim.body_pos(b) for b in self.state_bodies])

    # ---- helpers for subclasses
    def register_success_conditions(self, conditions: list[Condition]) -> None:
        self._success = list(conditions)
        for c in self._success:
            c.reset()

    def success(self) -> bool:
        return bool(self._success) and all(c.condition_met(self.sim) for c in self._success)

    def monitor(self) -> None:
        """Called during physics so stateful conditions see transient states."""
        for c in self._success:
            if c.stateful:
                c.condition_met(self.sim)

    def sample_xy(self, n: int, x_range, y_range, min_dist: float, tries: int = 500) -> np.ndarray:
        """n points in a rectangle, pairwise at least min_dist apart (RLBench's SpawnBoundary)."""
        for _ in range(tries):
            pts = np.stack([self.rng.uniform(*x_range, size=n), self.rng.uniform(*y_range, size=n)], 1)
            d = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(n) * 1e9
            if d.min() >= min_dist:
                return pts
        raise RuntimeError(f"{self.name}: could not place {n} objects {min_dist} m apart")

    @staticmethod
    def action(pos, quat, gripper_open: bool = True, ignore_collisions: bool = True) -> Action:
        return Action(np.asarray(pos, float), np.asarray(quat, float), gripper_open, ignore_collisions)

    @staticmethod
    def down(yaw: float = 0.0) -> np.ndarray:
        """Top-down gripper orientation with the given yaw (xyzw)."""
        return top_down_quat(yaw)

    @staticmethod
    def nearest_yaw(yaw: float, symmetry: float = np.pi) -> float:
        """Equivalent grasp yaw closest to 0 (the Panda's wrist has a limited range)."""
        return (yaw + symmetry / 2) % symmetry - symmetry / 2

    def held_offset(self, body: str) -> np.ndarray:
        """Where `body` sits in the hand: its position in the tool frame, measured now (experts
        measure it once the object is held, since it may shift while the fingers close)."""
        tcp = self.sim.tcp_pose()
        return quat_to_mat(tcp[3:]).T @ (self.sim.body_pos(body) - tcp[:3])

    @staticmethod
    def tool_position(point, quat, offset) -> np.ndarray:
        """The tool position that brings a held point (`offset` in the tool frame, see
        held_offset) to `point` with the hand turned to `quat` (xyzw)."""
        return point - quat_to_mat(quat) @ offset

    def pick_reachable(self, positions, quats) -> np.ndarray:
        """The first orientation in `quats` whose IK converges at every position (experts use
        this to choose between symmetric grasps, e.g. a parallel gripper turned by 180 deg)."""
        for q in quats:
            if all(self.sim._ik_ok(*self.sim.ik_with_restarts(p, q)[1:]) for p in positions):
                return np.asarray(q)
        return np.asarray(quats[0])

    table_z = TABLE_Z


def check_variation(task: Task, variation: int) -> int:
    n = task.variation_count()
    if not isinstance(variation, (int, np.integer)) or not 0 <= int(variation) < n:
        raise ValueError(f"task {task.name!r} has variations 0..{n - 1}; got {variation!r}")
    return int(variation)
