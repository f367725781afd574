"""Keyframe-to-keyframe samples and policy batches built from mn_sim observations."""
import numpy as np
import pytest
import torch

from mn_models.policy import batch_from_observations, batch_from_samples, keyframe_samples
from mn_models.policy import constants as K
from mn_models.policy import make_policy
from mn_models.policy.synthetic import CAMERA_POSES, TABLE_Z, intrinsics, look_at, raycast
from mn_sim.types import CameraObs, Observation

CAMS = ("front", "wrist")


pytestmark = pytest.mark.usefixtures("one_thread")


def make_episode(n=10, close_at=4, hw=16):
    """n frames; the gripper closes at ``close_at``; the arm never stops."""
    Km = intrinsics(hw)
    box = [((0.1, -0.05, TABLE_Z), (0.2, 0.05, TABLE_Z + 0.08))]
    obs = []
    for i in range(n):
        cams = {}
        for c in CAMS:
            T = look_at(*CAMERA_POSES[c])
            depth, rgb = raycast(box, [(200, 20, 20)], T, Km, hw)
            cams[c] = CameraObs(rgb=rgb, depth=depth, intrinsics=Km, extrinsics=T, near=0.1,
                                far=4.0)
        grip = 1.0 if i < close_at else 0.0
        obs.append(Observation(
            joint_positions=np.zeros(7), joint_velocities=np.full(7, 0.5),
            joint_forces=np.zeros(7), gripper_open=grip,
            gripper_pose=np.array([0.1 + 0.01 * i, 0.0, 1.0 - 0.01 * i, 1.0, 0, 0, 0]),
            gripper_matrix=np.eye(4), gripper_joint_positions=np.array([0.04, 0.04]) * grip,
            task_low_dim_state=np.zeros(0), ignore_collisions=float(i % 2), cameras=cams))
    return obs


def test_k2k_samples_pair_previous_keyframe_with_next_keyframe():
    ep = make_episode()
    samples = keyframe_samples(ep, "pick up the red block")     # keyframes from mn_sim: [4, 9]
    assert [(s.frame, s.keyframe) for s in samples] == [(0, 4), (4, 9)]
    s = samples[1]
    np.testing.assert_allclose(s.action[:7], ep[9].gripper_pose)
    assert s.action[7] == ep[9].gripper_open and s.action[8] == ep[9].ignore_collisions
    assert s.observation is ep[4] and s.instruction == "pick up the red block"


def test_all_mode_and_explicit_keyframes():
    ep = make_episode()
    samples = keyframe_samples(ep, "x", keyframes=[3, 7, 9], mode="all")
    assert [(s.frame, s.keyframe) for s in samples] == (
        [(i, 3) for i in range(0, 3)] + [(i, 7) for i in range(3, 7)] + [(7, 9), (8, 9)])
    with pytest.raises(ValueError, match="strictly increasing"):
        keyframe_samples(ep, "x", keyframes=[5, 5])
    with pytest.raises(ValueError, match="strictly increasing"):
        keyframe_samples(ep, "x", keyframes=[0, 4])
    with pytest.raises(ValueError, match="mode"):
        keyframe_samples(ep, "x", keyframes=[4], mode="o2k")


def test_batch_from_observations_layout_and_errors():
    ep = make_episode(n=3)
    b = batch_from_observations(ep, [49406, 320, 49407, 0], cameras=CAMS)
    assert b[K.rgb_key("front")].shape == (3, 16, 16, 3) and b[K.rgb_key("front")].dtype == \
        torch.uint8
    assert b[K.depth_key("wrist")].shape == (3, 16, 16)
    assert b[K.extrinsics_key("front")].shape == (3, 4, 4)
    torch.testing.assert_close(b[K.PROPRIO][0], torch.tensor([1.0, 0.04, 0.04]))
    assert b[K.LANG_TOKENS].shape == (3, 4) and b[K.LANG_MASK][0].tolist() == [1, 1, 1, 0]
    ragged = batch_from_observations(ep, [[1, 2], [3], [4, 5, 6]], cameras=CAMS)
    assert ragged[K.LANG_TOKENS].tolist()[1] == [3, 0, 0]
    with pytest.raises(KeyError, match="left_shoulder"):
        batch_from_observations(ep, [1], cameras=("left_shoulder",))
    with pytest.raises(ValueError, match="tokens"):
        batch_from_observations(ep, np.ones((2, 4)), cameras=CAMS)
    with pytest.raises(ValueError, match="actions"):
        batch_from_observations(ep, [1], cameras=CAMS, actions=np.zeros((3, 7)))


def test_batch_from_samples_carries_each_samples_target_and_feeds_the_policy():
    torch.manual_seed(0)
    ep = make_episode()
    samples = keyframe_samples(ep, "pick up the red block", mode="all")

    def tokenizer(texts):  # stand-in for the CLIP BPE tokenizer
        return [[49406, 100 + len(t), 49407] for t in texts]

    b = batch_from_samples(samples[1:5], tokenizer, cameras=CAMS)
    # row i: sample i's observation (its gripper state) and its next keyframe's pose as target
    torch.testing.assert_close(b[K.ACTION], torch.from_numpy(
        np.stack([s.action for s in samples[1:5]])).to(b[K.ACTION].dtype))
    assert [s.keyframe for s in samples[1:5]] == [4, 4, 4, 9]
    torch.testing.assert_close(b[K.ACTION][3, :3].double(),
                               torch.from_numpy(ep[9].gripper_pose[:3]))
    assert b[K.PROPRIO][:, 0].tolist() == [1.0, 1.0, 1.0, 0.0]    # frames 1-3 open, 4 closed
    assert b[K.LANG_TOKENS][0].tolist() == [49406, 121, 49407]
    policy = make_policy("tiny", cameras=CAMS)
    policy.train()
    loss, logs, out = policy(b)
    loss.backward()
    assert torch.isfinite(loss) and out[K.EMBEDDING].shape == (4, 64)
