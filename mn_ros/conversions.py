"""ROS 2 messages <-> numpy for the mn nodes. Imports no rclpy and no message package at import.

Every builder takes the message class as an optional argument (``cls=``) and otherwise imports it
lazily, so this module is usable (and testable) without a ROS graph; every reader takes a
message object duck-typed (anything with the right fields). Readers validate and raise
:class:`ConversionError` (a ValueError) saying what is wrong with the message.

    msg = image_to_msg(rgb, "rgb8", stamp=ns, frame_id="front_optical")   # (H, W, 3) uint8
    rgb = msg_to_image(msg, encodings=("rgb8",))                           # read-only view
    pose = msg_to_pose(pose_msg)                                           # (7,) xyz + xyzw
    emb = embedding_to_msg(z, "z_e", "/mn/policy"); kind, source, z = msg_to_embedding(emb)

Conventions are mn_sim.types': quaternions xyzw, depth in metres (32FC1), camera extrinsics
camera-to-world with the OpenCV optical frame.
"""
from __future__ import annotations

import importlib
import json
from array import array
from typing import Any, Sequence

import numpy as np

# encoding -> (dtype, channels). The nodes use rgb8 and 32FC1; the others are accepted on input.
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "mono8": (np.dtype(np.uint8), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "16UC1": (np.dtype(np.uint16), 1),
}
EMBEDDING_KINDS = ("z_u", "z_e", "u", "e")   # aligned (shared space Z) or raw features
ALIGNED_KINDS = ("z_u", "z_e")
ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
WORLD_FRAME = "world"


class ConversionError(ValueError):
    """A message that cannot be converted: wrong encoding, size, NaN, missing fields."""


def _cls(cls, module: str, name: str):
    return cls if cls is not None else getattr(importlib.import_module(module), name)


# ---------------------------------------------------------------------------------- time
def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time (sec, nanosec) -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int, cls=None):
    """Integer nanoseconds -> builtin_interfaces/Time."""
    Time = _cls(cls, "builtin_interfaces.msg", "Time")
    ns = int(ns)
    if ns < 0:
        raise ConversionError(f"time stamps must be >= 0 ns, got {ns}")
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def _header(header, stamp, frame_id: str):
    if stamp is not None:
        header.stamp = stamp if hasattr(stamp, "nanosec") else ns_to_stamp(stamp)
    header.frame_id = frame_id
    return header


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise ConversionError(f"{what} contains NaN or inf: {np.asarray(values).tolist()}")
    return values


# ---------------------------------------------------------------------------------- images
def image_to_msg(array_: np.ndarray, encoding: str, stamp=None, frame_id: str = "", cls=None):
    """(H, W, 3) uint8 ``rgb8`` or (H, W) float32 ``32FC1`` (or another of ENCODINGS) ->
    sensor_msgs/Image. The pixels are copied once with tobytes() (assigning an ndarray to
    ``data`` is ~1000x slower)."""
    if encoding not in ENCODINGS:
        raise ConversionError(f"unsupported image encoding {encoding!r}; use one of "
                              f"{sorted(ENCODINGS)}")
    dtype, channels = ENCODINGS[encoding]
    a = np.asarray(array_)
    shape_ok = (a.ndim == 3 and a.shape[2] == channels) or (a.ndim == 2 and channels == 1)
    if not shape_ok or a.shape[0] == 0 or a.shape[1] == 0:
        want = "(H, W, 3)" if channels == 3 else "(H, W)"
        raise ConversionError(f"a {encoding} image must be {want}, got shape {a.shape}")
    if a.dtype != dtype:
        if encoding == "32FC1" and np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float32)
        else:
            raise ConversionError(f"a {encoding} image must be {dtype}, got {a.dtype}")
    Image = _cls(cls, "sensor_msgs.msg", "Image")
    msg = Image()
    _header(msg.header, stamp, frame_id)
    msg.height, msg.width = int(a.shape[0]), int(a.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(a.shape[1] * channels * dtype.itemsize)
    msg.data = np.ascontiguousarray(a).tobytes()
    return msg


def msg_to_image(msg, encodings: Sequence[str] | None = None,
                 shape: tuple[int, int] | None = None, copy: bool = False) -> np.ndarray:
    """sensor_msgs/Image -> (H, W, C) array (C = 3) or (H, W) (one channel), without copying
    unless ``copy`` (the view is read-only).

    encodings: accepted encodings (default: all of ENCODINGS); shape: required (H, W).
    Raises ConversionError on an unexpected encoding, a size that disagrees with the data, or
    a padded/big-endian layout that cannot be read."""
    enc = str(msg.encoding)
    allowed = tuple(encodings) if encodings else tuple(ENCODINGS)
    if enc not in allowed or enc not in ENCODINGS:
        raise ConversionError(f"image encoding {enc!r} is not accepted here; expected "
                              f"{' or '.join(allowed)}")
    dtype, channels = ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ConversionError(f"image size {w}x{h} is empty")
    if shape is not None and (h, w) != tuple(shape):
        raise ConversionError(f"image is {w}x{h} (width x height) but {shape[1]}x{shape[0]} "
                              "is expected")
    row = w * channels * dtype.itemsize
    if step < row:
        raise ConversionError(f"image step {step} is smaller than a {enc} row of width {w} "
                              f"({row} bytes)")
    n = len(msg.data)
    if n != step * h:
        raise ConversionError(f"image data has {n} bytes but height x step = {h} x {step} = "
                              f"{h * step}")
    raw = np.frombuffer(msg.data, dtype=np.uint8)
    if step != row:   # padded rows: drop the padding
        raw = raw.reshape(h, step)[:, :row].reshape(-1)
    out = raw.view(dtype)
    if msg.is_bigendian and dtype.itemsize > 1:
        out = out.byteswap()
    out = out.reshape((h, w, channels) if channels > 1 else (h, w))   # (H, W[, C])
    return out.copy() if copy else out


# ---------------------------------------------------------------------------------- cameras
def camera_info_msg(intrinsics, width: int, height: int, stamp=None, frame_id: str = "",
                    cls=None):
    """3x3 pinhole matrix -> sensor_msgs/CameraInfo (no distortion, P = [K | 0])."""
    K = _finite(np.asarray(intrinsics, dtype=np.float64), "intrinsics")
    if K.shape != (3, 3):
        raise ConversionError(f"intrinsics must be 3x3, got shape {K.shape}")
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise ConversionError(f"intrinsics need positive focal lengths, got fx={K[0, 0]}, "
                              f"fy={K[1, 1]}")
    CameraInfo = _cls(cls, "sensor_msgs.msg", "CameraInfo")
    msg = CameraInfo()
    _header(msg.header, stamp, frame_id)
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = K.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    msg.p = np.hstack([K, np.zeros((3, 1))]).reshape(-1).tolist()   # (3, 4)
    return msg


def intrinsics_from_camera_info(msg, shape: tuple[int, int] | None = None) -> np.ndarray:
    """sensor_msgs/CameraInfo -> 3x3 pinhole matrix; ``shape`` (H, W) must match if given."""
    K = np.asarray(msg.k, dtype=np.float64)
    if K.size != 9:
        raise ConversionError(f"camera_info.k must have 9 numbers, got {K.size}")
    K = _finite(K.reshape(3, 3), "camera_info.k")
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise ConversionError(f"camera_info.k has non-positive focal lengths {K[0, 0]}, "
                              f"{K[1, 1]}")
    if shape is not None and (int(msg.height), int(msg.width)) != tuple(shape):
        raise ConversionError(f"camera_info is {msg.width}x{msg.height} but the image is "
                              f"{shape[1]}x{shape[0]}")
    return K


# ---------------------------------------------------------------------------------- poses
def quat_to_matrix(q) -> np.ndarray:
    """Unit quaternion xyzw -> 3x3 rotation."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quat(m) -> np.ndarray:
    """3x3 rotation -> quaternion xyzw (w >= 0)."""
    from mn_sim.geometry import mat_to_quat
    return mat_to_quat(np.asarray(m, dtype=np.float64)[:3, :3])


def pose_to_matrix(pose7) -> np.ndarray:
    """xyz + xyzw (7,) -> 4x4 homogeneous transform."""
    p = np.asarray(pose7, dtype=np.float64)
    T = np.eye(4)
    T[:3, :3] = quat_to_matrix(p[3:7])
    T[:3, 3] = p[:3]
    return T


def matrix_to_pose(T) -> np.ndarray:
    """4x4 homogeneous transform -> xyz + xyzw (7,)."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ConversionError(f"a transform must be 4x4, got shape {T.shape}")
    return np.concatenate([T[:3, 3], matrix_to_quat(T[:3, :3])])


def pose_to_msg(position, quaternion, stamp=None, frame_id: str = WORLD_FRAME, cls=None):
    """xyz (3,) + quaternion xyzw (4,) -> geometry_msgs/PoseStamped."""
    p = _finite(np.asarray(position, dtype=np.float64).reshape(-1), "position")
    q = _finite(np.asarray(quaternion, dtype=np.float64).reshape(-1), "quaternion")
    if p.size != 3 or q.size != 4:
        raise ConversionError(f"a pose needs 3 + 4 numbers (xyz, quaternion xyzw), got "
                              f"{p.size} + {q.size}")
    PoseStamped = _cls(cls, "geometry_msgs.msg", "PoseStamped")
    msg = PoseStamped()
    _header(msg.header, stamp, frame_id)
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in p)
    o = msg.pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in q)
    return msg


def msg_to_pose(msg, frame_id: str | None = None, normalize_tol: float = 0.05) -> np.ndarray:
    """geometry_msgs/PoseStamped (or Pose) -> (7,) xyz + unit quaternion xyzw.

    frame_id: required header frame ("" in the message is accepted as this frame).
    The quaternion is normalized if its norm is within ``normalize_tol`` of 1; otherwise (a
    zero or garbage quaternion) the pose is rejected."""
    pose = getattr(msg, "pose", msg)
    header = getattr(msg, "header", None)
    if frame_id is not None and header is not None and header.frame_id not in ("", frame_id):
        raise ConversionError(f"pose is in frame {header.frame_id!r}; expected {frame_id!r} "
                              "(there is no TF here: send poses in that frame)")
    p, o = pose.position, pose.orientation
    v = _finite(np.array([p.x, p.y, p.z, o.x, o.y, o.z, o.w], dtype=np.float64), "pose")
    n = float(np.linalg.norm(v[3:]))
    if abs(n - 1.0) > normalize_tol:
        raise ConversionError(f"pose quaternion (x, y, z, w) = {v[3:].tolist()} has norm {n:.3f};"
                              " a rotation needs a unit quaternion")
    v[3:] /= n
    return v


def in_bounds(position, bounds: Sequence[float]) -> bool:
    """Whether xyz lies in [x_min, y_min, z_min, x_max, y_max, z_max]."""
    p, b = np.asarray(position, dtype=np.float64)[:3], np.asarray(bounds, dtype=np.float64)
    return bool(np.all(p >= b[:3]) and np.all(p <= b[3:]))


# ---------------------------------------------------------------------------------- joints
def joint_state_msg(names: Sequence[str], positions, velocities=None, efforts=None, stamp=None,
                    cls=None):
    """sensor_msgs/JointState; velocities/efforts may be omitted (empty) or match names."""
    JointState = _cls(cls, "sensor_msgs.msg", "JointState")
    msg = JointState()
    _header(msg.header, stamp, "")
    msg.name = [str(n) for n in names]
    for field, values in (("position", positions), ("velocity", velocities),
                          ("effort", efforts)):
        if values is None:
            continue
        v = _finite(np.asarray(values, dtype=np.float64).reshape(-1), f"joint {field}")
        if v.size != len(names):
            raise ConversionError(f"joint {field} has {v.size} values for {len(names)} names")
        setattr(msg, field, v.tolist())
    return msg


def msg_to_joint_state(msg, names: Sequence[str]) -> dict[str, np.ndarray]:
    """sensor_msgs/JointState -> {"position", "velocity", "effort"}: arrays ordered as
    ``names`` (zeros where the message leaves velocity/effort empty). Every name must be
    present and every value finite."""
    index = {n: i for i, n in enumerate(msg.name)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ConversionError(f"joint_state lacks joints {missing} (has {list(msg.name)})")
    out = {}
    for field in ("position", "velocity", "effort"):
        values = np.asarray(getattr(msg, field), dtype=np.float64)
        if values.size == 0 and field != "position":
            out[field] = np.zeros(len(names))
            continue
        if values.size != len(msg.name):
            raise ConversionError(f"joint_state.{field} has {values.size} values for "
                                  f"{len(msg.name)} names")
        out[field] = _finite(values[[index[n] for n in names]], f"joint_state.{field}")
    return out


# ---------------------------------------------------------------------------------- embeddings
def embedding_label(kind: str, source: str) -> str:
    """The layout label of an embedding message: '<kind>@<source>' (e.g. 'z_e@/mn/policy')."""
    if kind not in EMBEDDING_KINDS:
        raise ConversionError(f"embedding kind must be one of {EMBEDDING_KINDS}, got {kind!r}")
    return f"{kind}@{source}"


def embedding_to_msg(vector, kind: str, source: str, cls=None, dim_cls=None):
    """1-D embedding -> std_msgs/Float32MultiArray with one dimension labelled
    '<kind>@<source>' (kind: z_u | z_e in the shared space, u | e raw features)."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.size == 0:
        raise ConversionError("an embedding cannot be empty")
    _finite(v, f"{kind} embedding")
    Msg = _cls(cls, "std_msgs.msg", "Float32MultiArray")
    Dim = _cls(dim_cls, "std_msgs.msg", "MultiArrayDimension")
    msg = Msg()
    msg.layout.dim = [Dim(label=embedding_label(kind, source), size=v.size, stride=v.size)]
    msg.layout.data_offset = 0
    data = array("f")
    data.frombytes(v.tobytes())   # the fast path: no per-element Python conversion
    msg.data = data
    return msg


def msg_to_embedding(msg, kinds: Sequence[str] = EMBEDDING_KINDS) -> tuple[str, str, np.ndarray]:
    """std_msgs/Float32MultiArray -> (kind, source, (D,) float32). The layout must be one
    dimension labelled '<kind>@<source>' whose size matches the data; values finite."""
    dims = list(msg.layout.dim)
    if len(dims) != 1:
        raise ConversionError(f"an embedding has one layout dimension, got {len(dims)}")
    label = str(dims[0].label)
    kind, sep, source = label.partition("@")
    if not sep or kind not in EMBEDDING_KINDS:
        raise ConversionError(f"embedding label {label!r} is not '<kind>@<source>' with kind in "
                              f"{EMBEDDING_KINDS}")
    if kind not in kinds:
        raise ConversionError(f"embedding kind {kind!r} is not accepted here (expected "
                              f"{' or '.join(kinds)})")
    data = msg.data
    v = (np.frombuffer(data, dtype=np.float32) if isinstance(data, array) and data.typecode == "f"
         else np.asarray(data, dtype=np.float32))
    off = int(msg.layout.data_offset)
    size = int(dims[0].size)
    if size <= 0 or off + size != v.size:
        raise ConversionError(f"embedding layout says {size} values at offset {off} but the "
                              f"message holds {v.size}")
    return kind, source, _finite(v[off:], f"{kind} embedding")


def cosine(a, b) -> float:
    """Cosine similarity of two vectors of the same size."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ConversionError(f"cannot compare embeddings of sizes {a.size} and {b.size}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        raise ConversionError("cosine similarity of a zero vector is undefined")
    return float(a @ b / (na * nb))


# ---------------------------------------------------------------------------------- JSON text
def json_msg(payload: dict, cls=None):
    """dict -> std_msgs/String holding compact JSON."""
    String = _cls(cls, "std_msgs.msg", "String")
    return String(data=json.dumps(payload, separators=(",", ":"), allow_nan=False))


def msg_to_json(msg, required: Sequence[str] = ()) -> dict[str, Any]:
    """std_msgs/String with a JSON object -> dict; ``required`` keys must be present."""
    try:
        d = json.loads(msg.data)
    except json.JSONDecodeError as e:
        raise ConversionError(f"expected a JSON object, got {msg.data[:80]!r} ({e})") from None
    if not isinstance(d, dict):
        raise ConversionError(f"expected a JSON object, got {type(d).__name__}")
    missing = [k for k in required if k not in d]
    if missing:
        raise ConversionError(f"JSON message lacks keys {missing}: {msg.data[:120]!r}")
    return d

