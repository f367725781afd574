"""Assemble one mn_sim Observation from the messages the sim node publishes with one stamp.

ROS-free: the node converts each message (mn_ros.conversions) and hands the result here under a
part name; when every part of a stamp is present the Observation is returned. A part that failed
validation rejects its whole stamp, so a bad message never leads to motion.

    sync = ObservationSync(cameras=("front", "wrist"))
    obs = sync.add(stamp_ns, "front/image", rgb)       # None until complete
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable

import numpy as np

from mn_ros.conversions import pose_to_matrix
from mn_sim.types import CameraObs, Observation

CAMERA_PARTS = ("image", "depth", "info", "pose")
ROBOT_PARTS = ("joints", "gripper_pose", "status")   # status: the sim's task_status dict


def camera_part(cam: str, part: str) -> str:
    return f"{cam}/{part}"


class ObservationSync:
    """Collects parts by stamp; keeps at most ``max_pending`` incomplete stamps (oldest dropped)
    and remembers recently completed or rejected stamps so re-published copies are ignored."""

    def __init__(self, cameras: Iterable[str], max_pending: int = 4, memory: int = 16):
        self.cameras = tuple(cameras)
        self.required = {camera_part(c, p) for c in self.cameras for p in CAMERA_PARTS}
        self.required |= set(ROBOT_PARTS)
        self.max_pending, self.memory = max_pending, memory
        self.pending: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.finished: OrderedDict[int, str] = OrderedDict()   # stamp -> "done" | reason

    def _finish(self, stamp: int, how: str) -> None:
        self.pending.pop(stamp, None)
        self.finished[stamp] = how
        while len(self.finished) > self.memory:
            self.finished.popitem(last=False)

    def reject(self, stamp: int, reason: str) -> None:
        """Mark a stamp bad: its observation is never produced."""
        self._finish(int(stamp), reason)

    def status(self, stamp: int) -> str | None:
        """"done", a rejection reason, or None (pending / unknown)."""
        return self.finished.get(int(stamp))

    def add(self, stamp: int, part: str, value) -> Observation | None:
        stamp = int(stamp)
        if part not in self.required:
            return None
        if stamp in self.finished:
            return None
        parts = self.pending.setdefault(stamp, {})
        parts[part] = value
        while len(self.pending) > self.max_pending:
            self.pending.popitem(last=False)
        if stamp not in self.pending or set(parts) != self.required:
            return None
        try:
            obs = self._build(parts)
        except (ValueError, KeyError) as e:
            self.reject(stamp, str(e))
            raise ValueError(f"observation {stamp} rejected: {e}") from None
        self._finish(stamp, "done")
        return obs

    def _build(self, parts: dict[str, Any]) -> Observation:
        cams = {}
        for c in self.cameras:
            rgb, depth = parts[camera_part(c, "image")], parts[camera_part(c, "depth")]
            if rgb.shape[:2] != depth.shape[:2]:
                raise ValueError(f"camera {c}: rgb is {rgb.shape[:2]} but depth is "
                                 f"{depth.shape[:2]}")
            cams[c] = CameraObs(rgb=rgb, depth=depth, intrinsics=parts[camera_part(c, "info")],
                                extrinsics=parts[camera_part(c, "pose")], near=0.0,
                                far=float(np.max(depth)))
        joints, pose = parts["joints"], parts["gripper_pose"]
        return Observation(
            joint_positions=joints["arm_position"], joint_velocities=joints["arm_velocity"],
            joint_forces=joints["arm_effort"],
            gripper_open=float(bool(parts["status"]["gripper_open"])),
            gripper_pose=pose, gripper_matrix=pose_to_matrix(pose),
            gripper_joint_positions=joints["finger_position"],
            task_low_dim_state=np.zeros(0), cameras=cams,
            misc={"status": parts["status"]})
