"""The simulator itself: cameras, action execution and its failures, the gymnasium view."""
import mujoco
import numpy as np
import pytest

from mn_sim.env import MNEnv
from mn_sim.scene import TABLE_Z
from mn_sim.types import CAMERAS, Action


@pytest.fixture(scope="module")
def env():
    e = MNEnv()
    yield e
    e.close()


def reset(env, seed=0, variation=0):
    return env.reset(seed=seed, options={"task": "open_drawer", "variation": variation})


def test_observation_has_what_rlbench_gives(env):
    obs, info = reset(env)
    assert info["descriptions"][0] == "open the bottom drawer"
    assert set(obs.cameras) == set(CAMERAS)
    for cam in obs.cameras.values():
        assert cam.rgb.shape == (128, 128, 3) and cam.rgb.dtype == np.uint8
        assert cam.depth.shape == (128, 128) and cam.depth.dtype == np.float32
        assert cam.intrinsics.shape == (3, 3) and cam.extrinsics.shape == (4, 4)
        assert cam.rgb.std() > 5, "camera image is blank"
    assert obs.joint_positions.shape == (7,) and obs.joint_velocities.shape == (7,)
    assert obs.gripper_pose.shape == (7,) and abs(np.linalg.norm(obs.gripper_pose[3:]) - 1) < 1e-6
    assert obs.gripper_open == 1.0 and obs.gripper_joint_positions.shape == (2,)
    # open_drawer's state: the positions of its three drawers, as the sim holds them
    np.testing.assert_array_equal(obs.task_low_dim_state, np.concatenate(
        [env.sim.body_pos(f"cabinet_drawer_{d}") for d in ("bottom", "middle", "top")]))
    np.testing.assert_allclose(obs.gripper_matrix[:3, 3], obs.gripper_pose[:3])
    low = obs.low_dim_dict()
    assert "front_camera_extrinsics" in low
    assert not any("time" in k or "step" in k for k in low), "the time step must never leak"


@pytest.mark.parametrize("camera", ["front", "left_shoulder", "wrist"])
def test_depth_and_camera_parameters_agree_with_ray_casting(env, camera):
    """Back-projecting depth with the intrinsics/extrinsics lands where a ray cast says."""
    obs, _ = reset(env, seed=1)
    cam = obs.cameras[camera]
    K, T = cam.intrinsics, cam.extrinsics
    m, d = env.sim.model, env.sim.data
    rng = np.random.default_rng(0)
    errors = []
    for v, u in rng.integers(8, 120, size=(60, 2)):
        z = float(cam.depth[v, u])
        if z >= cam.far - 1e-3:
            continue
        ray_cam = np.array([(u + 0.5 - K[0, 2]) / K[0, 0], (v + 0.5 - K[1, 2]) / K[1, 1], 1.0])
        ray_world = T[:3, :3] @ ray_cam
        geomid = np.zeros(1, np.int32)
        # groups rendered: 0 (scene) and 3 (the robot drawn with its collision meshes)
        dist = mujoco.mj_ray(m, d, T[:3, 3], ray_world / np.linalg.norm(ray_world),
                             np.array([1, 0, 0, 1, 0, 0], np.uint8), 1, -1, geomid)
        if dist < 0:
            continue
        expected_z = dist / np.linalg.norm(ray_cam)   # distance along the ray -> along the axis
        errors.append(abs(expected_z - z))
    # every pixel agrees to float32 precision (measured: < 1e-6 m); half a pixel off in the
    # intrinsics or the extrinsics moves slanted surfaces by millimetres
    assert len(errors) >= 40 and max(errors) < 1e-4, (len(errors), max(errors))


def test_front_camera_sees_the_table_at_table_height(env):
    obs, _ = reset(env)
    cam = obs.cameras["front"]
    K, T = cam.intrinsics, cam.extrinsics
    v, u = np.mgrid[0:128, 0:128]
    z = cam.depth
    valid = z < cam.far - 1e-3
    pts_cam = np.stack([(u + 0.5 - K[0, 2]) / K[0, 0] * z, (v + 0.5 - K[1, 2]) / K[1, 1] * z, z], -1)
    pts = pts_cam[valid] @ T[:3, :3].T + T[:3, 3]
    near_table = np.abs(pts[:, 2] - TABLE_Z) < 0.005
    assert near_table.mean() > 0.2, "a large part of the front view should be the table top"


def test_unreachable_target_fails_with_reason_not_exception(env):
    reset(env)
    obs, reward, terminated, truncated, info = env.step(
        Action(np.array([2.0, 0.0, 1.0]), np.array([1.0, 0, 0, 0])))
    assert terminated and not info["success"] and reward == 0.0
    assert info["failure_reason"].startswith("ik: target pose unreachable")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(Action(np.array([0.2, 0.0, 1.0]), np.array([1.0, 0, 0, 0])))


def test_malformed_action_raises_and_leaves_the_episode_running(env):
    """NaN, inf, the wrong size or a zero quaternion is a bug in whoever made the action, not a
    failed episode: step raises, names the problem, and the episode goes on."""
    from mn_sim.env import InvalidActionError
    reset(env)
    good = np.array([0.0, -0.25, TABLE_Z + 0.25, 1.0, 0, 0, 0, 1.0, 1.0])
    for bad, why in [(np.where(np.arange(9) == 1, np.nan, good), "NaN or inf"),
                     (np.where(np.arange(9) == 7, np.inf, good), "NaN or inf"),
                     (good[:7], "7 numbers, not 9"),
                     (np.concatenate([good[:3], np.zeros(4), good[7:]]), "has length 0"),
                     (Action(np.array([0.0, np.nan, 1.0]), np.array([1.0, 0, 0, 0])),
                      "NaN or inf"),
                     ("open the drawer", "is not numbers")]:
        with pytest.raises(InvalidActionError, match=f"malformed action: .*{why}"):
            env.step(bad)
        assert not env.done and env.steps == 0, why
    _, _, terminated, _, info = env.step(good)
    assert not terminated and info["failure_reason"] == "" and env.steps == 1


def test_colliding_path_fails_unless_collisions_ignored(env):
    reset(env)
    q_down = env.task.down(0.0)
    below = np.array([0.0, -0.3, TABLE_Z - 0.04])
    _, _, terminated, _, info = env.step(Action(below, q_down, True, ignore_collisions=False))
    assert terminated and info["failure_reason"].startswith("collision"), info


def test_reachable_pose_is_reached_and_gripper_closes(env):
    reset(env)
    target = np.array([0.0, -0.25, TABLE_Z + 0.25])
    obs, _, terminated, _, info = env.step(Action(target, env.task.down(0.3), False, True))
    assert not terminated, info
    assert np.linalg.norm(obs.gripper_pose[:3] - target) < 0.01
    assert obs.gripper_open == 0.0 and obs.gripper_joint_positions.max() < 0.005


def test_record_demo_frames_and_action_frames(env):
    demo = env.record_demo("open_drawer", 1, seed=3, frame_rate=10.0)
    assert demo.success, demo.failure_reason
    assert demo.descriptions[0] == "open the middle drawer"
    assert len(demo.observations) > len(demo.action_frames) + 5
    assert demo.action_frames == sorted(demo.action_frames)
    closed = [o.gripper_open for o in demo.observations]
    assert 0.0 in closed and closed[0] == 1.0


def test_gymnasium_env_checker_accepts_the_wrapper():
    from gymnasium.utils.env_checker import check_env

    from mn_sim.gym_wrapper import MNGymEnv
    g = MNGymEnv(task="open_drawer", cameras=("front",), image_size=64)
    try:
        check_env(g, skip_render_check=True)
        obs, info = g.reset(seed=0)
        assert g.observation_space.contains(obs)
    finally:
        g.close()
