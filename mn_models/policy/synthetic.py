"""Synthetic RGB-D scenes for tests and demos: ray-cast boxes on a table, seen by pinhole
cameras placed like RLBench's, with a known keyframe target.

Each scene has a table plane and three axis-aligned boxes: a red one, a blue one and a grey
one. The instruction (one token) names red or blue; the target is the top centre of that box with
Euler xyz angles (180 if the box is low else 160, 0 for red else 15, 0 if the box is longer
along x else 90); gripper_open = 1 if the box is tall, ignore_collisions = 1 if it is wide.
Everything the target depends on is visible or in the instruction, so a policy can learn it.
"""
from __future__ import annotations

import numpy as np
import torch

from mn_models.policy import constants as K
from mn_models.policy.rotations import euler_xyz_to_quat
from mn_sim.types import CAMERAS

TABLE_Z = 0.75
TOKEN_RED, TOKEN_BLUE, SOT, EOT = 1000, 2000, 49406, 49407
CAMERA_POSES = {  # eye, look-at target (world, metres)
    "front": ((1.35, 0.0, 1.55), (0.25, 0.0, 0.8)),
    "left_shoulder": ((0.0, 0.75, 1.55), (0.25, -0.05, 0.8)),
    "right_shoulder": ((0.0, -0.75, 1.55), (0.25, 0.05, 0.8)),
    "wrist": ((0.2, 0.0, 1.6), (0.2, 0.0, 0.75)),
}


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """4x4 camera-to-world pose, OpenCV axes (z forward, x right, y down)."""
    eye, target, up = (np.asarray(v, float) for v in (eye, target, up))
    f = target - eye
    f /= np.linalg.norm(f)
    if abs(np.dot(f, up)) > 0.999:
        up = np.array([1.0, 0.0, 0.0])
    x = np.cross(f, up)
    x /= np.linalg.norm(x)
    y = np.cross(f, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, f], 1)
    T[:3, 3] = eye
    return T


def intrinsics(hw: int, fovy_deg: float = 60.0) -> np.ndarray:
    f = 0.5 * hw / np.tan(np.deg2rad(fovy_deg) / 2)
    c = (hw - 1) / 2.0
    return np.array([[f, 0, c], [0, f, c], [0, 0, 1.0]])


def raycast(boxes, colors, T, Kmat, hw, table_rgb=(200, 200, 190), far=4.0):
    """Depth (hw, hw) and rgb (hw, hw, 3) of axis-aligned boxes [lo, hi] on the table."""
    v, u = np.meshgrid(np.arange(hw, dtype=float), np.arange(hw, dtype=float), indexing="ij")
    d_cam = np.stack([(u - Kmat[0, 2]) / Kmat[0, 0], (v - Kmat[1, 2]) / Kmat[1, 1],
                      np.ones_like(u)], -1)                    # (hw, hw, 3), z = 1
    d = d_cam @ T[:3, :3].T
    o = T[:3, 3]
    depth = np.full((hw, hw), far)
    rgb = np.zeros((hw, hw, 3), np.uint8)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (TABLE_Z - o[2]) / d[..., 2]
        hit = (t > 0) & (t < depth)
        depth = np.where(hit, t, depth)
        rgb[hit] = table_rgb
        for (lo, hi), col in zip(boxes, colors):
            t1, t2 = (np.asarray(lo) - o) / d, (np.asarray(hi) - o) / d
            tmin = np.minimum(t1, t2).max(-1)
            tmax = np.maximum(t1, t2).min(-1)
            hit = (tmax >= tmin) & (tmin > 0) & (tmin < depth)
            depth = np.where(hit, tmin, depth)
            rgb[hit] = col
    return depth.astype(np.float32), rgb


def make_synthetic_batch(batch_size: int = 4, seed: int = 0, hw: int = 64,
                         cameras=tuple(CAMERAS)) -> dict:
    """A policy batch (with ACTION targets) of random synthetic scenes."""
    rng = np.random.default_rng(seed)
    unknown = [c for c in cameras if c not in CAMERA_POSES]
    if unknown:
        raise ValueError(f"no synthetic pose for camera(s) {unknown}; known: "
                         f"{sorted(CAMERA_POSES)}")
    Kmat = intrinsics(hw)
    per_cam = {c: {"rgb": [], "depth": []} for c in cameras}
    actions, tokens, proprio = [], [], []
    cells = [(-0.05, -0.25), (-0.05, 0.25), (0.3, -0.25), (0.3, 0.25), (0.5, 0.0), (0.1, 0.0)]
    for _ in range(batch_size):
        spots = rng.choice(len(cells), 3, replace=False)
        boxes, dims = [], []
        for s in spots:
            cx, cy = np.array(cells[s]) + rng.uniform(-0.04, 0.04, 2)
            long_x = rng.random() < 0.5
            sx, sy = (0.14, 0.07) if long_x else (0.07, 0.14)
            sx, sy = sx * rng.uniform(0.8, 1.1), sy * rng.uniform(0.8, 1.1)
            h = rng.choice([0.05, 0.11])
            boxes.append(((cx - sx / 2, cy - sy / 2, TABLE_Z), (cx + sx / 2, cy + sy / 2,
                                                                TABLE_Z + h)))
            dims.append((long_x, h, max(sx, sy)))
        colors = [(220, 30, 30), (30, 60, 220), (120, 120, 120)]
        which = int(rng.integers(0, 2))                         # 0 red, 1 blue
        (lo, hi), (long_x, h, width) = boxes[which], dims[which]
        pos = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2] + 0.02])
        euler = [180.0 if h < 0.08 else 160.0, 0.0 if which == 0 else 15.0,
                 0.0 if long_x else 90.0]
        quat = euler_xyz_to_quat(torch.tensor(euler, dtype=torch.float64)).numpy()
        actions.append(np.concatenate([pos, quat, [float(h > 0.08), float(width > 0.135)]]))
        tokens.append([SOT, TOKEN_RED if which == 0 else TOKEN_BLUE, EOT])
        proprio.append([1.0, 0.04, 0.04])
        for c in cameras:
            T = look_at(*CAMERA_POSES[c])
            depth, rgb = raycast(boxes, colors, T, Kmat, hw)
            per_cam[c]["rgb"].append(rgb)
            per_cam[c]["depth"].append(depth)
    batch = {}
    for c in cameras:
        rgb_k, depth_k, intr_k, extr_k = K.camera_keys(c)
        batch[rgb_k] = torch.from_numpy(np.stack(per_cam[c]["rgb"]))
        batch[depth_k] = torch.from_numpy(np.stack(per_cam[c]["depth"]))
        batch[intr_k] = torch.from_numpy(Kmat).float().expand(batch_size, 3, 3).clone()
        batch[extr_k] = torch.from_numpy(look_at(*CAMERA_POSES[c])).float().expand(
            batch_size, 4, 4).clone()
    batch[K.PROPRIO] = torch.tensor(proprio, dtype=torch.float32)
    batch[K.LANG_TOKENS] = torch.tensor(tokens, dtype=torch.long)
    batch[K.LANG_MASK] = torch.ones(batch_size, 3, dtype=torch.bool)
    batch[K.ACTION] = torch.tensor(np.stack(actions), dtype=torch.float32)
    return batch


__all__ = ["make_synthetic_batch", "look_at", "intrinsics", "raycast", "CAMERA_POSES"]
