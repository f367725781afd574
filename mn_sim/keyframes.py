"""Keyframe discovery as PerAct/ARP do it on RLBench demonstrations.

A frame i > 0 is a keyframe when
- the gripper open state differs from frame i-1's, or
- it is the last frame, or
- the arm stopped: every joint velocity is within ``stopping_delta`` of 0, the gripper state
  is the same on frames i-2, i-1, i and i+1, i is not the second-to-last frame, and no stop
  was detected on the previous 4 frames (a stop at i blocks stops at i+1..i+4).
Finally, if the last two keyframes are adjacent, the earlier one is dropped.

Two methods, by name (:data:`KEYFRAME_METHODS`):
- ``"peract"`` (the default): exactly what PerAct's and ARP's code compute. For i < 2 they look
  frames i-1 and i-2 up with Python's negative indexing, i.e. they compare frame 0 and 1 with
  the *last* frames of the episode. This is what PerAct, ARP and RVT trained on, and what
  ARP's released kfs.json files hold.
- ``"mn"``: the same rules with those look-ups clamped to frame 0, which is what "the gripper
  did not change over i-2..i+1" means. The two differ only when the arm rests in the first
  frames: with the gripper state at the end of the episode differing from the start, PerAct's
  frame 0 is no stop and a resting arm gives a keyframe at frame 2; clamped, frame 0 is a stop
  and its cool-down pushes that keyframe to frame 5. (Frame 0 is never a keyframe itself.)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

STOP_COOLDOWN = 4  # frames after a stop during which no new stop is detected
KEYFRAME_METHODS = ("peract", "mn")


def _gripper_steady(grip: Sequence[float], i: int, wrap: bool = False) -> bool:
    """Gripper state equal on frames i-2, i-1, i, i+1 (clamped to frame 0, or wrapped)."""
    n = len(grip)
    if i >= n - 2:  # PerAct requires i < n - 2: there must be a frame i+1 that is not last
        return False
    idx = [i - 2, i - 1, i, i + 1] if wrap else [max(i - 2, 0), max(i - 1, 0), i, i + 1]
    return all(grip[j] == grip[i] for j in idx)


def keypoint_discovery(demo_obs: Sequence, stopping_delta: float = 0.1,
                       method: str = "peract") -> list[int]:
    """Indices of the keyframes of a demonstration.

    Args:
        demo_obs: the observations in order; each needs ``gripper_open`` and
            ``joint_velocities`` (mn_sim.types.Observation, an RLBench Observation, ...).
            An RLBench-style Demo (``len`` + indexing) works too.
        stopping_delta: joint speed (rad/s) under which the arm counts as stopped.
        method: "peract" (PerAct's/ARP's code, frames i-1, i-2 wrap around for i < 2) or
            "mn" (those look-ups clamped to frame 0); see the module docstring.
    Returns:
        Sorted frame indices (frame 0 is never a keyframe).
    """
    if method not in KEYFRAME_METHODS:
        raise ValueError(f"keyframe method must be one of {KEYFRAME_METHODS}; got {method!r}")
    wrap = method == "peract"
    n = len(demo_obs)
    if n == 0:
        return []
    grip = [float(demo_obs[i].gripper_open) for i in range(n)]
    keyframes: list[int] = []
    cooldown = 0  # > 0: frames left during which a stop cannot be detected
    for i in range(n):
        vel = np.asarray(demo_obs[i].joint_velocities, dtype=float)
        stopped = (cooldown <= 0 and bool(np.all(np.abs(vel) <= stopping_delta))
                   and _gripper_steady(grip, i, wrap))
        cooldown = STOP_COOLDOWN if stopped else cooldown - 1
        if i == 0:
            continue
        if grip[i] != grip[i - 1] or i == n - 1 or stopped:
            keyframes.append(i)
    if len(keyframes) > 1 and keyframes[-2] == keyframes[-1] - 1:
        keyframes.pop(-2)
    return keyframes
