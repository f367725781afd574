"""Point clouds and RVT-style orthographic virtual views (torch, batched, CPU-friendly).

Pipeline: per-camera depth -> world points (``backproject``), all cameras fused
(``fuse_cameras``), cropped to the workspace bounds and mapped into the cube [-1, 1]^3
(``world_to_cube``), rendered into orthographic views with a z-buffer (``render_views``).
Inverse direction: ``project_to_views`` maps cube points to pixels, ``fuse_heatmaps`` turns
per-view heatmaps into a 3D point (RVT: score a grid of candidate 3D points by the mean of the
views' probabilities at their projections, take the best).

View conventions (cube coordinates; each view is an orthographic camera with OpenCV axes
right r, down d, forward f, r x d = f):
    top   : looks along -z (from above); image right = +x, image up = +y
    front : looks along -x (from +x, where RLBench's front camera is); right = +y, up = +z
    right : looks along +y (from the robot's right, -y); right = +x, up = +z
    left  : looks along -y;  right = -x, up = +z
    back  : looks along +x;  right = -y, up = +z
Pixel (row v, col u) has its centre at r.c = (2u + 1) / S - 1, d.c = (2v + 1) / S - 1, so a
cube point projects to u = ((r.c + 1) S - 1) / 2 (continuous, centre-aligned) and is rendered
into pixel floor((r.c + 1) S / 2). Depth is f.c + 1 in [0, 2] (nearest = smallest).

Each rendered pixel has 10 channels (as RVT): RGB (3, in [0, 1]), the cube xyz of the point
(3), depth (1; RVT's: minus the mean depth of the view's filled pixels, -1 where empty), and
the pixel location (3: view index, row, column, each in [-1, 1]).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from mn_models.policy import constants as K

# rows: r (image right), d (image down), f (viewing direction)
VIEW_FRAMES: dict[str, tuple] = {
    "top": ((1, 0, 0), (0, -1, 0), (0, 0, -1)),
    "front": ((0, 1, 0), (0, 0, -1), (-1, 0, 0)),
    "right": ((1, 0, 0), (0, 0, -1), (0, 1, 0)),
    "left": ((-1, 0, 0), (0, 0, -1), (0, -1, 0)),
    "back": ((0, -1, 0), (0, 0, -1), (1, 0, 0)),
}
NUM_VIEW_CHANNELS = 10


def view_frames(views, dtype=torch.float32, device=None) -> torch.Tensor:
    """(V, 3, 3) rotation world->view for the named views (rows r, d, f)."""
    unknown = [v for v in views if v not in VIEW_FRAMES]
    if unknown:
        raise ValueError(f"unknown view(s) {unknown}; choose from {sorted(VIEW_FRAMES)}")
    return torch.tensor([VIEW_FRAMES[v] for v in views], dtype=dtype, device=device)


# --------------------------------------------------------------------------------------------
# cameras -> fused world point cloud


@functools.lru_cache(maxsize=16)
def _pixel_grid(H: int, W: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """(3, H*W) homogeneous pixel coordinates [u, v, 1] (u = column), cached per size."""
    v, u = torch.meshgrid(torch.arange(H, dtype=dtype, device=device),
                          torch.arange(W, dtype=dtype, device=device), indexing="ij")
    return torch.stack([u, v, torch.ones_like(u)], 0).reshape(3, H * W)


def backproject(depth: torch.Tensor, intrinsics: torch.Tensor, extrinsics: torch.Tensor):
    """Depth images -> world points.

    depth (B, H, W) metres; intrinsics (B, 3, 3); extrinsics (B, 4, 4) camera-to-world.
    Returns points (B, H*W, 3) and valid (B, H*W) (finite, positive depth).
    """
    if depth.dim() != 3:
        raise ValueError(f"depth must be (B, H, W); got shape {tuple(depth.shape)}")
    B, H, W = depth.shape
    dt = depth.dtype if depth.is_floating_point() else torch.float32
    depth = depth.to(dt)
    pix = _pixel_grid(H, W, dt, str(depth.device))                      # (3, HW)
    rays = torch.linalg.inv(intrinsics.to(dt)) @ pix                    # (B, 3, HW)
    z = depth.reshape(B, 1, H * W)
    finite = torch.isfinite(z)
    valid = finite[:, 0] & (z[:, 0] > 0)
    cam = rays * torch.where(finite, z, 0.0)                            # (B, 3, HW)
    T = extrinsics.to(dt)
    world = T[:, :3, :3] @ cam + T[:, :3, 3:4]                           # (B, 3, HW)
    return world.transpose(1, 2), valid


def rgb_to_float(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [0, 1] -> float32 [0, 1]."""
    if rgb.dtype == torch.uint8:
        return rgb.float() / 255.0
    rgb = rgb.float()
    if rgb.numel() and (float(rgb.min()) < 0.0 or float(rgb.max()) > 1.0 + 1e-6):
        raise ValueError(f"float rgb must lie in [0, 1]; got [{float(rgb.min()):.3g}, "
                         f"{float(rgb.max()):.3g}] (pass uint8 for 0..255 images)")
    return rgb


def fuse_cameras(batch: dict, cameras) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All cameras of a batch -> points (B, N, 3), colours (B, N, 3) in [0, 1], valid (B, N)."""
    pts, cols, val = [], [], []
    for cam in cameras:
        keys = K.camera_keys(cam)
        missing = [k for k in keys if k not in batch]
        if missing:
            raise KeyError(f"batch lacks {missing} for camera {cam!r}; a policy batch needs "
                           f"{list(keys)} for every camera in config.cameras")
        rgb, depth, intr, extr = (batch[k] for k in keys)
        if rgb.dim() != 4 or rgb.shape[-1] != 3 or rgb.shape[:3] != depth.shape:
            raise ValueError(f"{cam}: rgb must be (B, H, W, 3) matching depth (B, H, W); got "
                             f"{tuple(rgb.shape)} and {tuple(depth.shape)}")
        p, v = backproject(depth.float(), intr.float(), extr.float())
        pts.append(p)
        cols.append(rgb_to_float(rgb).reshape(rgb.shape[0], -1, 3))
        val.append(v)
    return torch.cat(pts, 1), torch.cat(cols, 1), torch.cat(val, 1)


# --------------------------------------------------------------------------------------------
# workspace cube


def bounds_tensor(bounds, device=None, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(bounds, dtype=dtype, device=device).reshape(6)


def in_bounds(points: torch.Tensor, bounds) -> torch.Tensor:
    """(..., 3) -> (...) bool, inside [min, max] on every axis (NaN is outside)."""
    b = bounds_tensor(bounds, points.device, points.dtype)
    return ((points >= b[:3]) & (points <= b[3:])).all(-1)


def cube_center_scale(bounds, device=None, dtype=torch.float32):
    """Centre (3,) and scale so that the largest workspace side spans [-1, 1] (RVT)."""
    b = bounds_tensor(bounds, device, dtype)
    return (b[:3] + b[3:]) / 2, 2.0 / (b[3:] - b[:3]).max()


def world_to_cube(points: torch.Tensor, bounds) -> torch.Tensor:
    c, s = cube_center_scale(bounds, points.device, points.dtype)
    return (points - c) * s


def cube_to_world(points: torch.Tensor, bounds) -> torch.Tensor:
    c, s = cube_center_scale(bounds, points.device, points.dtype)
    return points / s + c


# --------------------------------------------------------------------------------------------
# rendering


@functools.lru_cache(maxsize=16)
def _location_channels(num_views: int, img_size: int, dtype: torch.dtype, device: str
                       ) -> torch.Tensor:
    S = img_size
    loc = torch.zeros(num_views, 3, S, S, device=device)
    loc[:, 0] = torch.linspace(-1, 1, num_views, device=device)[:, None, None]
    loc[:, 1] = torch.linspace(-1, 1, S, device=device)[None, :, None]
    loc[:, 2] = torch.linspace(-1, 1, S, device=device)[None, None, :]
    return loc.to(dtype)


def pixel_location_channels(num_views: int, img_size: int, device=None,
                            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(V, 3, S, S): view index, row and column, each spread over [-1, 1] (RVT)."""
    return _location_channels(num_views, img_size, dtype, str(device or "cpu")).clone()


@functools.lru_cache(maxsize=32)
def _view_axes(views: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """Each view's frame as (V, 3) source axes and (V, 3) signs: the views are axis-aligned, so
    the (r, d, f) coordinates of a cube point p are sign * p[axis] (exactly R @ p)."""
    R = view_frames(views, torch.float64)                         # (V, 3, 3)
    axes = R.abs().argmax(-1)                                     # (V, 3)
    signs = R.gather(-1, axes[..., None])[..., 0]
    if not torch.equal(R.abs().sum(-1), torch.ones_like(signs)):
        raise AssertionError("view frames must be signed axis permutations")
    return axes, signs


def add_location_channels(img: torch.Tensor) -> torch.Tensor:
    """(B, V, 7, S, S) rendered views -> (B, V, 10, S, S) with the pixel-location channels."""
    B, V, _, S, _ = img.shape
    loc = _location_channels(V, S, img.dtype, str(img.device))
    return torch.cat([img, loc[None].expand(B, -1, -1, -1, -1)], 2)


@torch.no_grad()
def render_views(points: torch.Tensor, colors: torch.Tensor, valid: torch.Tensor,
                 img_size: int, views=("top", "front", "right"), splat: int = 0,
                 location: bool = True) -> torch.Tensor:
    """Z-buffered orthographic rendering of cube-frame clouds.

    points (B, N, 3) in cube coordinates (points outside [-1, 1]^3 are not drawn);
    colors (B, N, 3) in [0, 1]; valid (B, N) bool. ``splat`` > 0 also paints the pixels within
    that Chebyshev radius (the nearest point still wins; its own pixel breaks ties; among
    equally near points the one with the larger index wins).
    Returns (B, V, 10, S, S) images (channels in the module doc), or (B, V, 7, S, S) without
    the pixel-location channels when ``location`` is False (``add_location_channels``).
    """
    B, N, _ = points.shape
    S, dev = img_size, points.device
    axes, signs = _view_axes(tuple(views))
    V = axes.shape[0]
    # the views are signed axis permutations: a point is inside every view's [-1, 1]^3 iff it
    # is inside the cube, so the drawable points are selected once for all views
    ok = valid & (points.abs() <= 1.0).all(-1)                    # (B, N)
    gidx = ok.reshape(-1).nonzero().squeeze(1)                    # (P,) index into B*N
    p = points.reshape(B * N, 3).index_select(0, gidx)            # (P, 3)
    cam = p[:, axes.to(dev)] * signs.to(dev, p.dtype)             # (P, V, 3) = R_v @ p
    pix = torch.floor((cam[..., :2] + 1.0) * (S / 2.0)).long().clamp_(0, S - 1)  # (P, V, 2)
    base = (torch.div(gidx, N, rounding_mode="floor")[:, None] * V
            + torch.arange(V, device=dev))                        # (P, V) = b * V + v
    dump = B * V * S * S
    if splat:
        r = int(splat)
        offs = torch.arange(-r, r + 1, device=dev)
        dy, dx = torch.meshgrid(offs, offs, indexing="ij")
        dx, dy = dx.reshape(-1), dy.reshape(-1)                   # (Kk,)
        col = pix[..., 0:1] + dx                                  # (P, V, Kk)
        row = pix[..., 1:2] + dy
        ok_k = (col >= 0) & (col < S) & (row >= 0) & (row < S)
        depth = cam[..., 2:3] + 1e-5 * (dx * dx + dy * dy).to(cam.dtype)  # own pixel wins ties
        key = torch.where(ok_k, (base[..., None] * S + row) * S + col, dump)
        gk = gidx[:, None, None].expand(key.shape)
    else:
        depth = cam[..., 2]
        key = (base * S + pix[..., 1]) * S + pix[..., 0]          # (P, V)
        gk = gidx[:, None].expand(key.shape)
    key, depth, gk = key.reshape(-1), depth.reshape(-1), gk.reshape(-1)
    zbuf = torch.full((dump + 1,), float("inf"), dtype=cam.dtype, device=dev)
    zbuf.scatter_reduce_(0, key, depth, reduce="amin", include_self=True)
    is_min = (depth == zbuf[key]) & (key != dump)
    winner = torch.full((dump + 1,), -1, dtype=torch.long, device=dev)
    winner.scatter_reduce_(0, key, torch.where(is_min, gk, -1), reduce="amax",
                           include_self=True)
    winner = winner[:dump].reshape(B, V, S, S)
    filled = winner >= 0

    feats = torch.cat([colors.to(points.dtype), points], -1).reshape(B * N, 6)
    img = feats[winner.clamp_min(0)] * filled[..., None]          # (B, V, S, S, 6)
    z = zbuf[:dump].reshape(B, V, S, S) + 1.0                     # depth in [0, 2]
    z = torch.where(filled, z, torch.zeros_like(z))
    n_filled = filled.sum((-1, -2)).clamp_min(1)
    z_mean = z.sum((-1, -2)) / n_filled                           # (B, V)
    z = torch.where(filled, z - z_mean[..., None, None], torch.full_like(z, -1.0))

    img = torch.cat([img.permute(0, 1, 4, 2, 3), z[:, :, None]], 2)  # (B, V, 7, S, S)
    return add_location_channels(img) if location else img


# --------------------------------------------------------------------------------------------
# 3D <-> 2D


def project_to_views(points: torch.Tensor, img_size: int, views=("top", "front", "right")
                     ) -> torch.Tensor:
    """Cube points (..., 3) -> continuous pixel coordinates (..., V, 2) as (u=col, v=row)."""
    R = view_frames(views, points.dtype, points.device)           # (V, 3, 3)
    cam = torch.einsum("vij,...j->...vi", R, points)              # (..., V, 3)
    return ((cam[..., :2] + 1.0) * img_size - 1.0) / 2.0


def world_to_view_pixels(points: torch.Tensor, bounds, img_size: int,
                         views=("top", "front", "right")) -> torch.Tensor:
    """World points (..., 3) -> pixel coordinates (..., V, 2) (u=col, v=row) of the
    stage-1 views of the workspace ``bounds``."""
    return project_to_views(world_to_cube(points, bounds), img_size, views)


def sample_view_features(featmaps: torch.Tensor, points: torch.Tensor,
                         views=("top", "front", "right")) -> torch.Tensor:
    """Bilinear features of each view at the projection of a cube point.

    featmaps (B, V, C, h, w) at any resolution covering the view; points (B, 3).
    Returns (B, V, C). Works because the views span exactly [-1, 1] on r and d.
    """
    B, V, C, h, w = featmaps.shape
    R = view_frames(views, points.dtype, points.device)
    cam = torch.einsum("vij,bj->bvi", R, points)                  # (B, V, 3)
    grid = cam[..., :2].reshape(B * V, 1, 1, 2)                   # (x=r, y=d) in [-1, 1]
    out = F.grid_sample(featmaps.reshape(B * V, C, h, w), grid.to(featmaps.dtype),
                        mode="bilinear", padding_mode="border", align_corners=False)
    return out.reshape(B, V, C)


def gaussian_heatmaps(uv: torch.Tensor, img_size: int, sigma: float, truncate: float = 3.0
                      ) -> torch.Tensor:
    """(..., 2) pixel coordinates (u=col, v=row) -> (..., S, S) normalised Gaussian targets.

    Values below exp(-truncate^2 / 2) of the peak are zeroed (as RVT/ARP)."""
    S = img_size
    ar = torch.arange(S, dtype=uv.dtype, device=uv.device)
    du2 = (ar - uv[..., 0:1]) ** 2                                # (..., S) over columns
    dv2 = (ar - uv[..., 1:2]) ** 2                                # (..., S) over rows
    d2 = dv2[..., :, None] + du2[..., None, :]                    # (..., S, S)
    hm = torch.exp(-d2 / (2 * sigma ** 2))
    hm = torch.where(hm < torch.exp(torch.tensor(-truncate ** 2 / 2)), torch.zeros_like(hm), hm)
    return hm / (hm.sum((-1, -2), keepdim=True) + 1e-12)


def grid_coordinates(img_size: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(S,) cube coordinates of the pixel centres along one axis."""
    S = img_size
    return (2 * torch.arange(S, device=device, dtype=dtype) + 1) / S - 1


def fuse_heatmaps(probs: torch.Tensor, views=("top", "front", "right")) -> torch.Tensor:
    """Per-view probabilities (B, V, S, S) -> (B, 3) cube point (RVT's most likely 3D point).

    Candidates are the S^3 cube points at pixel centres; each scores the mean over views of
    the probability at its projection (exactly a pixel centre, since our views are
    axis-aligned), the best candidate wins.
    """
    B, V, S, _ = probs.shape
    if len(views) != V:
        raise ValueError(f"{V} heatmaps for {len(views)} views {tuple(views)}")
    parts = []
    for vi, name in enumerate(views):
        r, d, _ = VIEW_FRAMES[name]
        a_r, a_d = int(max(range(3), key=lambda i: abs(r[i]))), \
            int(max(range(3), key=lambda i: abs(d[i])))
        m = probs[:, vi]                                          # (B, row=a_d, col=a_r)
        if r[a_r] < 0:
            m = m.flip(-1)
        if d[a_d] < 0:
            m = m.flip(-2)
        if a_d > a_r:                                             # order axes as (low, high)
            m = m.transpose(-1, -2)
        missing = 3 - a_r - a_d
        parts.append(m.unsqueeze(1 + missing))                    # (B, ., ., .) over x, y, z
    g = grid_coordinates(S, probs.device, probs.dtype)
    out = torch.empty(B, 3, dtype=probs.dtype, device=probs.device)
    for b in range(B):  # one (S, S, S) score volume at a time
        score = sum(p[b] for p in parts)                          # (S, S, S)
        idx = int(score.reshape(-1).argmax())
        ix, iy, iz = idx // (S * S), (idx // S) % S, idx % S
        out[b] = torch.stack([g[ix], g[iy], g[iz]])
    return out


__all__ = [
    "VIEW_FRAMES", "NUM_VIEW_CHANNELS", "view_frames", "backproject", "rgb_to_float",
    "fuse_cameras", "in_bounds", "cube_center_scale", "world_to_cube", "cube_to_world",
    "pixel_location_channels", "add_location_channels", "render_views", "project_to_views",
    "world_to_view_pixels",
    "sample_view_features",
    "gaussian_heatmaps", "grid_coordinates", "fuse_heatmaps",
]
