"""The data that crosses the simulator boundary: observations and actions, RLBench-shaped.

Conventions (same as RLBench):
- quaternions are xyzw; poses are xyz + quaternion (7 numbers);
- camera extrinsics are the 4x4 camera-to-world pose, with the camera looking along +z of
  its frame (OpenCV convention: x right, y down); intrinsics are the 3x3 pinhole matrix;
- depth is in metres along the optical axis; background pixels are at ``far``;
- gripper_open is 1.0 when open, 0.0 when closed.
The episode time step is never part of an observation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CAMERAS: tuple[str, ...] = ("front", "left_shoulder", "right_shoulder", "wrist")   # the policy's
# The camera the observer (action-understanding model) and people watch: placed so that every
# variation's state change is in view (which drawer, which tap, which shelf); not a policy input.
OBSERVER_CAMERA = "observer"
OPTIONAL_CAMERAS: tuple[str, ...] = ("overhead", OBSERVER_CAMERA)
IMAGE_SIZE = 128      # policy and observer inputs
DISPLAY_SIZE = 256    # videos and images for people (demo, rollouts, contact sheets)
# what a collected dataset holds by default: the policy's cameras and the observer's
DATASET_CAMERAS: tuple[str, ...] = CAMERAS + (OBSERVER_CAMERA,)


@dataclass
class CameraObs:
    rgb: np.ndarray          # (H, W, 3) uint8
    depth: np.ndarray        # (H, W) float32, metres
    intrinsics: np.ndarray   # (3, 3) float64
    extrinsics: np.ndarray   # (4, 4) float64, camera-to-world
    near: float
    far: float
    # (H, W) int32 segmentation, optional: per pixel the handle of the object seen, 0 =
    # background (mn_sim: MuJoCo body id + 1, see mn_sim.sim.MASK_HANDLE_OFFSET; RLBench:
    # CoppeliaSim object handles)
    mask: np.ndarray | None = None


@dataclass
class Observation:
    joint_positions: np.ndarray        # (7,)
    joint_velocities: np.ndarray       # (7,)
    joint_forces: np.ndarray           # (7,)
    gripper_open: float                # 1.0 open, 0.0 closed
    gripper_pose: np.ndarray           # (7,) xyz + quaternion xyzw
    gripper_matrix: np.ndarray         # (4, 4)
    gripper_joint_positions: np.ndarray  # (2,) finger joints, metres
    task_low_dim_state: np.ndarray     # (N,) task-specific object state
    ignore_collisions: float = 1.0
    cameras: dict[str, CameraObs] = field(default_factory=dict)
    misc: dict = field(default_factory=dict)

    def low_dim_dict(self) -> dict:
        """Everything but the images, as plain arrays/floats (what low_dim_obs stores)."""
        d = {
            "joint_positions": self.joint_positions,
            "joint_velocities": self.joint_velocities,
            "joint_forces": self.joint_forces,
            "gripper_open": float(self.gripper_open),
            "gripper_pose": self.gripper_pose,
            "gripper_matrix": self.gripper_matrix,
            "gripper_joint_positions": self.gripper_joint_positions,
            "task_low_dim_state": self.task_low_dim_state,
            "ignore_collisions": float(self.ignore_collisions),
        }
        for name, cam in self.cameras.items():
            d[f"{name}_camera_intrinsics"] = cam.intrinsics
            d[f"{name}_camera_extrinsics"] = cam.extrinsics
            d[f"{name}_camera_near"] = float(cam.near)
            d[f"{name}_camera_far"] = float(cam.far)
        return d


@dataclass
class Action:
    """RLBench's EndEffectorPoseViaPlanning + Discrete gripper, as one record.

    As a flat vector (``to_array``/``from_array``): [x, y, z, qx, qy, qz, qw, gripper_open,
    ignore_collisions] (9 numbers), the layout ARP predicts.
    """
    position: np.ndarray               # (3,) metres, world frame
    quaternion: np.ndarray             # (4,) xyzw
    gripper_open: bool = True
    ignore_collisions: bool = True

    def to_array(self) -> np.ndarray:
        return np.concatenate([np.asarray(self.position, float), np.asarray(self.quaternion, float),
                               [float(self.gripper_open), float(self.ignore_collisions)]])

    @classmethod
    def from_array(cls, a) -> "Action":
        a = np.asarray(a, dtype=float).reshape(-1)
        if a.shape[0] != 9:
            raise ValueError(f"an action has 9 numbers [xyz(3), quat xyzw(4), gripper_open, "
                             f"ignore_collisions]; got {a.shape[0]}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action contains NaN or inf: {a.tolist()}")
        return cls(a[:3].copy(), a[3:7].copy(), bool(a[7] > 0.5), bool(a[8] > 0.5))


@dataclass
class Demo:
    """One demonstration: the observations recorded while the expert ran one episode.

    ``observations[0]`` is the state after reset; later ones are taken at the recording
    rate during motions (or only at the end of each action when keyframe-only).
    ``action_frames[k]`` is the index of the observation recorded when expert action k ended.
    """
    task: str
    variation: int
    descriptions: list[str]
    seed: int
    observations: list[Observation]
    success: bool
    failure_reason: str = ""
    action_frames: list[int] = field(default_factory=list)
    frame_rate: float | None = None   # frames per simulated second; None = keyframe-only
    # mask handle -> object name (mn_sim: body names; 0 "background"); {} without masks
    mask_labels: dict[int, str] = field(default_factory=dict)
