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


def test_start_of_episode_peract_wraps_mn_clamps():
    # PerAct indexes frame i-2 with Python's negative indexing, so for i < 2 it compares with
    # the *last* frames (gripper closed here): frames 0 and 1 are no stops, frame 2 is. mn's
    # variant clamps to frame 0: frame 0 is a stop, 1..4 cool down, 5 is the next stop.
    grip = [1] * 7 + [0] * 3
    assert keypoint_discovery(traj(grip, [STILL] * 10)) == [2, 7, 9]   # default: PerAct's
    assert keypoint_discovery(traj(grip, [STILL] * 10), method="peract") == [2, 7, 9]
    assert keypoint_discovery(traj(grip, [STILL] * 10), method="mn") == [5, 7, 9]
    with pytest.raises(ValueError, match="'peract', 'mn'"):
        keypoint_discovery(traj(grip, [STILL] * 10), method="clamped")


def peract_reference(demo, delta=0.1):
    """PerAct's/ARP's keypoint discovery restated line by line, Python's negative indexing
    included: a frame is a stop if its velocities are within delta, its gripper state equals
    demo[i+1]'s and demo[i-1]'s, demo[i-2]'s equals demo[i-1]'s, i < len - 2, and the stop
    buffer (4 after a stop, counting down) is spent."""
    kps, prev, buf = [], demo[0].gripper_open, 0
    for i, obs in enumerate(demo):
        steady = (i < len(demo) - 2 and obs.gripper_open == demo[i + 1].gripper_open
                  and obs.gripper_open == demo[i - 1].gripper_open
                  and demo[i - 2].gripper_open == demo[i - 1].gripper_open)
        small = np.allclose(obs.joint_velocities, 0, atol=delta)
        stopped = buf <= 0 and small and i != len(demo) - 2 and steady
        buf = 4 if stopped else buf - 1
        if i != 0 and (obs.gripper_open != prev or i == len(demo) - 1 or stopped):
            kps.append(i)
        prev = obs.gripper_open
    if len(kps) > 1 and kps[-1] - 1 == kps[-2]:
        kps.pop(-2)
    return kps


def test_peract_method_matches_peracts_code_where_the_arm_rests_first():
    rng = np.random.default_rng(0)
    same_mn = 0
    for _ in range(1000):
        n = int(rng.integers(8, 40))
        rest = int(rng.integers(0, 6))                 # the arm rests in the first frames
        grip = np.repeat(rng.integers(0, 2, 6), -(-n // 6))[:n]
        speed = np.where(rng.random(n) < 0.3, STILL, MOVING)
        speed[:rest] = STILL
        obs = traj(grip, speed)
        want = peract_reference(obs)
        assert keypoint_discovery(obs) == want
        assert keypoint_discovery(obs, method="peract") == want
        same_mn += keypoint_discovery(obs, method="mn") == want
    assert 500 < same_mn < 1000      # mn's variant differs on some of these, only there


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
