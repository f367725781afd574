"""Rotation conversions and the RLBench/PerAct rotation discretisation (torch, batched).

Conventions (same as RLBench, PerAct, RVT and ARP):
- quaternions are xyzw; ``matrix_to_quat`` returns the one with w >= 0;
- Euler angles are scipy's lowercase ``"xyz"`` (extrinsic: rotate about the fixed world x,
  then y, then z), in degrees: ``R = Rz(c) @ Ry(b) @ Rx(a)``; ``matrix_to_euler_xyz`` returns
  a in (-180, 180], b in [-90, 90], c in (-180, 180];
- discretisation: ``bin = round((angle + 180) / res) mod (360 / res)``, ``res`` = 5 degrees
  for 72 bins; the inverse maps a bin back to ``bin * res - 180``. Bins therefore cover
  [-180, 180) and -180 and +180 share bin 0.
Near b = +-90 (gimbal lock) a and c are not unique; we set c = 0 there.
"""
from __future__ import annotations

import torch


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) xyzw -> (..., 3, 3). The quaternion need not be normalised."""
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    x, y, z, w = q.unbind(-1)
    m = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], dim=-1)
    return m.reshape(*q.shape[:-1], 3, 3)


def matrix_to_quat(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) xyzw with w >= 0 (numerically stable)."""
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # four candidate solutions, each well conditioned where its pivot is large
    cands = torch.stack([
        torch.stack([m21 - m12, m02 - m20, m10 - m01, 1 + m00 + m11 + m22], -1),  # w pivot
        torch.stack([1 + m00 - m11 - m22, m01 + m10, m02 + m20, m21 - m12], -1),  # x pivot
        torch.stack([m01 + m10, 1 - m00 + m11 - m22, m12 + m21, m02 - m20], -1),  # y pivot
        torch.stack([m02 + m20, m12 + m21, 1 - m00 - m11 + m22, m10 - m01], -1),  # z pivot
    ], dim=-2)  # (..., 4, 4)
    pivots = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                          1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)  # (..., 4)
    best = pivots.argmax(-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.where(q[..., 3:4] < 0, -q, q)


def _rx(a):
    c, s, o, z = torch.cos(a), torch.sin(a), torch.ones_like(a), torch.zeros_like(a)
    return torch.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(*a.shape, 3, 3)


def _ry(a):
    c, s, o, z = torch.cos(a), torch.sin(a), torch.ones_like(a), torch.zeros_like(a)
    return torch.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(*a.shape, 3, 3)


def _rz(a):
    c, s, o, z = torch.cos(a), torch.sin(a), torch.ones_like(a), torch.zeros_like(a)
    return torch.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(*a.shape, 3, 3)


def euler_xyz_to_matrix(euler_deg: torch.Tensor) -> torch.Tensor:
    """(..., 3) extrinsic xyz Euler angles in degrees -> (..., 3, 3) = Rz @ Ry @ Rx."""
    a, b, c = torch.deg2rad(euler_deg).unbind(-1)
    return _rz(c) @ _ry(b) @ _rx(a)


def matrix_to_euler_xyz(m: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) extrinsic xyz Euler angles in degrees (see module doc)."""
    sb = (-m[..., 2, 0]).clamp(-1.0, 1.0)
    b = torch.asin(sb)
    cb = torch.sqrt((m[..., 2, 1] ** 2 + m[..., 2, 2] ** 2))
    regular = cb > eps
    a = torch.atan2(m[..., 2, 1], m[..., 2, 2])
    c = torch.atan2(m[..., 1, 0], m[..., 0, 0])
    # gimbal lock: R = Ry(+-90) Rx(a') with c = 0, a' = atan2(+-m01, m11)
    a_lock = torch.atan2(torch.sign(sb) * m[..., 0, 1], m[..., 1, 1])
    a = torch.where(regular, a, a_lock)
    c = torch.where(regular, c, torch.zeros_like(c))
    return torch.rad2deg(torch.stack([a, b, c], -1))


def quat_to_euler_xyz(q: torch.Tensor) -> torch.Tensor:
    return matrix_to_euler_xyz(quat_to_matrix(q))


def euler_xyz_to_quat(euler_deg: torch.Tensor) -> torch.Tensor:
    return matrix_to_quat(euler_xyz_to_matrix(euler_deg))


def euler_to_bins(euler_deg: torch.Tensor, num_bins: int = 72) -> torch.Tensor:
    """(..., 3) degrees -> (..., 3) int64 bins in [0, num_bins)."""
    res = 360.0 / num_bins
    bins = torch.round((euler_deg + 180.0) / res).long()
    return torch.remainder(bins, num_bins)


def bins_to_euler(bins: torch.Tensor, num_bins: int = 72) -> torch.Tensor:
    """(..., 3) int bins -> (..., 3) degrees in [-180, 180)."""
    return bins.to(torch.get_default_dtype()) * (360.0 / num_bins) - 180.0


def quat_to_bins(q: torch.Tensor, num_bins: int = 72) -> torch.Tensor:
    """(..., 4) xyzw -> (..., 3) Euler bins (RLBench's quaternion_to_discrete_euler)."""
    return euler_to_bins(quat_to_euler_xyz(q), num_bins)


def bins_to_quat(bins: torch.Tensor, num_bins: int = 72) -> torch.Tensor:
    """(..., 3) Euler bins -> (..., 4) xyzw (RLBench's discrete_euler_to_quaternion)."""
    return euler_xyz_to_quat(bins_to_euler(bins, num_bins))


def quat_angle_deg(q0: torch.Tensor, q1: torch.Tensor) -> torch.Tensor:
    """Geodesic angle (degrees) between two orientations, (..., 4) each."""
    q0 = q0 / q0.norm(dim=-1, keepdim=True)
    q1 = q1 / q1.norm(dim=-1, keepdim=True)
    d = (q0 * q1).sum(-1).abs().clamp(max=1.0)
    return 2.0 * torch.rad2deg(torch.acos(d))


def yaw_matrix(yaw_rad: torch.Tensor) -> torch.Tensor:
    """(...,) angles (radians) -> (..., 3, 3) rotations about +z."""
    return _rz(yaw_rad)


__all__ = [
    "quat_to_matrix", "matrix_to_quat", "euler_xyz_to_matrix", "matrix_to_euler_xyz",
    "quat_to_euler_xyz", "euler_xyz_to_quat", "euler_to_bins", "bins_to_euler",
    "quat_to_bins", "bins_to_quat", "quat_angle_deg", "yaw_matrix",
]
