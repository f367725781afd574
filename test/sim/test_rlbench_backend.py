"""The RLBench backend without CoppeliaSim: its missing-dependency error, its pure conversions,
and the env's wiring against fake ``pyrep``/``rlbench`` modules that have RLBench's names,
signatures and behaviours (action shape checks, unit quaternions, NumPy-global seeding)."""
from __future__ import annotations

import importlib.util
import inspect
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest

from mn_sim import make_env
from mn_sim import rlbench_backend as rb
from mn_sim.types import CAMERAS, Action

ALL_CAMS = ("left_shoulder", "right_shoulder", "overhead", "wrist", "front")


@pytest.fixture
def clean_modules():
    """Drop every pyrep/rlbench module a test put into sys.modules."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("pyrep", "rlbench"):
            del sys.modules[name]


# ------------------------------------------------------------------------------------ helpers
def pyrep_intrinsics(size: int, fov_deg: float = 40.0) -> np.ndarray:
    """What PyRep's VisionSensor.get_intrinsic_matrix returns: negative focal lengths."""
    f = -size / (2 * np.tan(np.deg2rad(fov_deg) / 2))
    return np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1.0]])


def pose_matrix(rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))        # a proper rotation
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = q, rng.normal(size=3)
    return T


def project(K, T, pts):
    """World points (N, 3) -> pixels (N, 2) and depth (N,) through a camera-to-world T."""
    cam = (np.linalg.inv(T) @ np.c_[pts, np.ones(len(pts))].T)[:3]   # (3, N)
    uvw = K @ cam
    return (uvw[:2] / uvw[2]).T, cam[2]


def fake_obs(rng, cams=CAMERAS, size=8, depth_in_meters=True, **over):
    """A SimpleNamespace with rlbench.backend.observation.Observation's attribute names."""
    d = dict(joint_positions=rng.normal(size=7), joint_velocities=rng.normal(size=7),
             joint_forces=rng.normal(size=7), gripper_open=1.0,
             gripper_pose=np.r_[0.3, -0.1, 0.9, 0.0, 1.0, 0.0, 0.0],
             gripper_matrix=None, gripper_joint_positions=np.array([0.04, 0.039]),
             gripper_touch_forces=None, task_low_dim_state=rng.normal(size=5),
             ignore_collisions=np.array(0.0), misc={})
    for c in ALL_CAMS:
        on = c in cams
        d[f"{c}_rgb"] = rng.integers(0, 256, (size, size, 3), dtype=np.uint8) if on else None
        depth = rng.uniform(0.5, 2.0, (size, size)).astype(np.float32)
        d[f"{c}_depth"] = (depth if depth_in_meters else (depth - 0.01) / (3.5 - 0.01)) \
            if on else None
        d[f"{c}_mask"] = rng.integers(0, 300, (size, size)) if on else None
        d[f"{c}_point_cloud"] = None
        if on:
            d["misc"].update({f"{c}_camera_intrinsics": pyrep_intrinsics(size),
                              f"{c}_camera_extrinsics": pose_matrix(rng),
                              f"{c}_camera_near": 0.01, f"{c}_camera_far": 3.5})
    d.update(over)
    return SimpleNamespace(**d)


# ------------------------------------------------------------------------ missing dependency
def test_missing_rlbench_raises_clear_import_error(clean_modules):
    if importlib.util.find_spec("rlbench") is not None:
        pytest.skip("rlbench is installed here")
    for build in (lambda: rb.RLBenchEnv(), lambda: make_env("rlbench")):
        with pytest.raises(ImportError) as err:
            build()
        msg = str(err.value)
        for needed in ("CoppeliaSim 4.1", "PyRep", "RLBench", "COPPELIASIM_ROOT", "headless",
                       "github.com/stepjam/RLBench", "backend=\"mujoco\"", "needs none"):
            assert needed in msg, needed


def test_unrelated_pypi_pyrep_is_named_in_the_error(monkeypatch, clean_modules):
    monkeypatch.setitem(sys.modules, "pyrep", types.ModuleType("pyrep"))  # not a package
    with pytest.raises(ImportError) as err:
        rb.RLBenchEnv()
    assert "PyRep (CoppeliaSim's Python API) could not be imported" in str(err.value)
    assert "never `pip install pyrep`" in str(err.value)


def test_bad_arguments_fail_before_importing():
    with pytest.raises(ValueError, match="unknown camera"):
        rb.RLBenchEnv(cameras=("front", "ceiling"))


# ------------------------------------------------------------------------------ conversions
def test_opencv_camera_keeps_every_pixel_and_makes_focals_positive():
    rng = np.random.default_rng(0)
    K, T = pyrep_intrinsics(128), pose_matrix(rng)
    pts = T[:3, 3] + (T[:3, :3] @ np.c_[rng.uniform(-0.3, 0.3, (50, 2)),
                                       rng.uniform(0.5, 2, 50)].T).T   # in front of it
    K2, T2 = rb.opencv_camera(K, T)
    uv, z = project(K, T, pts)
    uv2, z2 = project(K2, T2, pts)
    np.testing.assert_allclose(uv2, uv, atol=1e-9)
    np.testing.assert_allclose(z2, z, atol=1e-12)
    assert K2[0, 0] > 0 and K2[1, 1] > 0 and K2[0, 2] == 64 and K2[1, 2] == 64
    np.testing.assert_allclose(np.linalg.det(T2[:3, :3]), 1.0, atol=1e-12)
    np.testing.assert_allclose(T2[:3, 3], T[:3, 3])
    # a point right of / below the optical axis in the OpenCV frame lands right of / below
    # the image centre
    p = T2[:3, :3] @ np.array([0.1, 0.1, 1.0]) + T2[:3, 3]
    (u, v), = project(K2, T2, p[None])[0]
    assert u > 64 and v > 64
    K3, T3 = rb.opencv_camera(K2, T2)           # already OpenCV: unchanged
    np.testing.assert_array_equal(K3, K2)
    np.testing.assert_array_equal(T3, T2)


def test_observation_from_rlbench_maps_every_field():
    rng = np.random.default_rng(1)
    raw = fake_obs(rng)
    obs = rb.observation_from_rlbench(raw, CAMERAS)
    np.testing.assert_array_equal(obs.joint_positions, raw.joint_positions)
    np.testing.assert_array_equal(obs.joint_velocities, raw.joint_velocities)
    np.testing.assert_array_equal(obs.joint_forces, raw.joint_forces)
    np.testing.assert_array_equal(obs.gripper_pose, raw.gripper_pose)   # xyzw kept
    np.testing.assert_array_equal(obs.gripper_joint_positions, raw.gripper_joint_positions)
    np.testing.assert_array_equal(obs.task_low_dim_state, raw.task_low_dim_state)
    assert obs.gripper_open == 1.0 and obs.ignore_collisions == 0.0
    # gripper_matrix absent -> built from the pose: quaternion (0, 1, 0, 0) = 180 deg about y
    np.testing.assert_allclose(obs.gripper_matrix,
                               [[-1, 0, 0, 0.3], [0, 1, 0, -0.1], [0, 0, -1, 0.9],
                                [0, 0, 0, 1]], atol=1e-12)
    assert list(obs.cameras) == list(CAMERAS)
    for c in CAMERAS:
        cam = obs.cameras[c]
        assert cam.rgb.dtype == np.uint8 and cam.rgb.shape == (8, 8, 3)
        np.testing.assert_array_equal(cam.rgb, getattr(raw, f"{c}_rgb"))
        assert cam.depth.dtype == np.float32
        np.testing.assert_array_equal(cam.depth, getattr(raw, f"{c}_depth"))
        assert cam.mask.dtype == np.int32
        np.testing.assert_array_equal(cam.mask, getattr(raw, f"{c}_mask"))
        K, T = rb.opencv_camera(raw.misc[f"{c}_camera_intrinsics"],
                                raw.misc[f"{c}_camera_extrinsics"])
        np.testing.assert_array_equal(cam.intrinsics, K)
        np.testing.assert_array_equal(cam.extrinsics, T)
        assert (cam.near, cam.far) == (0.01, 3.5)
    assert obs.misc.keys() == raw.misc.keys()
    # the stored flag can be overridden (after env.step: the action's flag)
    assert rb.observation_from_rlbench(raw, ("front",), ignore_collisions=1.0
                                       ).ignore_collisions == 1.0


def test_observation_from_rlbench_normalized_depth_and_errors():
    rng = np.random.default_rng(2)
    raw_m = fake_obs(np.random.default_rng(2))
    raw_n = fake_obs(rng, depth_in_meters=False)
    a = rb.observation_from_rlbench(raw_m, ("front",))
    b = rb.observation_from_rlbench(raw_n, ("front",), depth_in_meters=False)
    np.testing.assert_allclose(b.cameras["front"].depth, a.cameras["front"].depth, atol=1e-5)
    with pytest.raises(ValueError, match=r"lacks \['overhead_rgb', 'overhead_depth'"):
        rb.observation_from_rlbench(raw_m, ("overhead",))
    with pytest.raises(ValueError, match="gripper_pose"):
        rb.observation_from_rlbench(fake_obs(rng, gripper_pose=None), ("front",))


def test_action_to_rlbench_layout():
    a = Action(np.array([0.2, -0.1, 0.8]), np.array([0.0, 0.0, 0.0, 2.0]),
               gripper_open=False, ignore_collisions=True)
    out = rb.action_to_rlbench(a)
    np.testing.assert_allclose(out, [0.2, -0.1, 0.8, 0, 0, 0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(rb.action_to_rlbench(a, with_ignore_collisions=False),
                               [0.2, -0.1, 0.8, 0, 0, 0, 1.0, 0.0])
    vec = [0.1, 0.2, 0.3, 0.6, 0.0, 0.0, 0.8, 0.9, 0.2]   # 9 numbers as ARP predicts
    np.testing.assert_allclose(rb.action_to_rlbench(vec), [*vec[:7], 1.0, 0.0])
    with pytest.raises(ValueError, match="non-zero quaternion"):
        rb.action_to_rlbench(Action(np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="9 numbers"):
        rb.action_to_rlbench([0.0] * 8)


def test_failure_reason_maps_planning_errors():
    class InvalidActionError(Exception):
        pass

    class IKError(Exception):
        pass

    class ConfigurationPathError(Exception):
        pass

    failures = {InvalidActionError: "invalid action", IKError: "IK failed",
                ConfigurationPathError: "no path found"}
    assert rb.failure_reason(InvalidActionError("Target is outside of workspace."),
                             failures) == "invalid action: Target is outside of workspace."
    assert rb.failure_reason(IKError(), failures) == "IK failed"
    assert rb.failure_reason(ConfigurationPathError("no config"), failures) == \
        "no path found: no config"
    assert rb.failure_reason(RuntimeError("bug"), failures) is None


def _demo_frames(rng, n=12, stop_at=2, close_at=5):
    """Frames of an RLBench-like demo: moving, a stop at ``stop_at``, the gripper closing at
    ``close_at``, moving again."""
    frames = []
    for i in range(n):
        vel = np.full(7, 0.0 if i == stop_at else 0.5)
        frames.append(fake_obs(rng, cams=("front",), joint_velocities=vel,
                               gripper_open=1.0 if i < close_at else 0.0))
    return frames


def test_demo_from_rlbench_frame_rates():
    rng = np.random.default_rng(3)
    raw = _demo_frames(rng)
    kfs = rb.keypoint_discovery(raw)
    assert kfs == [2, 5, 11]          # the stop, the gripper change, the end
    full = rb.demo_from_rlbench(raw, "open_drawer", 1, ["open the top drawer"], 7, ("front",))
    assert len(full.observations) == 12 and full.frame_rate == 20.0
    assert full.action_frames == kfs and full.success and full.seed == 7
    assert full.descriptions == ["open the top drawer"] and full.variation == 1
    np.testing.assert_array_equal(full.observations[3].cameras["front"].rgb, raw[3].front_rgb)
    half = rb.demo_from_rlbench(raw, "open_drawer", 1, [], 7, ("front",), frame_rate=10.0)
    assert half.frame_rate == 10.0
    kept = rb.select_frames(12, kfs, 2)
    assert kept == [0, 2, 4, 5, 6, 8, 10, 11]
    assert len(half.observations) == len(kept)
    assert [kept[j] for j in half.action_frames] == kfs
    key = rb.demo_from_rlbench(raw, "open_drawer", 1, [], 7, ("front",), frame_rate=None)
    assert key.frame_rate is None and len(key.observations) == 4
    assert key.action_frames == [1, 2, 3]
    assert key.observations[2].gripper_open == 0.0 and key.observations[1].gripper_open == 1.0
    with pytest.raises(ValueError, match="frame_rate"):
        rb.demo_from_rlbench(raw, "t", 0, [], 0, ("front",), frame_rate=0.0)


def _tasks_package(monkeypatch, tmp_path, name="rlbench.tasks"):
    """A task package on disk with two task files, as rlbench/tasks/ has them."""
    d = tmp_path / "tasks_pkg"
    d.mkdir()
    (d / "open_drawer.py").write_text("class OpenDrawer:\n    variations = 3\n")
    (d / "reach_target.py").write_text("class ReachTarget:\n    variations = 2\n")
    (d / "broken_task.py").write_text("import rlbench_missing_dependency\n")
    pkg = types.ModuleType(name)
    pkg.__path__ = [str(d)]
    monkeypatch.setitem(sys.modules, name, pkg)
    return name


def test_resolve_task_class(monkeypatch, tmp_path, clean_modules):
    pkg = _tasks_package(monkeypatch, tmp_path, "rlbench_fake_tasks")
    try:
        assert rb.resolve_task_class("open_drawer", pkg).__name__ == "OpenDrawer"
        assert rb.rlbench_task_names(pkg) == ["broken_task", "open_drawer", "reach_target"]
        with pytest.raises(ValueError, match="unknown RLBench task 'open_drawr'.*3 tasks: "
                                             "broken_task, open_drawer, reach_target"):
            rb.resolve_task_class("open_drawr", pkg)
        with pytest.raises(ValueError, match="invalid RLBench task name"):
            rb.resolve_task_class("../etc", pkg)
        with pytest.raises(ModuleNotFoundError, match="rlbench_missing_dependency"):
            rb.resolve_task_class("broken_task", pkg)   # a real import error is not hidden
    finally:
        for m in [m for m in sys.modules if m.startswith(pkg)]:
            del sys.modules[m]


# ------------------------------------------------------------------ env over a fake RLBench
def _install_fake_rlbench(monkeypatch, tmp_path, per_action_collisions=True):
    """Fake pyrep/rlbench modules mirroring the real API used by RLBenchEnv."""
    mods = {}

    def mod(name):
        m = mods[name] = types.ModuleType(name)
        m.__path__ = []
        return m

    errors = mod("pyrep.errors")
    errors.IKError = type("IKError", (Exception,), {})
    errors.ConfigurationPathError = type("ConfigurationPathError", (Exception,), {})
    mod("pyrep")
    exc = mod("rlbench.backend.exceptions")
    exc.InvalidActionError = type("InvalidActionError", (Exception,), {})
    mod("rlbench")
    mod("rlbench.backend")
    mod("rlbench.action_modes")

    class EndEffectorPoseViaPlanning:
        def __init__(self, absolute_mode=True, frame="world", collision_checking=False):
            pass

        if per_action_collisions:
            def action(self, scene, action, ignore_collisions=True):
                pass
        else:
            def action(self, scene, action):
                pass

    class Discrete:
        def __init__(self, attach_grasped_objects=True, detach_before_open=True):
            pass

    class MoveArmThenGripper:
        def __init__(self, arm_action_mode, gripper_action_mode):
            self.arm_action_mode, self.gripper_action_mode = arm_action_mode, gripper_action_mode

    class CameraConfig:
        def __init__(self, rgb=True, rgb_noise=None, depth=True, depth_noise=None, mask=True,
                     image_size=(128, 128), render_mode=None, masks_as_one_channel=True,
                     depth_in_meters=False):
            self.rgb, self.depth, self.mask = rgb, depth, mask
            self.image_size, self.depth_in_meters = image_size, depth_in_meters

        def set_all(self, value):
            self.rgb = self.depth = self.mask = value

    class ObservationConfig:
        def __init__(self, left_shoulder_camera=None, right_shoulder_camera=None,
                     overhead_camera=None, wrist_camera=None, front_camera=None,
                     joint_velocities=True, joint_positions=True, joint_forces=True,
                     gripper_open=True, gripper_pose=True, gripper_matrix=False,
                     gripper_joint_positions=False, gripper_touch_forces=False,
                     wrist_camera_matrix=False, record_gripper_closing=False,
                     task_low_dim_state=False):
            self.__dict__.update({k: v for k, v in locals().items() if k != "self"})
            self.record_ignore_collisions = False     # PerAct's fork has it

    calls = SimpleNamespace(actions=[], launched=0, shutdown=0, get_task=[])

    class TaskEnvironment:
        def __init__(self, task_class, config, action_mode):
            self.task_class, self.config, self.mode = task_class, config, action_mode
            self.variation, self.ready = 0, False

        def variation_count(self):
            return self.task_class.variations

        def set_variation(self, v):
            self.variation = v

        def _obs(self, gripper_open=1.0, vel=0.5):
            c = self.config
            cams = [n for n in ALL_CAMS if getattr(c, f"{n}_camera").rgb]
            size = getattr(c, f"{cams[0]}_camera").image_size[0]
            assert all(getattr(c, f"{n}_camera").depth_in_meters for n in cams)
            o = fake_obs(np.random.default_rng(0), cams=cams, size=size,
                         gripper_open=gripper_open, joint_velocities=np.full(7, vel))
            o.task_low_dim_state = self.state.copy()
            if c.gripper_matrix:
                o.gripper_matrix = np.eye(4)
            if not c.gripper_joint_positions:
                o.gripper_joint_positions = None
            return o

        def reset(self):
            self.state = np.random.rand(3)         # RLBench samples from NumPy's global RNG
            self.ready = True
            return [f"variation {self.variation}"], self._obs()

        def get_observation(self):
            return self._obs()

        def step(self, action):
            assert self.ready
            calls.actions.append(np.array(action))
            arm = self.mode.arm_action_mode
            n = 9 if "ignore_collisions" in inspect.signature(arm.action).parameters else 8
            if len(action) != n or not np.isclose(np.linalg.norm(action[3:7]), 1.0):
                raise exc.InvalidActionError(f"Expected the action shape to be: ({n},)")
            if action[0] > 5:
                raise errors.ConfigurationPathError("no configuration found")
            if action[0] < -5:
                raise RuntimeError("CoppeliaSim crashed")
            success = action[2] < 0.1
            return self._obs(), float(success), success

        def get_demos(self, amount, live_demos=False, image_paths=False,
                      callable_each_step=None, max_attempts=10):
            assert live_demos and amount == 1
            self.reset()
            if self.task_class.__name__ == "ReachTarget":
                raise RuntimeError("Could not collect demos. Maybe a problem with the task?")
            return [[self._obs(gripper_open=float(i < 3), vel=0.5 if i != 5 else 0.0)
                     for i in range(9)]]

    class Environment:
        def __init__(self, action_mode, dataset_root="", obs_config=None, headless=False,
                     static_positions=False, robot_setup="panda"):
            self.action_mode, self.obs_config, self.headless = action_mode, obs_config, headless

        def launch(self):
            calls.launched += 1

        def get_task(self, task_class):
            calls.get_task.append(task_class.__name__)
            return TaskEnvironment(task_class, self.obs_config, self.action_mode)

        def shutdown(self):
            calls.shutdown += 1

    mod("rlbench.action_modes.arm_action_modes").EndEffectorPoseViaPlanning = \
        EndEffectorPoseViaPlanning
    mod("rlbench.action_modes.gripper_action_modes").Discrete = Discrete
    mod("rlbench.action_modes.action_mode").MoveArmThenGripper = MoveArmThenGripper
    oc = mod("rlbench.observation_config")
    oc.CameraConfig, oc.ObservationConfig = CameraConfig, ObservationConfig
    mod("rlbench.environment").Environment = Environment
    for name, m in mods.items():
        monkeypatch.setitem(sys.modules, name, m)
    _tasks_package(monkeypatch, tmp_path)
    return calls


def test_env_reset_step_and_failures(monkeypatch, tmp_path, clean_modules):
    calls = _install_fake_rlbench(monkeypatch, tmp_path)
    env = rb.RLBenchEnv(image_size=16, cameras=("front", "wrist"), max_steps=3)
    assert env.per_action_collisions
    cfg = env._env.obs_config
    assert cfg.front_camera.rgb and cfg.front_camera.image_size == (16, 16)
    assert not cfg.overhead_camera.rgb and not cfg.left_shoulder_camera.depth
    assert cfg.gripper_matrix and cfg.gripper_joint_positions and cfg.task_low_dim_state
    assert cfg.record_ignore_collisions and env._env.headless

    obs, info = env.reset(seed=3, options={"task": "open_drawer", "variation": 2})
    assert info == {"descriptions": ["variation 2"], "variation": 2, "task": "open_drawer"}
    assert set(obs.cameras) == {"front", "wrist"} and obs.cameras["front"].rgb.shape[:2] == (16,
                                                                                            16)
    same, _ = env.reset(seed=3, options={"variation": 2})
    other, _ = env.reset(seed=4)
    np.testing.assert_array_equal(same.task_low_dim_state, obs.task_low_dim_state)
    assert not np.allclose(other.task_low_dim_state, obs.task_low_dim_state)
    assert calls.launched == 1 and calls.get_task == ["OpenDrawer"]   # loaded once

    with pytest.raises(ValueError, match="variations 0..2"):
        env.reset(options={"variation": 3})
    with pytest.raises(ValueError, match="unknown RLBench task 'open_drawr'"):
        env.reset(options={"task": "open_drawr"})

    env.reset(seed=0, options={"task": "open_drawer"})
    q = [0.0, 0.0, 0.0, 2.0]   # not unit: normalized before RLBench's unit check
    obs, r, term, trunc, info = env.step([0.3, 0.0, 0.5, *q, 1.0, 0.0])
    assert (r, term, trunc, info) == (0.0, False, False, {"success": False,
                                                          "failure_reason": ""})
    assert obs.ignore_collisions == 0.0 and len(calls.actions[-1]) == 9
    np.testing.assert_allclose(calls.actions[-1][3:], [0, 0, 0, 1, 1, 0])
    obs, r, term, trunc, info = env.step(Action(np.array([0.3, 0, 0.05]), np.array(q)))
    assert (r, term, trunc, info["success"]) == (1.0, True, False, True)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step([0.3, 0, 0.5, *q, 1, 1])

    env.reset(seed=0)   # planning failure -> failed episode, no exception
    obs, r, term, trunc, info = env.step([9.0, 0, 0.5, *q, 1, 1])
    assert (r, term, trunc, info["success"]) == (0.0, True, False, False)
    assert info["failure_reason"] == "no path found: no configuration found"
    assert obs.cameras["front"].rgb.shape == (16, 16, 3)
    env.reset(seed=0)   # a malformed action is a bug in its maker, as in MNEnv: it raises
    from mn_sim.env import InvalidActionError
    with pytest.raises(InvalidActionError, match="quaternion .* has length 0"):
        env.step([0.0, 0, 0.5, 0, 0, 0, 0, 1, 1])
    assert not env.done and env.steps == 0
    env.reset(seed=0)   # other exceptions are bugs: they propagate
    with pytest.raises(RuntimeError, match="CoppeliaSim crashed"):
        env.step([-9.0, 0, 0.5, *q, 1, 1])

    env.reset(seed=0)   # truncation after max_steps
    for k in range(3):
        _, _, term, trunc, _ = env.step([0.3, 0, 0.5, *q, 1, 1])
    assert not term and trunc

    env.close()
    assert calls.shutdown == 1


def test_env_upstream_rlbench_gets_eight_numbers(monkeypatch, tmp_path, clean_modules):
    calls = _install_fake_rlbench(monkeypatch, tmp_path, per_action_collisions=False)
    env = rb.RLBenchEnv(image_size=8, cameras=("front",))
    assert not env.per_action_collisions
    env.reset(seed=0, options={"task": "open_drawer"})
    _, r, term, _, info = env.step([0.3, 0, 0.05, 0, 0, 0, 1, 0, 1])
    assert len(calls.actions[-1]) == 8 and r == 1.0 and term and info["success"]


def test_env_record_demo_and_run_expert(monkeypatch, tmp_path, clean_modules):
    _install_fake_rlbench(monkeypatch, tmp_path)
    env = rb.RLBenchEnv(image_size=8, cameras=("front",))
    demo = env.record_demo("open_drawer", 1, seed=5)
    assert demo.success and demo.frame_rate == 20.0 and len(demo.observations) == 9
    assert demo.descriptions == ["variation 1"] and demo.seed == 5
    assert demo.action_frames == rb.keypoint_discovery(demo.observations) == [3, 5, 8]
    key = env.record_demo("open_drawer", 1, seed=5, frame_rate=None)
    assert key.frame_rate is None and len(key.observations) == 4
    again = env.record_demo("open_drawer", 1, seed=5)
    np.testing.assert_array_equal(again.observations[0].task_low_dim_state,
                                  demo.observations[0].task_low_dim_state)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step([0.3, 0, 0.5, 0, 0, 0, 1, 1, 1])   # the demo moved the scene on
    assert env.run_expert("open_drawer", 0, seed=1) == (True, "", 3)

    bad = env.record_demo("reach_target", 0, seed=1)
    assert not bad.success and "Could not collect demos" in bad.failure_reason
    assert env.run_expert("reach_target", 0, 1)[:1] == (False,)
    env.close()
