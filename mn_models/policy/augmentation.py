"""SE(3) augmentation of PerAct/RVT/ARP: random translation and yaw, applied to the scene and
the poses together.

A perturbation is ``p' = R (p - pivot) + pivot + t`` with ``R`` a rotation about +z by
yaw ~ U(-yaw_max, yaw_max) and ``t ~ U(-t_max, t_max)`` per axis; orientations become
``R @ R_pose``. The pivot is the workspace centre (default) or the target position
(PerAct's action-centric variant). Perturbations that move the target out of the workspace
bounds are resampled (up to ``max_tries``), then replaced by the identity.
"""
from __future__ import annotations

import math

import torch

from mn_models.policy.pointcloud import bounds_tensor, in_bounds
from mn_models.policy.rotations import matrix_to_quat, quat_to_matrix, yaw_matrix


def apply_transform(points: torch.Tensor, R: torch.Tensor, t: torch.Tensor,
                    pivot: torch.Tensor) -> torch.Tensor:
    """points (B, N, 3) or (B, 3); R (B, 3, 3); t, pivot (B, 3)."""
    squeeze = points.dim() == 2
    p = points[:, None] if squeeze else points
    out = (p - pivot[:, None]) @ R.transpose(1, 2) + pivot[:, None] + t[:, None]
    return out[:, 0] if squeeze else out


def transform_pose(pose: torch.Tensor, R: torch.Tensor, t: torch.Tensor,
                   pivot: torch.Tensor) -> torch.Tensor:
    """pose (B, 7) xyz + quat xyzw -> the perturbed pose (B, 7), quaternion with w >= 0."""
    pos = apply_transform(pose[:, :3], R, t, pivot)
    rot = R @ quat_to_matrix(pose[:, 3:7])
    return torch.cat([pos, matrix_to_quat(rot)], -1)


def sample_se3(target_xyz: torch.Tensor, bounds, translation=(0.125, 0.125, 0.125),
               yaw_deg: float = 45.0, pivot: str = "center", max_tries: int = 10,
               generator: torch.Generator | None = None):
    """Sample per-sample (R, t, pivot) keeping ``target_xyz`` (B, 3) inside ``bounds``.

    Returns R (B, 3, 3), t (B, 3), pivot (B, 3), accepted (B,) bool (False = identity used).
    """
    B, dev, dt = target_xyz.shape[0], target_xyz.device, target_xyz.dtype
    b = bounds_tensor(bounds, dev, dt)
    if pivot == "center":
        piv = ((b[:3] + b[3:]) / 2).expand(B, 3).clone()
    elif pivot == "target":
        piv = target_xyz.clone()
    else:
        raise ValueError(f"pivot must be 'center' or 'target'; got {pivot!r}")
    t_max = torch.as_tensor(translation, dtype=dt, device=dev)
    R = torch.eye(3, dtype=dt, device=dev).repeat(B, 1, 1)
    t = torch.zeros(B, 3, dtype=dt, device=dev)
    accepted = torch.zeros(B, dtype=torch.bool, device=dev)
    for _ in range(max(1, int(max_tries))):
        todo = ~accepted
        n = int(todo.sum())
        if n == 0:
            break
        u = torch.rand(n, 4, generator=generator, dtype=dt).to(dev) * 2 - 1
        t_try = u[:, :3] * t_max
        R_try = yaw_matrix(u[:, 3] * math.radians(yaw_deg))
        moved = apply_transform(target_xyz[todo], R_try, t_try, piv[todo])
        ok = in_bounds(moved, b)
        idx = todo.nonzero().squeeze(1)[ok]
        R[idx], t[idx] = R_try[ok], t_try[ok]
        accepted[idx] = True
    return R, t, piv, accepted


def augment_se3(points: torch.Tensor, target_pose: torch.Tensor, bounds,
                translation=(0.125, 0.125, 0.125), yaw_deg: float = 45.0,
                pivot: str = "center", max_tries: int = 10, extra_poses=None,
                generator: torch.Generator | None = None):
    """Perturb a batch of scenes and their target (and other) poses consistently.

    points (B, N, 3) world; target_pose (B, 7) xyz + quat xyzw; extra_poses: optional list of
    (B, 7) poses (e.g. the current gripper pose) moved along. Returns
    (points, target_pose, extra_poses, info) with info = dict(R, t, pivot, accepted).
    """
    R, t, piv, acc = sample_se3(target_pose[:, :3], bounds, translation, yaw_deg, pivot,
                                max_tries, generator)
    new_points = apply_transform(points, R.to(points.dtype), t.to(points.dtype),
                                 piv.to(points.dtype))
    new_target = transform_pose(target_pose, R, t, piv)
    extras = [transform_pose(p, R.to(p.dtype), t.to(p.dtype), piv.to(p.dtype))
              for p in (extra_poses or [])]
    return new_points, new_target, extras, dict(R=R, t=t, pivot=piv, accepted=acc)


__all__ = ["apply_transform", "transform_pose", "sample_se3", "augment_se3"]
