"""mn_sim: the embedded MuJoCo Franka Panda simulator with the RLBench task suite. ROS-free.

Public entry points:
    from mn_sim import make_env, list_tasks
    env = make_env()                       # MuJoCo backend (default)
    obs, info = env.reset(seed=0, options={"task": "open_drawer", "variation": 0})
    obs, reward, terminated, truncated, info = env.step(action)
"""
from mn_sim.types import CAMERAS, Action, CameraObs, Observation  # noqa: F401


def list_tasks():
    from mn_sim.tasks import registry
    return registry.task_names()


def make_env(backend: str = "mujoco", **kwargs):
    """Create an environment. backend: "mujoco" (embedded default) or "rlbench" (CoppeliaSim)."""
    if backend == "mujoco":
        from mn_sim.env import MNEnv
        return MNEnv(**kwargs)
    if backend == "rlbench":
        from mn_sim.rlbench_backend import RLBenchEnv
        return RLBenchEnv(**kwargs)
    raise ValueError(f"unknown backend {backend!r}; choose 'mujoco' or 'rlbench'")
