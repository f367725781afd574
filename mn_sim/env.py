"""MNEnv: a gymnasium-style environment over the MuJoCo Panda and the RLBench task suite.

    env = MNEnv()
    obs, info = env.reset(seed=0, options={"task": "open_drawer", "variation": 2})
    obs, reward, terminated, truncated, info = env.step(action)   # action: 9 numbers or Action

An action is RLBench's EndEffectorPoseViaPlanning + discrete gripper: [x, y, z, qx, qy, qz, qw,
gripper_open, ignore_collisions]. A target that is unreachable, or whose path collides (unless
collisions are ignored), ends the episode as a failure; info["failure_reason"] says why. A
malformed action (NaN or inf, not 9 numbers, a zero quaternion) is not a failure of the task but
a bug in whatever made it (a policy that outputs NaN): step raises InvalidActionError.
"""
from __future__ import annotations

import numpy as np

from mn_sim.sim import Sim
from mn_sim.tasks.base import check_variation
from mn_sim.tasks.registry import make_task
from mn_sim.types import CAMERAS, DISPLAY_SIZE, OBSERVER_CAMERA, Action, Demo, Observation

MAX_EPISODE_STEPS = 25


class InvalidActionError(ValueError):
    """A malformed action: raised by MNEnv.step instead of ending the episode as a failure."""


def check_action(action) -> Action:
    """An Action or 9 numbers -> Action; InvalidActionError says what is malformed."""
    try:
        a = np.asarray(action.to_array() if isinstance(action, Action) else action,
                       dtype=float).reshape(-1)
    except (TypeError, ValueError) as e:
        problem = f"{action!r} is not numbers ({e})"
    else:
        if a.size != 9:
            problem = (f"it has {a.size} numbers, not 9 [x, y, z, qx, qy, qz, qw, gripper_open, "
                       f"ignore_collisions]")
        elif not np.all(np.isfinite(a)):
            problem = f"it contains NaN or inf: {a.tolist()}"
        elif np.linalg.norm(a[3:7]) < 1e-6:
            problem = f"its quaternion {a[3:7].tolist()} has length 0"
        else:
            return action if isinstance(action, Action) else Action.from_array(a)
    raise InvalidActionError(
        f"malformed action: {problem}. This is a bug in whatever produced the action (e.g. a "
        f"policy whose output is NaN), not a failed episode")


class MNEnv:
    """See the module docstring; mn_sim.gym_wrapper.MNGymEnv is the gymnasium view."""

    def __init__(self, image_size: int = 128, cameras=CAMERAS, max_steps: int = MAX_EPISODE_STEPS,
                 task: str | None = None, render_mode: str | None = "rgb_array",
                 masks: bool = False):
        self.image_size = image_size
        self.cameras = tuple(cameras)
        self.masks = bool(masks)   # observations carry segmentation masks (mn_sim.sim)
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.default_task = task
        self.sim: Sim | None = None
        self.task = None
        self.descriptions: list[str] = []
        self.steps = 0
        self.done = False

    # ------------------------------------------------------------------ set-up
    def _load_task(self, name: str) -> None:
        if self.task is not None and self.task.name == name:
            return
        task = make_task(name)   # raises with the list of known tasks
        if self.sim is not None:
            self.sim.close()
        self.sim = Sim(task, image_size=self.image_size, cameras=self.cameras,
                       masks=self.masks)
        task.sim = self.sim
        self.sim.monitor = task.monitor
        self.task = task

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        options = dict(options or {})
        name = options.get("task", self.default_task if self.task is None else self.task.name)
        if name is None:
            raise ValueError("reset needs options={'task': <name>}; see `mn tasks` for the names")
        self._load_task(name)
        variation = check_variation(self.task, options.get("variation", 0))
        self.task.rng = np.random.default_rng(seed)
        self.task.variation = variation
        self.sim.reset_robot()
        self.descriptions = list(self.task.init_episode(variation))
        self.sim.forward()
        self.sim.settle(0.2)
        self.steps, self.done = 0, False
        obs = self.observe(render=options.get("render", True))
        return obs, {"descriptions": self.descriptions, "variation": variation, "task": name}

    # ------------------------------------------------------------------ stepping
    def observe(self, render: bool = True) -> Observation:
        return self.sim.observe(self.task.low_dim_state(), render=render)

    def step(self, action, render: bool = True):
        if self.sim is None or self.done:
            raise RuntimeError("call reset() before step() (and again after an episode ends)")
        action = check_action(action)
        result = self.sim.execute(action.position, action.quaternion, action.gripper_open,
                                  action.ignore_collisions)
        self.steps += 1
        if not result.ok:
            return self._end(False, result.reason, render)
        success = self.task.success()
        truncated = (not success) and self.steps >= self.max_steps
        self.done = success or truncated
        obs = self.sim.observe(self.task.low_dim_state(), render=render,
                               ignore_collisions=float(action.ignore_collisions))
        return obs, float(success), success, truncated, {"success": success, "failure_reason": ""}

    def _end(self, success: bool, reason: str, render: bool):
        self.done = True
        self.steps += 1
        obs = self.observe(render=render)
        return obs, 0.0, True, False, {"success": success, "failure_reason": reason}

    def render(self, size: int = DISPLAY_SIZE, camera: str = OBSERVER_CAMERA) -> np.ndarray:
        """What a person watches: the observer camera at `size` (default 256) pixels."""
        return self.sim.render_rgb(camera, size)

    # ------------------------------------------------------------------ demonstrations
    def record_demo(self, task: str, variation: int, seed: int, frame_rate: float | None = 20.0,
                    max_steps: int = MAX_EPISODE_STEPS) -> Demo:
        """Run the task's scripted expert and record observations.

        frame_rate: frames per simulated second during motions; None records only after each
        action (keyframe-only)."""
        obs0, info = self.reset(seed=seed, options={"task": task, "variation": variation})
        frames: list[Observation] = [obs0]
        action_frames: list[int] = []
        ignore = [1.0]

        def grab():
            frames.append(self.sim.observe(self.task.low_dim_state(), ignore_collisions=ignore[0]))

        self.sim.start_recording(None if frame_rate is None else 1.0 / frame_rate,
                                 grab if frame_rate else None)
        success, reason = False, ""
        try:
            for action in self.task.expert():
                ignore[0] = float(action.ignore_collisions)
                obs, _, terminated, truncated, step_info = self.step(action, render=True)
                frames.append(obs)
                action_frames.append(len(frames) - 1)
                if terminated or truncated:
                    success, reason = step_info["success"], step_info["failure_reason"]
                    break
                if self.steps >= max_steps:
                    reason = "expert exceeded the step limit"
                    break
            else:
                success = self.task.success()
                reason = "" if success else "expert finished without meeting the success conditions"
        finally:
            self.sim.start_recording(None, None)
        if not success and not reason:
            reason = "expert finished without meeting the success conditions"
        return Demo(task=task, variation=variation, descriptions=info["descriptions"], seed=seed,
                    observations=frames, success=bool(success), failure_reason=reason,
                    action_frames=action_frames, frame_rate=frame_rate,
                    mask_labels=self.sim.mask_labels() if self.masks else {})

    def run_expert(self, task: str, variation: int, seed: int) -> tuple[bool, str, int]:
        """Run the expert without rendering; returns (success, failure_reason, steps)."""
        self.reset(seed=seed, options={"task": task, "variation": variation, "render": False})
        for action in self.task.expert():
            _, _, terminated, truncated, info = self.step(action, render=False)
            if terminated or truncated:
                return info["success"], info["failure_reason"], self.steps
        ok = self.task.success()
        return ok, "" if ok else "expert finished without meeting the success conditions", self.steps

    def close(self):
        if self.sim is not None:
            self.sim.close()
            self.sim = None
            self.task = None
