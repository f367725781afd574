"""Camera matrices in the two conventions RLBench-layout datasets hold.

- OpenCV (mn's, mn_sim.types): intrinsics with positive focal lengths, the camera frame has
  x right, y down, z forward; extrinsics are camera-to-world.
- PyRep (RLBench/PerAct's ``misc`` entries, what ``VisionSensor.get_intrinsic_matrix`` and
  ``get_matrix`` return): negative focal lengths, sensor frame x left, y up, z forward.

Turning the sensor frame 180 degrees about z (x -> -x, y -> -y) and negating the focal
lengths maps one to the other; both give every point the same pixel, and the principal point
(W/2, H/2 in both simulators) is unchanged. The conversion is its own inverse.
"""
from __future__ import annotations

import numpy as np

_FLIP = np.diag([-1.0, -1.0, 1.0])


def _as_matrices(intrinsics, extrinsics) -> tuple[np.ndarray, np.ndarray]:
    K = np.array(intrinsics, dtype=np.float64)
    T = np.array(extrinsics, dtype=np.float64)
    if K.shape != (3, 3) or T.shape != (4, 4):
        raise ValueError(f"camera matrices must be intrinsics (3, 3) and extrinsics (4, 4); "
                         f"got {K.shape} and {T.shape}")
    return K, T


def is_pyrep(intrinsics) -> bool:
    """True for PyRep's convention (both focal lengths negative)."""
    K = np.asarray(intrinsics, dtype=np.float64)
    return bool(K[0, 0] < 0 and K[1, 1] < 0)


def _flip(K: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    K = K @ _FLIP                  # negate the focal-length columns; cx, cy unchanged
    T[:3, :3] = T[:3, :3] @ _FLIP  # sensor x, y axes reversed
    return K, T


def opencv_from_pyrep(intrinsics, extrinsics) -> tuple[np.ndarray, np.ndarray]:
    """(K, camera-to-world) in either convention -> OpenCV's (copies; OpenCV input unchanged).

    Raises ValueError for a matrix with one negative focal length (neither convention).
    """
    K, T = _as_matrices(intrinsics, extrinsics)
    if is_pyrep(K):
        return _flip(K, T)
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise ValueError(f"intrinsics have focal lengths fx={K[0, 0]}, fy={K[1, 1]}: "
                         f"neither OpenCV's (both > 0) nor PyRep's (both < 0) convention")
    return K, T


def pyrep_from_opencv(intrinsics, extrinsics) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV (K, camera-to-world) -> PyRep's, as RLBench stores them in ``misc``."""
    K, T = _as_matrices(intrinsics, extrinsics)
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise ValueError(f"expected OpenCV intrinsics (positive focal lengths); got "
                         f"fx={K[0, 0]}, fy={K[1, 1]}")
    return _flip(K, T)
