"""RLBenchEnv: the MNEnv interface over the original RLBench (CoppeliaSim 4.1 + PyRep).

    env = make_env("rlbench")              # or RLBenchEnv(image_size=128, headless=True)
    obs, info = env.reset(seed=0, options={"task": "open_drawer", "variation": 2})
    obs, reward, terminated, truncated, info = env.step(action)   # 9 numbers or Action

The arm moves with RLBench's ``MoveArmThenGripper(EndEffectorPoseViaPlanning(), Discrete())``,
the action mode PerAct, RVT and ARP evaluate with. RLBench, PyRep and CoppeliaSim are imported
only when an RLBenchEnv is built; nothing else in mn needs them.

What is RLBench's and what is mn's:
- Actions: mn's [x, y, z, qx, qy, qz, qw, gripper_open, ignore_collisions] is passed as is to
  RLBench forks whose EndEffectorPoseViaPlanning takes ``ignore_collisions`` per action
  (PerAct's fork, which ARP uses); upstream RLBench takes 8 numbers and never checks
  collisions, so the last number is dropped there. Quaternions are normalized first.
- Planning failures (InvalidActionError, IKError, ConfigurationPathError) end the episode as a
  failure with ``info["failure_reason"]``; they never propagate.
- Cameras: RLBench stores PyRep's intrinsics, whose focal lengths are negative (the sensor
  frame has x left, y up). They are converted to the OpenCV convention of mn_sim.types
  (positive focal lengths, x right, y down); both describe the same rays.
- Seeds: RLBench samples scenes from NumPy's global generator, so ``reset(seed=s)`` and
  ``record_demo(seed=s)`` call ``np.random.seed(s)`` (and ``random.seed(s)``).
- Demos are RLBench's own expert (waypoints + path planning) recorded every 0.05 s simulated
  step, i.e. at 20 Hz.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import random
import re
from types import SimpleNamespace
from typing import Sequence

import numpy as np

from mn_sim.geometry import quat_to_mat
from mn_sim.keyframes import keypoint_discovery
from mn_sim.types import CAMERAS, OBSERVER_CAMERA, Action, CameraObs, Demo, Observation

MAX_EPISODE_STEPS = 25        # as MNEnv (mn_sim.env is not imported: it needs mujoco)
RLBENCH_DT = 0.05             # seconds per RLBench simulation step
RLBENCH_FRAME_RATE = 1.0 / RLBENCH_DT   # 20 Hz: live demos record one frame per step
RLBENCH_CAMERAS = CAMERAS + ("overhead",)   # the cameras of RLBench's scenes
# RLBench has no observer camera; the paper's observer watched the front camera, so here the
# observer camera is the front camera's images under the observer's name
CAMERA_ALIASES = {OBSERVER_CAMERA: "front"}
TASKS_PACKAGE = "rlbench.tasks"

INSTALL_HELP = """\
The RLBench backend needs CoppeliaSim 4.1, PyRep and RLBench; {what} could not be imported
({error}).
Install them (Linux):
  1. CoppeliaSim 4.1.0 EDU (e.g. CoppeliaSim_Edu_V4_1_0_Ubuntu20_04.tar.xz from
     coppeliarobotics.com), unpacked to a folder, then
       export COPPELIASIM_ROOT=<that folder>
       export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$COPPELIASIM_ROOT
       export QT_QPA_PLATFORM_PLUGIN_PATH=$COPPELIASIM_ROOT
  2. PyRep from its repository: git clone https://github.com/stepjam/PyRep &&
     pip install -r PyRep/requirements.txt && pip install ./PyRep
     (never `pip install pyrep`: that PyPI package is unrelated to CoppeliaSim).
  3. RLBench from its repository: https://github.com/stepjam/RLBench, or PerAct's fork
     (https://github.com/MohitShridhar/RLBench, branch peract) for per-action
     ignore_collisions as PerAct/ARP use; pip install it.
Without a display, run under a virtual X server (e.g. `xvfb-run -a mn ...`); the env starts
CoppeliaSim headless by default.
The default backend (make_env() / backend="mujoco") needs none of this."""


# ---------------------------------------------------------------------------------------------
# lazy import


def import_rlbench() -> SimpleNamespace:
    """Import the RLBench/PyRep names this backend uses, or raise an ImportError saying how."""
    try:
        from pyrep.errors import ConfigurationPathError, IKError
    except Exception as e:  # ImportError, or PyRepError when COPPELIASIM_ROOT is unset
        raise ImportError(INSTALL_HELP.format(what="PyRep (CoppeliaSim's Python API)",
                                              error=f"{type(e).__name__}: {e}")) from e
    try:
        from rlbench.action_modes.action_mode import MoveArmThenGripper
        from rlbench.action_modes.arm_action_modes import EndEffectorPoseViaPlanning
        from rlbench.action_modes.gripper_action_modes import Discrete
        from rlbench.environment import Environment
        from rlbench.observation_config import CameraConfig, ObservationConfig
        try:
            from rlbench.backend.exceptions import InvalidActionError
        except ImportError:  # older RLBench kept it in task_environment
            from rlbench.task_environment import InvalidActionError
    except Exception as e:
        raise ImportError(INSTALL_HELP.format(what="RLBench", error=f"{type(e).__name__}: {e}")
                          ) from e
    return SimpleNamespace(
        Environment=Environment, MoveArmThenGripper=MoveArmThenGripper,
        EndEffectorPoseViaPlanning=EndEffectorPoseViaPlanning, Discrete=Discrete,
        ObservationConfig=ObservationConfig, CameraConfig=CameraConfig,
        failures={InvalidActionError: "invalid action", IKError: "IK failed",
                  ConfigurationPathError: "no path found"})


# ---------------------------------------------------------------------------------------------
# pure conversions (duck-typed: they take RLBench objects or anything with the same names)


def opencv_camera(intrinsics, extrinsics) -> tuple[np.ndarray, np.ndarray]:
    """PyRep's (K, camera-to-world) -> the OpenCV convention (positive focal lengths).

    PyRep's K has negative focal lengths: pixel u = fx * x / z + cx with fx < 0 in a sensor
    frame whose x points left and y up. Turning the frame 180 degrees about its z axis
    (x -> -x, y -> -y) and negating the focal lengths gives the same pixel for every point.
    Matrices that already have positive focal lengths are returned unchanged.
    """
    K = np.array(intrinsics, dtype=np.float64).reshape(3, 3)
    T = np.array(extrinsics, dtype=np.float64).reshape(4, 4)
    if K[0, 0] < 0 and K[1, 1] < 0:
        flip = np.diag([-1.0, -1.0, 1.0])
        K = K @ flip                  # negate the focal-length columns; cx, cy unchanged
        T[:3, :3] = T[:3, :3] @ flip  # sensor x, y axes reversed
    return K, T


def _field(obj, name: str):
    return getattr(obj, name, None)


def _array(value, dtype=np.float64) -> np.ndarray:
    return np.zeros(0, dtype) if value is None else np.asarray(value, dtype=dtype).reshape(-1)


def camera_from_rlbench(obs, cam: str, depth_in_meters: bool = True) -> CameraObs:
    """One camera of an RLBench Observation (``{cam}_rgb``, ``{cam}_depth``, ``{cam}_mask``,
    misc ``{cam}_camera_{intrinsics,extrinsics,near,far}``) -> CameraObs.

    depth_in_meters: whether RLBench returned metres (CameraConfig.depth_in_meters=True);
    otherwise its [0, 1] depth is mapped to near + d * (far - near).
    """
    misc = _field(obs, "misc") or {}
    cam = CAMERA_ALIASES.get(cam, cam)
    rgb, depth = _field(obs, f"{cam}_rgb"), _field(obs, f"{cam}_depth")
    keys = [f"{cam}_camera_{k}" for k in ("intrinsics", "extrinsics", "near", "far")]
    missing = ([f"{cam}_rgb"] if rgb is None else []) + \
              ([f"{cam}_depth"] if depth is None else []) + [k for k in keys if k not in misc]
    if missing:
        raise ValueError(f"RLBench observation lacks {missing} for camera {cam!r}: enable its "
                         f"rgb and depth in the ObservationConfig")
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:  # RLBench gives uint8; accept floats in [0, 1] too
        rgb = np.clip(np.round(rgb.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    near, far = float(misc[keys[2]]), float(misc[keys[3]])
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim == 3:  # (H, W, 1) -> (H, W)
        depth = depth[..., 0]
    if not depth_in_meters:
        depth = (near + depth * (far - near)).astype(np.float32)
    if rgb.shape[:2] != depth.shape:
        raise ValueError(f"camera {cam!r}: rgb {rgb.shape} and depth {depth.shape} differ")
    K, T = opencv_camera(misc[keys[0]], misc[keys[1]])
    mask = _field(obs, f"{cam}_mask")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim == 3:  # RGB-coded handles (masks_as_one_channel=False)
            m = np.rint(mask.astype(np.float64) * (255.0 if mask.dtype != np.uint8 else 1.0))
            mask = m[..., 0] + 256 * m[..., 1] + 65536 * m[..., 2]
        mask = mask.astype(np.int32)
    return CameraObs(rgb=rgb, depth=depth, intrinsics=K, extrinsics=T, near=near, far=far,
                     mask=mask)


def _ignore_flag(value, default: float = 1.0) -> float:
    return default if value is None else float(np.asarray(value, dtype=float).reshape(-1)[0])


def observation_from_rlbench(obs, cameras: Sequence[str] = CAMERAS,
                             depth_in_meters: bool = True,
                             ignore_collisions: float | None = None) -> Observation:
    """An RLBench Observation -> mn_sim.types.Observation.

    ignore_collisions: the flag to store; None takes the observation's own
    (PerAct's fork records it during demos), 1.0 when it has none.
    """
    pose = _array(_field(obs, "gripper_pose"))
    if pose.shape != (7,):
        raise ValueError(f"RLBench observation needs gripper_pose (7,) xyz + quaternion xyzw; "
                         f"got {pose.shape}: enable gripper_pose in the ObservationConfig")
    matrix = _field(obs, "gripper_matrix")
    if matrix is None:
        matrix = np.eye(4)
        matrix[:3, :3] = quat_to_mat(pose[3:])
        matrix[:3, 3] = pose[:3]
    grip = _field(obs, "gripper_open")
    misc = dict(_field(obs, "misc") or {})
    if ignore_collisions is None:
        ignore_collisions = _ignore_flag(_field(obs, "ignore_collisions"))
    return Observation(
        joint_positions=_array(_field(obs, "joint_positions")),
        joint_velocities=_array(_field(obs, "joint_velocities")),
        joint_forces=_array(_field(obs, "joint_forces")),
        gripper_open=float("nan") if grip is None else float(grip),
        gripper_pose=pose,
        gripper_matrix=np.asarray(matrix, dtype=np.float64).reshape(4, 4),
        gripper_joint_positions=_array(_field(obs, "gripper_joint_positions")),
        task_low_dim_state=_array(_field(obs, "task_low_dim_state")),
        ignore_collisions=float(ignore_collisions),
        cameras={c: camera_from_rlbench(obs, c, depth_in_meters) for c in cameras},
        misc=misc)


def action_to_rlbench(action, with_ignore_collisions: bool = True) -> np.ndarray:
    """mn Action (or 9 numbers) -> the array MoveArmThenGripper(EndEffectorPoseViaPlanning,
    Discrete) takes: [x, y, z, qx, qy, qz, qw, gripper_open] plus ignore_collisions when the
    RLBench fork supports it (9 numbers), else 8. The quaternion is normalized.
    """
    if not isinstance(action, Action):
        action = Action.from_array(action)
    pos = np.asarray(action.position, dtype=np.float64).reshape(-1)
    quat = np.asarray(action.quaternion, dtype=np.float64).reshape(-1)
    if pos.shape != (3,) or quat.shape != (4,):
        raise ValueError(f"action needs position (3,) and quaternion (4,); got {pos.shape} "
                         f"and {quat.shape}")
    norm = np.linalg.norm(quat)
    if not (np.all(np.isfinite(pos)) and np.isfinite(norm)) or norm < 1e-6:
        raise ValueError(f"action needs a finite position and a non-zero quaternion; got "
                         f"{pos.tolist()} and {quat.tolist()}")
    tail = [float(bool(action.gripper_open))]
    if with_ignore_collisions:
        tail.append(float(bool(action.ignore_collisions)))
    return np.concatenate([pos, quat / norm, tail])


def failure_reason(exc: BaseException, failures: dict) -> str | None:
    """The failure reason for an exception RLBench raises when an action cannot be carried out
    (``failures`` maps exception classes to a short label), or None if it is not one of them."""
    for cls, label in failures.items():
        if isinstance(exc, cls):
            msg = str(exc).strip()
            return f"{label}: {msg}" if msg else label
    return None


def select_frames(n: int, keyframes: Sequence[int], stride: int) -> list[int]:
    """Frames kept when a 20 Hz demo is thinned: every ``stride``-th, every keyframe, the last."""
    if n <= 0:
        return []
    return sorted(set(range(0, n, max(1, int(stride)))) | {k for k in keyframes if 0 <= k < n}
                  | {n - 1})


def demo_from_rlbench(raw_demo, task: str, variation: int, descriptions: Sequence[str],
                      seed: int, cameras: Sequence[str] = CAMERAS,
                      frame_rate: float | None = RLBENCH_FRAME_RATE,
                      depth_in_meters: bool = True) -> Demo:
    """An RLBench Demo (``len`` + indexing, 20 Hz) -> mn_sim.types.Demo.

    frame_rate: None keeps frame 0 and the keyframes (PerAct's heuristic) only; a rate keeps
    every round(20 / rate)-th frame plus every keyframe and the last frame, and the Demo
    records the rate achieved (20 / stride). ``action_frames`` are the keyframes' positions.
    """
    n = len(raw_demo)
    if n == 0:
        raise ValueError(f"RLBench returned an empty demo for {task!r}")
    raw = [raw_demo[i] for i in range(n)]
    kfs = keypoint_discovery(raw)
    if frame_rate is None:
        keep, rate = [0] + [k for k in kfs if k > 0], None
    else:
        if not (frame_rate > 0 and np.isfinite(frame_rate)):
            raise ValueError(f"frame_rate must be a positive number of Hz or None; got "
                             f"{frame_rate}")
        stride = max(1, int(round(RLBENCH_FRAME_RATE / frame_rate)))
        keep, rate = select_frames(n, kfs, stride), RLBENCH_FRAME_RATE / stride
    where = {f: j for j, f in enumerate(keep)}
    return Demo(task=task, variation=int(variation), descriptions=list(descriptions),
                seed=int(seed),
                observations=[observation_from_rlbench(raw[f], cameras, depth_in_meters)
                              for f in keep],
                success=True, failure_reason="", action_frames=[where[k] for k in kfs],
                frame_rate=rate)


# ---------------------------------------------------------------------------------------------
# tasks by name

_TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def task_class_name(name: str) -> str:
    """RLBench's file -> class rule: open_drawer -> OpenDrawer."""
    return "".join(w[:1].upper() + w[1:] for w in name.split("_"))


def rlbench_task_names(package: str = TASKS_PACKAGE) -> list[str]:
    """The task modules of RLBench's task package."""
    pkg = importlib.import_module(package)
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)
                  if not m.name.startswith("_"))


def resolve_task_class(name: str, package: str = TASKS_PACKAGE):
    """``rlbench.tasks.<name>.<CamelName>``; a ValueError listing the tasks when unknown."""
    def unknown(why: str) -> ValueError:
        names = rlbench_task_names(package)
        return ValueError(f"{why}; RLBench has {len(names)} tasks: {', '.join(names)}")

    if not isinstance(name, str) or not _TASK_NAME.match(name):
        raise unknown(f"invalid RLBench task name {name!r} (expected snake_case like "
                      f"'open_drawer')")
    module = f"{package}.{name}"
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:  # the task exists but something it imports is missing
            raise
        raise unknown(f"unknown RLBench task {name!r}") from None
    cls = getattr(mod, task_class_name(name), None)
    if cls is None:
        raise ValueError(f"{module} has no class {task_class_name(name)}")
    return cls


# ---------------------------------------------------------------------------------------------
# the environment


class RLBenchEnv:
    """MNEnv's interface (reset/step/record_demo/run_expert/close) over RLBench.

    Args:
        image_size: camera resolution (square), 128 as in the RLBench benchmark.
        cameras: cameras to render, from front, left_shoulder, right_shoulder, wrist, overhead.
        max_steps: actions per episode before it is truncated.
        task: default task for reset() without options["task"].
        headless: start CoppeliaSim without its window.
        masks: also render segmentation masks (object handles).
    """

    def __init__(self, image_size: int = 128, cameras: Sequence[str] = CAMERAS,
                 max_steps: int = MAX_EPISODE_STEPS, task: str | None = None,
                 headless: bool = True, masks: bool = False,
                 render_mode: str | None = "rgb_array"):
        cameras = tuple(cameras)
        bad = [c for c in cameras if c not in RLBENCH_CAMERAS + tuple(CAMERA_ALIASES)]
        if bad or not cameras:
            raise ValueError(f"unknown camera(s) {bad or '(none given)'}; RLBench has "
                             f"{list(RLBENCH_CAMERAS)}")
        if int(image_size) <= 0 or int(max_steps) <= 0:
            raise ValueError(f"image_size and max_steps must be positive; got {image_size}, "
                             f"{max_steps}")
        self._rl = import_rlbench()   # ImportError with install instructions when missing
        self.image_size, self.cameras = int(image_size), cameras
        self.max_steps, self.default_task, self.render_mode = int(max_steps), task, render_mode
        self.masks = bool(masks)
        arm = self._rl.EndEffectorPoseViaPlanning()
        # PerAct's fork: action(scene, action, ignore_collisions); upstream: action(scene, action)
        self.per_action_collisions = "ignore_collisions" in inspect.signature(
            arm.action).parameters
        mode = self._rl.MoveArmThenGripper(arm_action_mode=arm,
                                           gripper_action_mode=self._rl.Discrete())
        self._env = self._rl.Environment(mode, obs_config=self._obs_config(), headless=headless)
        self._launched = False
        self.task_env = None
        self.task_name: str | None = None
        self.descriptions: list[str] = []
        self.steps, self.done = 0, False
        self._last: Observation | None = None
        try:
            from gymnasium import spaces
            self.action_space = spaces.Box(-np.inf, np.inf, shape=(9,), dtype=np.float64)
        except ImportError:
            pass

    def _obs_config(self):
        rl = self._rl
        cams = {}
        for name in RLBENCH_CAMERAS:
            if name in {CAMERA_ALIASES.get(c, c) for c in self.cameras}:
                cfg = rl.CameraConfig(rgb=True, depth=True, mask=self.masks,
                                      image_size=(self.image_size, self.image_size),
                                      depth_in_meters=True)
            else:
                cfg = rl.CameraConfig()
                cfg.set_all(False)   # a camera with nothing enabled is removed from the scene
            if hasattr(cfg, "point_cloud"):  # newer RLBench; mn builds its own point clouds
                cfg.point_cloud = False
            cams[f"{name}_camera"] = cfg
        config = rl.ObservationConfig(
            **cams, joint_velocities=True, joint_positions=True, joint_forces=True,
            gripper_open=True, gripper_pose=True, gripper_matrix=True,
            gripper_joint_positions=True, gripper_touch_forces=False, task_low_dim_state=True)
        if hasattr(config, "record_ignore_collisions"):  # PerAct's fork
            config.record_ignore_collisions = True
        return config

    # ------------------------------------------------------------------ set-up
    def _load_task(self, name: str) -> None:
        if self.task_env is not None and self.task_name == name:
            return
        task_class = resolve_task_class(name)
        if not self._launched:
            self._env.launch()
            self._launched = True
        self.task_env = self._env.get_task(task_class)
        self.task_name = name

    @staticmethod
    def _seed(seed: int | None) -> None:
        if seed is not None:
            np.random.seed(int(seed) % 2 ** 32)   # RLBench samples from NumPy's global RNG
            random.seed(int(seed))

    def variation_count(self) -> int:
        if self.task_env is None:
            raise RuntimeError("call reset() first: no task is loaded")
        return int(self.task_env.variation_count())

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        options = dict(options or {})
        name = options.get("task", self.default_task if self.task_name is None
                           else self.task_name)
        if name is None:
            raise ValueError("reset needs options={'task': <name>}, e.g. 'open_drawer'")
        self._load_task(name)
        variation, count = options.get("variation", 0), self.variation_count()
        if not isinstance(variation, (int, np.integer)) or not 0 <= int(variation) < count:
            raise ValueError(f"task {name!r} has variations 0..{count - 1}; got {variation!r}")
        variation = int(variation)
        self._seed(seed)
        self.task_env.set_variation(variation)
        descriptions, raw = self.task_env.reset()
        self.descriptions = list(descriptions)
        self.steps, self.done = 0, False
        self._last = observation_from_rlbench(raw, self.cameras, ignore_collisions=1.0)
        return self._last, {"descriptions": self.descriptions, "variation": variation,
                            "task": name}

    # ------------------------------------------------------------------ stepping
    def step(self, action, render: bool = True):
        """One action; ``render`` is accepted for MNEnv compatibility (RLBench always renders).
        """
        if self.task_env is None or self.done:
            raise RuntimeError("call reset() before step() (and again after an episode ends)")
        from mn_sim.env import check_action
        action = check_action(action)    # malformed (NaN, zero quaternion): a bug, it raises
        self.steps += 1
        rl_action = action_to_rlbench(action, self.per_action_collisions)
        try:
            raw, reward, terminate = self.task_env.step(rl_action)
        except tuple(self._rl.failures) as e:
            return self._end(failure_reason(e, self._rl.failures))
        success = float(reward) >= 1.0   # reward is float(success) without shaped rewards
        reason = "" if success or not terminate else "the task ended the episode unsuccessfully"
        terminated = success or bool(terminate)
        truncated = (not terminated) and self.steps >= self.max_steps
        self.done = terminated or truncated
        self._last = observation_from_rlbench(raw, self.cameras,
                                              ignore_collisions=float(action.ignore_collisions))
        return self._last, float(success), terminated, truncated, {"success": success,
                                                                   "failure_reason": reason}

    def _end(self, reason: str):
        self.done = True
        self._last = observation_from_rlbench(self.task_env.get_observation(), self.cameras,
                                              ignore_collisions=1.0)
        return self._last, 0.0, True, False, {"success": False, "failure_reason": reason}

    def render(self, size: int | None = None, camera: str | None = None):
        """The observer (else front, else first) camera's last rgb image, resized to `size`
        (RLBench renders at its image size only)."""
        if self._last is None:
            raise RuntimeError("call reset() before render()")
        cams = self._last.cameras
        cam = camera if camera in cams else next(
            (c for c in (OBSERVER_CAMERA, "front") if c in cams), self.cameras[0])
        rgb = cams[cam].rgb
        if size and size != rgb.shape[0]:
            from PIL import Image
            rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BILINEAR))
        return rgb

    # ------------------------------------------------------------------ demonstrations
    def _live_demo(self, task: str, variation: int, seed: int):
        """(raw RLBench demo or None, descriptions, failure reason)."""
        _, info = self.reset(seed=seed, options={"task": task, "variation": variation})
        self._seed(seed)   # the demo's own reset places the scene from this state
        try:
            raw = self.task_env.get_demos(1, live_demos=True)[0]
        except Exception as e:  # noqa: BLE001 - RLBench wraps every demo failure this way too
            return None, info["descriptions"], (f"RLBench could not record a demo: "
                                                f"{type(e).__name__}: {e}")
        finally:
            self.done = True   # the scene has moved on: step() needs a new reset()
        return raw, info["descriptions"], ""

    def record_demo(self, task: str, variation: int, seed: int,
                    frame_rate: float | None = RLBENCH_FRAME_RATE,
                    max_steps: int = MAX_EPISODE_STEPS) -> Demo:
        """RLBench's expert demo (``get_demos(1, live_demos=True)``) for this seed.

        frame_rate: RLBench records at 20 Hz; lower rates keep every round(20 / rate)-th frame
        (plus keyframes); None keeps frame 0 and the keyframes only. ``max_steps`` is accepted
        for MNEnv compatibility (RLBench's expert is not split into mn actions).
        """
        raw, descriptions, reason = self._live_demo(task, variation, seed)
        if raw is None:
            return Demo(task=task, variation=int(variation), descriptions=descriptions,
                        seed=int(seed), observations=[self._last], success=False,
                        failure_reason=reason, frame_rate=frame_rate)
        return demo_from_rlbench(raw, task, variation, descriptions, seed, self.cameras,
                                 frame_rate)

    def run_expert(self, task: str, variation: int, seed: int) -> tuple[bool, str, int]:
        """Run RLBench's expert; returns (success, failure_reason, keyframes)."""
        raw, _, reason = self._live_demo(task, variation, seed)
        if raw is None:
            return False, reason, 0
        return True, "", len(keypoint_discovery([raw[i] for i in range(len(raw))]))

    def close(self) -> None:
        if self._launched:
            self._env.shutdown()
            self._launched = False
        self.task_env, self.task_name = None, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
