"""keypoint_discovery on hand-built trajectories: gripper toggles, stops, cool-down, adjacency."""
from types import SimpleNamespace

import numpy as np
import pytest

from mn_sim.dataset.safe_pickle import RLBenchDemo
from mn_sim.keyframes import keypoint_discovery
from mn_sim.types import Observation

MOVING, STILL = 0.5, 0.0


def traj(grip, speed):
    """Observations with the given gripper states and (per frame) joint speed."""
    assert len(grip) == len(speed)
    return [SimpleNamespace(gripper_open=float(g), joint_velocities=np.full(7, s))
            for g, s in zip(grip, speed)]


def test_gripper_toggles_and_last_frame():
    grip = [1, 1, 1, 0, 0, 0, 0, 1, 1, 1]
    assert keypoint_discovery(traj(grip, [MOVING] * 10)) == [3, 7, 9]


def test_single_stop_is_a_keyframe():
    speed = [MOVING] * 12
    speed[4] = STILL
    assert keypoint_discovery(traj([1] * 12, speed)) == [4, 11]


def test_stop_cooldown_blocks_the_next_four_frames():
    speed = [MOVING] * 15
    for i in range(4, 10):
        speed[i] = STILL  # the arm rests on frames 4..9
    # stop at 4; 5..8 are in the cool-down; 9 is the next stop
    assert keypoint_discovery(traj([1] * 15, speed)) == [4, 9, 14]


def test_all_still_frame0_starts_the_cooldown():
    # frame 0 counts as a stop (it sets the cool-down) but is never a keyframe itself
    assert keypoint_discovery(traj([1] * 12, [STILL] * 12)) == [5, 11]


def test_bounds_are_clamped_not_wrapped():
    # PerAct indexes frame i-2 with Python's negative indexing, so for i < 2 it would compare
    # with the *last* frames (gripper closed here) and find a stop at frame 2. Clamped to frame
    # 0, frame 0 is a stop, 1..4 cool down, 5 is the next stop.
    grip = [1] * 7 + [0] * 3
    assert keypoint_discovery(traj(grip, [STILL] * 10)) == [5, 7, 9]
    assert keypoint_discovery(traj(grip, [STILL] * 10), peract_wraparound=True) == [2, 7, 9]


def test_gripper_change_nearby_prevents_a_stop():
    speed = [MOVING] * 12
    speed[5] = STILL
    grip = [1] * 12
    grip[6:] = [0] * 6  # gripper changes between 5 and 6: frame 5 is not a steady stop
    assert keypoint_discovery(traj(grip, speed)) == [6, 11]
    grip = [1] * 12
    grip[4:] = [0] * 8  # changes between 3 and 4: frame 5's window 3..6 is not steady either
    assert keypoint_discovery(traj(grip, speed)) == [4, 11]


def test_second_to_last_frame_is_never_a_stop():
    speed = [MOVING] * 8
    speed[6] = STILL
    assert keypoint_discovery(traj([1] * 8, speed)) == [7]


def test_adjacent_last_two_keyframes_drop_the_earlier():
    grip = [1, 1, 1, 1, 1, 1, 0, 0]  # toggle at 6, last frame 7
    assert keypoint_discovery(traj(grip, [MOVING] * 8)) == [7]
    grip = [1, 1, 0, 0, 0, 0, 1, 1]  # 2, 6, 7 -> only the last pair is merged
    assert keypoint_discovery(traj(grip, [MOVING] * 8)) == [2, 7]


def test_stopping_delta_is_inclusive_and_uses_every_joint():
    speed = [MOVING] * 10
    obs = traj([1] * 10, speed)
    obs[4].joint_velocities = np.array([0.1, -0.1, 0, 0, 0, 0, 0.05])
    assert keypoint_discovery(obs) == [4, 9]
    obs[4].joint_velocities = np.array([0.1, -0.1, 0, 0, 0, 0, 0.1001])
    assert keypoint_discovery(obs) == [9]
    assert keypoint_discovery(obs, stopping_delta=0.2) == [4, 9]


def test_short_episodes():
    assert keypoint_discovery([]) == []
    assert keypoint_discovery(traj([1], [STILL])) == []
    assert keypoint_discovery(traj([1, 1], [MOVING, MOVING])) == [1]


def test_accepts_mn_observations_and_rlbench_demo():
    def ob(g, s):
        return Observation(np.zeros(7), np.full(7, s), np.zeros(7), g, np.zeros(7), np.eye(4),
                           np.zeros(2), np.zeros(0))
    grip = [1, 1, 1, 0, 0, 0, 0, 1, 1, 1]
    obs = [ob(g, MOVING) for g in grip]
    assert keypoint_discovery(obs) == [3, 7, 9]
    demo = RLBenchDemo()
    demo._observations = obs
    assert keypoint_discovery(demo) == [3, 7, 9]


@pytest.mark.parametrize("seed", range(5))
def test_invariants_on_random_trajectories(seed):
    rng = np.random.default_rng(seed)
    n = 40
    grip = np.repeat(rng.integers(0, 2, 8), 5)
    speed = np.where(rng.random(n) < 0.4, STILL, MOVING)
    kfs = keypoint_discovery(traj(grip, speed))
    assert kfs == sorted(set(kfs)) and kfs[-1] == n - 1 and 0 not in kfs
    for i in range(1, n - 1):  # every gripper change is a keyframe (unless merged at the end)
        if grip[i] != grip[i - 1] and i != n - 2:
            assert i in kfs
    stops = [k for k in kfs if grip[k] == grip[k - 1] and k != n - 1]
    assert all(b - a >= 5 for a, b in zip(stops, stops[1:]))  # the cool-down
