"""A gymnasium view of MNEnv: dict observations that match `observation_space`, so gymnasium
tooling (wrappers, env_checker, vector envs) can drive the simulator.

    import gymnasium as gym, mn_sim.gym_wrapper
    env = gym.make("mn/Panda-v0", task="open_drawer")
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mn_sim.env import MNEnv
from mn_sim.scene import WORKSPACE_BOUNDS
from mn_sim.types import CAMERAS, Observation


class MNGymEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, task: str = "open_drawer", variation: int | None = None,
                 image_size: int = 128, cameras=CAMERAS, render_mode: str | None = "rgb_array"):
        self.env = MNEnv(image_size=image_size, cameras=cameras, task=task)
        self.task, self.variation = task, variation
        self.cameras = tuple(cameras)
        self.render_mode = render_mode
        lo, hi = np.array(WORKSPACE_BOUNDS[:3]), np.array(WORKSPACE_BOUNDS[3:])
        self.action_space = spaces.Box(
            low=np.concatenate([lo, -np.ones(4), [0.0, 0.0]]),
            high=np.concatenate([hi, np.ones(4), [1.0, 1.0]]), dtype=np.float64)
        s = image_size
        self.observation_space = spaces.Dict({
            **{f"{c}_rgb": spaces.Box(0, 255, (s, s, 3), np.uint8) for c in self.cameras},
            **{f"{c}_depth": spaces.Box(0.0, np.inf, (s, s), np.float32) for c in self.cameras},
            "joint_positions": spaces.Box(-np.inf, np.inf, (7,), np.float64),
            "gripper_pose": spaces.Box(-np.inf, np.inf, (7,), np.float64),
            "gripper_open": spaces.Box(0.0, 1.0, (1,), np.float64),
        })

    def _dict(self, obs: Observation) -> dict:
        d = {}
        for c in self.cameras:
            d[f"{c}_rgb"] = obs.cameras[c].rgb
            d[f"{c}_depth"] = obs.cameras[c].depth.astype(np.float32)
        d["joint_positions"] = obs.joint_positions.astype(np.float64)
        d["gripper_pose"] = obs.gripper_pose.astype(np.float64)
        d["gripper_open"] = np.array([obs.gripper_open], dtype=np.float64)
        return d

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        options = dict(options or {})
        options.setdefault("task", self.task)
        if "variation" not in options:
            n = None if self.variation is not None else self._variation_count(options["task"])
            options["variation"] = self.variation if n is None else int(self.np_random.integers(n))
        obs, info = self.env.reset(seed=seed, options=options)
        return self._dict(obs), info

    def _variation_count(self, task: str) -> int:
        from mn_sim.tasks.registry import make_task
        return make_task(task).variation_count()

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(np.asarray(action, dtype=float))
        return self._dict(obs), reward, terminated, truncated, info

    def render(self):
        return self.env.render()

    def close(self):
        self.env.close()


gym.register(id="mn/Panda-v0", entry_point="mn_sim.gym_wrapper:MNGymEnv", max_episode_steps=25)
