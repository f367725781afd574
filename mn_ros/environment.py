"""The environment mn runs in: the defaults `mn` sets before anything imports mujoco or rclpy.

One table (DEFAULTS) for the CLI and for shells: `mn` applies it at start-up (mn_ros/cli.py),
and scripts/env.sh exports the same names and values for scripts and other shells
(test/ros/test_cli_installed.py checks that the two agree). A value the user set is kept; an
empty one counts as unset, as `${NAME:-default}` does in the shell. Child processes (worker
pools, the node processes of `mn bringup` / `mn demo`) inherit os.environ, so they get the same.

Standard library only: no rclpy, no mujoco, nothing that reads these variables at import.
"""
from __future__ import annotations

import os
from typing import MutableMapping

# name -> (default, why)
DEFAULTS: dict[str, tuple[str, str]] = {
    "MUJOCO_GL": ("egl", "headless rendering (no display needed)"),
    "PYOPENGL_PLATFORM": ("egl", "PyOpenGL on the same EGL platform as MuJoCo"),
    "ROS_AUTOMATIC_DISCOVERY_RANGE": ("LOCALHOST", "ROS 2 discovery stays on this machine"),
    "FASTDDS_BUILTIN_TRANSPORTS": ("UDPv4", "Fast DDS over UDP only (no shared-memory transport)"),
    "HF_HUB_OFFLINE": ("1", "no network at run time (Hugging Face Hub)"),
    "TRANSFORMERS_OFFLINE": ("1", "no network at run time (transformers)"),
}


def apply_defaults(env: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set every DEFAULTS name that is unset or empty in ``env`` (default: os.environ, so
    child processes inherit them); returns what was set. Values already set are kept."""
    env = os.environ if env is None else env
    added = {}
    for name, (value, _why) in DEFAULTS.items():
        if not env.get(name):
            env[name] = value
            added[name] = value
    return added


def shell_exports() -> str:
    """The lines scripts/env.sh holds: ``export NAME="${NAME:-default}"`` per default."""
    return "".join(f'export {name}="${{{name}:-{value}}}"  # {why}\n'
                   for name, (value, why) in DEFAULTS.items())


if __name__ == "__main__":   # python -m mn_ros.environment: what env.sh should contain
    print(shell_exports(), end="")
