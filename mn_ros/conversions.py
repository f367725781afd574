"""ROS 2 messages <-> numpy for the mn nodes. Imports no rclpy and no message package at import.

Every builder takes the message class as an optional argument (``cls=``) and otherwise imports it
lazily, so this module is usable (and testable) without a ROS graph; every reader takes a
message object duck-typed (anything with the right fields). Readers validate and raise
:class:`ConversionError` (a ValueError) saying what is wrong with the message.

    msg = image_to_msg(rgb, "rgb8", stamp=ns, frame_id="front_optical")   # (H, W, 3) uint8
    rgb = msg_to_image(msg, encodings=("rgb8",))                           # read-only view
    rgb = image_msg_to_rgb(camera_msg)        # any colour camera encoding -> (H, W, 3) RGB
    rgb = compressed_msg_to_rgb(jpeg_msg)     # sensor_msgs/CompressedImage jpeg/png -> RGB
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

# encoding -> (dtype, channels). The nodes publish rgb8 and 32FC1; the others are accepted on
# input. The YUV 4:2:2 encodings are 2 bytes a pixel (channels = 2: the raw byte pairs).
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "yuv422": (np.dtype(np.uint8), 2),        # UYVY: U0 Y0 V0 Y1 (sensor_msgs' YUV422)
    "uyvy": (np.dtype(np.uint8), 2),
    "yuv422_yuy2": (np.dtype(np.uint8), 2),   # YUYV: Y0 U0 Y1 V0 (sensor_msgs' YUV422_YUY2)
    "yuyv": (np.dtype(np.uint8), 2),
    "32FC1": (np.dtype(np.float32), 1),
    "16UC1": (np.dtype(np.uint16), 1),
}
# What a camera may send the observer (sensor_msgs/Image): every one becomes (H, W, 3) RGB.
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "yuv422", "uyvy",
                   "yuv422_yuy2", "yuyv")
COMPRESSED_FORMATS = ("jpeg", "png")      # sensor_msgs/CompressedImage
MAX_COMPRESSED_PIXELS = 8192 * 8192       # a larger header is refused before decoding
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
        want = f"(H, W, {channels})" if channels > 1 else "(H, W)"
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


def _yuv422_to_rgb(pairs: np.ndarray, y_first: bool) -> np.ndarray:
    """(H, W, 2) uint8 YUV 4:2:2 bytes -> (H, W, 3) uint8 RGB. Each pair of pixels shares one
    U and one V; ITU-R BT.601 with video range (Y 16-235), as OpenCV's COLOR_YUV2RGB_UYVY /
    _YUY2 that cv_bridge uses."""
    h, w = pairs.shape[:2]
    if w % 2:
        raise ConversionError(f"a YUV 4:2:2 image needs an even width, got {w}")
    quad = pairs.reshape(h, w // 2, 4).astype(np.float32)   # two pixels per 4 bytes
    if y_first:   # YUYV: Y0 U Y1 V
        y0, u, y1, v = (quad[..., i] for i in range(4))
    else:         # UYVY: U Y0 V Y1
        u, y0, v, y1 = (quad[..., i] for i in range(4))
    y = np.stack([y0, y1], axis=-1).reshape(h, w) - 16.0              # (H, W)
    u = np.repeat(u, 2, axis=1) - 128.0
    v = np.repeat(v, 2, axis=1) - 128.0
    r = 1.164 * y + 1.596 * v
    g = 1.164 * y - 0.391 * u - 0.813 * v
    b = 1.164 * y + 2.018 * u
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def decode_image(encoding: str, height: int, width: int, step: int, data,
                 is_bigendian: int = 0) -> np.ndarray:
    """The fields of a sensor_msgs/Image from a camera -> (H, W, 3) uint8 RGB (a new array).

    rgb8 as is; bgr8/bgra8 swapped; rgba8/bgra8 lose alpha; mono8 replicated to 3 channels;
    yuv422 / uyvy (UYVY) and yuv422_yuy2 / yuyv (YUYV) converted with BT.601. Any other
    encoding (depth, 16-bit, Bayer, ...) raises ConversionError naming the accepted ones."""
    enc = str(encoding)
    if enc not in COLOR_ENCODINGS:
        raise ConversionError(f"image encoding {enc!r} is not a colour camera format the "
                              f"observer reads; send one of {', '.join(COLOR_ENCODINGS)} or a "
                              "sensor_msgs/CompressedImage (jpeg, png)")
    msg = _ImageFields(enc, height, width, step, data, is_bigendian)
    a = msg_to_image(msg, (enc,))   # (H, W[, C]) read-only view, validated
    if enc == "rgb8":
        return a.copy()
    if enc in ("bgr8", "bgra8"):
        return np.ascontiguousarray(a[..., 2::-1])
    if enc == "rgba8":
        return np.ascontiguousarray(a[..., :3])
    if enc == "mono8":
        return np.repeat(a[..., None], 3, axis=2)
    return _yuv422_to_rgb(a, y_first=enc in ("yuv422_yuy2", "yuyv"))


class _ImageFields:
    def __init__(self, encoding, height, width, step, data, is_bigendian):
        self.encoding, self.height, self.width, self.step = encoding, height, width, step
        self.data, self.is_bigendian = data, is_bigendian


def image_msg_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image (any of COLOR_ENCODINGS) -> (H, W, 3) uint8 RGB."""
    return decode_image(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                        msg.is_bigendian)


def compressed_kind(fmt: str) -> str:
    """The codec of a sensor_msgs/CompressedImage ``format``: "jpeg" or "png". Accepts the
    plain names and image_transport's "<encoding>; jpeg compressed <encoding>" form."""
    f = str(fmt).strip().lower()
    if "compresseddepth" in f.replace(" ", ""):
        raise ConversionError(f"compressed format {fmt!r} is a depth image, not a camera frame")
    if "jpeg" in f or "jpg" in f:
        return "jpeg"
    if "png" in f:
        return "png"
    raise ConversionError(f"compressed image format {fmt!r} is not accepted; send jpeg or png "
                          "(image_transport's compressed transport)")


def decode_compressed(fmt: str, data, min_side: int = 0) -> np.ndarray:
    """The fields of a sensor_msgs/CompressedImage -> (H, W, 3) uint8 RGB (Pillow decodes).
    JPEG/PNG in colour or grey (replicated), 8 bits per channel; alpha dropped. The colours
    are the file's: image_transport writes a bgr8 frame as a normal (RGB-ordered) JPEG.

    min_side > 0: a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (the decoder's DCT scaling,
    an area average) as long as its shorter side stays >= min_side -- ~10x cheaper for a
    1280x720 camera whose frames end up at the recognizer's 32 px."""
    import io

    from PIL import Image as PILImage
    kind = compressed_kind(fmt)
    raw = bytes(data) if not isinstance(data, (bytes, bytearray)) else data
    if not raw:
        raise ConversionError("compressed image has no data")
    try:
        img = PILImage.open(io.BytesIO(raw))
        if (img.format or "").lower() != kind:
            raise ConversionError(f"compressed image says {kind} but holds "
                                  f"{img.format or 'unknown data'}")
        w, h = img.size
        if w * h > MAX_COMPRESSED_PIXELS:
            raise ConversionError(f"compressed image is {w}x{h}, more than "
                                  f"{MAX_COMPRESSED_PIXELS} pixels")
        if min_side > 0 and kind == "jpeg" and min(w, h) > 2 * min_side:
            scale = min(8, min(w, h) // min_side)
            img.draft("RGB", (max(1, w // scale), max(1, h // scale)))
        if img.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "CMYK", "YCbCr"):
            raise ConversionError(f"compressed image has pixel mode {img.mode!r}; send 8-bit "
                                  "colour or grey")
        rgb = np.asarray(img.convert("RGB"))
    except ConversionError:
        raise
    except Exception as e:   # Pillow: UnidentifiedImageError, truncated data, ...
        raise ConversionError(f"cannot decode the {kind} image ({len(raw)} bytes): "
                              f"{type(e).__name__}: {e}") from None
    return np.array(rgb, dtype=np.uint8)   # (H, W, 3), writable


def compressed_msg_to_rgb(msg, min_side: int = 0) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png) -> (H, W, 3) uint8 RGB (see decode_compressed
    for ``min_side``)."""
    return decode_compressed(msg.format, msg.data, min_side)


def encode_compressed(rgb: np.ndarray, kind: str = "jpeg", quality: int = 90) -> bytes:
    """(H, W, 3) uint8 RGB -> jpeg or png bytes (for tests, benchmarks and players)."""
    import io

    from PIL import Image as PILImage
    buf = io.BytesIO()
    img = PILImage.fromarray(np.asarray(rgb, dtype=np.uint8))
    if kind == "jpeg":
        img.save(buf, format="JPEG", quality=quality)
    elif kind == "png":
        img.save(buf, format="PNG", compress_level=1)
    else:
        raise ConversionError(f"cannot encode {kind!r}; use jpeg or png")
    return buf.getvalue()


def compressed_to_msg(rgb: np.ndarray, kind: str = "jpeg", stamp=None, frame_id: str = "",
                      quality: int = 90, cls=None):
    """(H, W, 3) uint8 RGB -> sensor_msgs/CompressedImage (format "jpeg" or "png")."""
    CompressedImage = _cls(cls, "sensor_msgs.msg", "CompressedImage")
    msg = CompressedImage()
    _header(msg.header, stamp, frame_id)
    msg.format = kind
    msg.data = encode_compressed(rgb, kind, quality)
    return msg


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

