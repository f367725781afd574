"""Image encodings of the RLBench/PerAct dataset layout, and PNG read/write.

Depth (RLBench's convention, ``DEPTH_SCALE = 2**24 - 1``): metres are normalized to
v = (d - near) / (far - near) in [0, 1], scaled to the integer n = floor(v * (2**24 - 1) + 0.5)
and packed big-endian into the three 8-bit channels (R high byte, G middle, B low).
Decoding is ``near + (R * 65536 + G * 256 + B) / (2**24 - 1) * (far - near)``, so the error
is at most half a step, (far - near) / (2 * (2**24 - 1)), plus float32 rounding of the result.

Masks (RLBench's "rgb coded handles"): an integer id n is stored as R = n & 255,
G = (n >> 8) & 255, B = (n >> 16) & 255, i.e. n = R + 256 G + 65536 B.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

DEPTH_SCALE = 2 ** 24 - 1
MASK_MAX = 2 ** 24 - 1


class CorruptFileError(RuntimeError):
    """A dataset file exists but cannot be decoded (names the file)."""


def depth_to_rgb(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """Metres (H, W) -> (H, W, 3) uint8: RLBench's 24-bit packing of (d - near) / (far - near)."""
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W); got shape {depth.shape}")
    if not far > near:
        raise ValueError(f"camera far ({far}) must be greater than near ({near})")
    v = (depth - near) / (far - near)
    v = np.nan_to_num(v, nan=1.0, posinf=1.0, neginf=0.0)  # invalid depth -> far plane
    n = np.floor(np.clip(v, 0.0, 1.0) * DEPTH_SCALE + 0.5).astype(np.uint32)  # (H, W)
    rgb = np.empty(depth.shape + (3,), dtype=np.uint8)  # (H, W, 3)
    rgb[..., 0] = n >> 16
    rgb[..., 1] = (n >> 8) & 255
    rgb[..., 2] = n & 255
    return rgb


def rgb_to_depth01(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float64 in [0, 1] (RLBench's image_to_float_array)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"an encoded depth image is (H, W, 3); got shape {rgb.shape}")
    n = rgb[..., 0].astype(np.int64) * 65536 + rgb[..., 1].astype(np.int64) * 256 + rgb[..., 2]
    return n / DEPTH_SCALE


def rgb_to_depth(rgb: np.ndarray, near: float, far: float) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float32 metres."""
    return (near + rgb_to_depth01(rgb) * (far - near)).astype(np.float32)


def mask_to_rgb(mask: np.ndarray, offset: int = 0) -> np.ndarray:
    """Integer ids (H, W) -> (H, W, 3) uint8 coded handles; ``offset`` is added first."""
    m = np.asarray(mask).astype(np.int64) + offset
    if m.ndim != 2:
        raise ValueError(f"mask must be (H, W); got shape {m.shape}")
    if m.size and (m.min() < 0 or m.max() > MASK_MAX):
        raise ValueError(f"mask ids + offset {offset} must be in [0, {MASK_MAX}]; "
                         f"got [{m.min()}, {m.max()}]")
    rgb = np.empty(m.shape + (3,), dtype=np.uint8)  # (H, W, 3)
    rgb[..., 0] = m & 255
    rgb[..., 1] = (m >> 8) & 255
    rgb[..., 2] = (m >> 16) & 255
    return rgb


def rgb_to_mask(rgb: np.ndarray, offset: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 coded handles -> (H, W) int32 ids (minus ``offset``)."""
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:  # a single-channel mask png (ids < 256)
        return rgb.astype(np.int32) - offset
    m = rgb[..., 0].astype(np.int64) + rgb[..., 1].astype(np.int64) * 256 \
        + rgb[..., 2].astype(np.int64) * 65536
    return (m - offset).astype(np.int32)


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a (H, W, 3) or (H, W) uint8 array as PNG (fast, lossless)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"{path}: PNG data must be uint8; got {array.dtype}")
    Image.fromarray(array).save(path, format="PNG", compress_level=1)


def read_png(path: str | os.PathLike, mode: str | None = None) -> np.ndarray:
    """Read a PNG into a uint8 array; ``mode`` ("RGB", "L") converts. Raises CorruptFileError."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            if mode is not None and im.mode != mode:
                im = im.convert(mode)
            return np.asarray(im, dtype=np.uint8).copy()
    except FileNotFoundError:
        raise
    except Exception as e:  # PIL raises many types for truncated / garbage files
        raise CorruptFileError(f"cannot decode image {path}: {type(e).__name__}: {e}") from e

