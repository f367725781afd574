"""mn_ros.conversions with the real message classes (no ROS graph), and its import hygiene."""
import json
import subprocess
import sys
from array import array
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float32MultiArray, String

from mn_ros import conversions as cv

ROOT = Path(__file__).resolve().parents[2]


def test_module_imports_no_ros():
    code = ("import sys, json; import mn_ros.conversions, mn_ros.observation_sync, "
            "mn_models.runtime, mn_ros.graph, mn_ros.bringup, mn_ros.demo_source, mn_ros.topics\n"
            "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] == 'rclpy' or "
            "k.split('.')[0].endswith(('_msgs', '_srvs')))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_rgb_and_depth_round_trip():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    msg = cv.image_to_msg(rgb, "rgb8", stamp=3_000_000_123, frame_id="front_optical")
    assert isinstance(msg, Image)
    assert (msg.height, msg.width, msg.step, msg.encoding) == (5, 7, 21, "rgb8")
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (3, 123)
    assert cv.stamp_to_ns(msg.header.stamp) == 3_000_000_123
    np.testing.assert_array_equal(cv.msg_to_image(msg, ("rgb8",)), rgb)
    depth = rng.random((5, 7)).astype(np.float32) * 4
    dmsg = cv.image_to_msg(depth, "32FC1")
    assert dmsg.step == 28 and len(dmsg.data) == 140
    out = cv.msg_to_image(dmsg, ("32FC1",), shape=(5, 7), copy=True)
    assert out.dtype == np.float32 and out.flags.writeable
    np.testing.assert_array_equal(out, depth)
    # float64 depth is converted, not rejected
    np.testing.assert_allclose(cv.msg_to_image(cv.image_to_msg(depth.astype(np.float64),
                                                               "32FC1")), depth)


def test_padded_and_big_endian_images_are_read():
    depth = np.arange(6, dtype=np.float32).reshape(2, 3)
    msg = Image(height=2, width=3, encoding="32FC1", step=16, is_bigendian=1)
    rows = [np.concatenate([r.astype(">f4").view(np.uint8), np.zeros(4, np.uint8)])
            for r in depth]
    msg.data = np.concatenate(rows).tobytes()
    np.testing.assert_array_equal(cv.msg_to_image(msg), depth)


@pytest.mark.parametrize("mutate, message", [
    (lambda m: setattr(m, "encoding", "bgr8"), "encoding 'bgr8' is not accepted"),
    (lambda m: setattr(m, "encoding", "yuv422"), "encoding 'yuv422' is not accepted"),
    (lambda m: setattr(m, "height", 6), "has 105 bytes but height x step"),
    (lambda m: setattr(m, "step", 20), "step 20 is smaller"),
    (lambda m: setattr(m, "width", 0), "is empty"),
    (lambda m: setattr(m, "data", bytes(10)), "has 10 bytes"),
])
def test_bad_images_are_rejected_with_the_reason(mutate, message):
    msg = cv.image_to_msg(np.zeros((5, 7, 3), np.uint8), "rgb8")
    mutate(msg)
    with pytest.raises(cv.ConversionError, match=message):
        cv.msg_to_image(msg, ("rgb8",))


def test_image_builder_rejects_wrong_arrays():
    with pytest.raises(cv.ConversionError, match="must be"):
        cv.image_to_msg(np.zeros((4, 4), np.uint8), "rgb8")
    with pytest.raises(cv.ConversionError, match="must be uint8"):
        cv.image_to_msg(np.zeros((4, 4, 3), np.float32), "rgb8")
    with pytest.raises(cv.ConversionError, match="unsupported image encoding"):
        cv.image_to_msg(np.zeros((4, 4, 3), np.uint8), "rgba16")
    with pytest.raises(cv.ConversionError, match="but 8x4 is expected"):
        cv.msg_to_image(cv.image_to_msg(np.zeros((4, 4, 3), np.uint8), "rgb8"), shape=(4, 8))


def test_camera_info_from_intrinsics():
    K = np.array([[100.0, 0, 64], [0, 100.0, 64], [0, 0, 1]])
    msg = cv.camera_info_msg(K, 128, 128, stamp=5, frame_id="front_optical")
    assert isinstance(msg, CameraInfo)
    assert msg.k[0] == 100.0 and list(msg.p) == [100.0, 0, 64, 0, 0, 100.0, 64, 0, 0, 0, 1, 0]
    np.testing.assert_array_equal(cv.intrinsics_from_camera_info(msg, shape=(128, 128)), K)
    with pytest.raises(cv.ConversionError, match="but the image is 64x128"):
        cv.intrinsics_from_camera_info(msg, shape=(128, 64))
    bad = np.array(K)
    bad[0, 0] = np.nan
    with pytest.raises(cv.ConversionError, match="NaN"):
        cv.camera_info_msg(bad, 128, 128)
    msg.k[4] = -1.0
    with pytest.raises(cv.ConversionError, match="non-positive focal"):
        cv.intrinsics_from_camera_info(msg)


def test_pose_round_trip_and_validation():
    q = np.array([0.1, -0.2, 0.3, 0.9])
    q /= np.linalg.norm(q)
    msg = cv.pose_to_msg([0.3, -0.1, 1.0], q, stamp=7, frame_id="world")
    assert isinstance(msg, PoseStamped) and msg.header.frame_id == "world"
    np.testing.assert_allclose(cv.msg_to_pose(msg, "world"), [0.3, -0.1, 1.0, *q])
    T = cv.pose_to_matrix(cv.msg_to_pose(msg))
    np.testing.assert_allclose(cv.matrix_to_pose(T), [0.3, -0.1, 1.0, *q], atol=1e-12)
    msg.pose.orientation.w *= 1.01      # slightly off unit: normalized
    assert abs(np.linalg.norm(cv.msg_to_pose(msg)[3:]) - 1) < 1e-12
    msg.pose.position.y = float("nan")
    with pytest.raises(cv.ConversionError, match="NaN"):
        cv.msg_to_pose(msg)
    zero = cv.pose_to_msg([0, 0, 1], [0, 0, 0, 0])
    with pytest.raises(cv.ConversionError, match="unit quaternion"):
        cv.msg_to_pose(zero)
    other = cv.pose_to_msg([0, 0, 1], [0, 0, 0, 1], frame_id="base_link")
    with pytest.raises(cv.ConversionError, match="frame 'base_link'; expected 'world'"):
        cv.msg_to_pose(other, "world")
    assert cv.in_bounds([0.2, 0, 1.0], [-0.3, -0.5, 0.6, 0.7, 0.5, 1.6])
    assert not cv.in_bounds([2.0, 0, 1.0], [-0.3, -0.5, 0.6, 0.7, 0.5, 1.6])


def test_joint_state_round_trip_and_validation():
    names = cv.ARM_JOINTS + cv.FINGER_JOINTS
    msg = cv.joint_state_msg(names, np.arange(9.0), np.ones(9), None, stamp=1)
    assert isinstance(msg, JointState) and list(msg.effort) == []
    # a message may list the joints in another order and have extra ones
    msg.name = list(reversed(msg.name)) + ["extra"]
    msg.position = list(reversed(range(9))) + [42.0]
    msg.velocity = [1.0] * 10
    out = cv.msg_to_joint_state(msg, names)
    np.testing.assert_array_equal(out["position"], np.arange(9.0))
    np.testing.assert_array_equal(out["effort"], np.zeros(9))
    msg.position[3] = float("nan")
    with pytest.raises(cv.ConversionError, match="joint_state.position contains NaN"):
        cv.msg_to_joint_state(msg, names)
    with pytest.raises(cv.ConversionError, match="lacks joints"):
        cv.msg_to_joint_state(msg, names + ("gripper",))
    msg.position = [0.0] * 3
    with pytest.raises(cv.ConversionError, match="has 3 values for 10 names"):
        cv.msg_to_joint_state(msg, names)
    with pytest.raises(cv.ConversionError, match="3 values for 9 names"):
        cv.joint_state_msg(names, np.zeros(3))


def test_embedding_round_trip_fast_path_and_validation():
    z = np.random.default_rng(1).standard_normal(1024).astype(np.float32)
    msg = cv.embedding_to_msg(z, "z_e", "/mn/policy")
    assert isinstance(msg, Float32MultiArray) and isinstance(msg.data, array)
    assert msg.layout.dim[0].label == "z_e@/mn/policy" and msg.layout.dim[0].size == 1024
    kind, source, out = cv.msg_to_embedding(msg)
    assert (kind, source) == ("z_e", "/mn/policy")
    np.testing.assert_array_equal(out, z)
    with pytest.raises(cv.ConversionError, match="kind 'z_e' is not accepted"):
        cv.msg_to_embedding(msg, kinds=("z_u",))
    with pytest.raises(cv.ConversionError, match="kind must be one of"):
        cv.embedding_to_msg(z, "zz", "x")
    with pytest.raises(cv.ConversionError, match="NaN"):
        cv.embedding_to_msg(np.array([1.0, np.nan]), "z_u", "x")
    msg.layout.dim[0].size = 10
    with pytest.raises(cv.ConversionError, match="layout says 10 values"):
        cv.msg_to_embedding(msg)
    msg.layout.dim[0].label = "no-kind"
    with pytest.raises(cv.ConversionError, match="is not '<kind>@<source>'"):
        cv.msg_to_embedding(msg)
    assert cv.cosine([1, 0], [1, 0]) == pytest.approx(1.0)
    assert cv.cosine([1, 0], [0, 2]) == pytest.approx(0.0)
    with pytest.raises(cv.ConversionError, match="sizes 2 and 3"):
        cv.cosine([1, 0], [1, 0, 0])


def test_json_messages():
    msg = cv.json_msg({"a": 1, "b": "x"})
    assert isinstance(msg, String) and cv.msg_to_json(msg, ("a",)) == {"a": 1, "b": "x"}
    with pytest.raises(cv.ConversionError, match="lacks keys"):
        cv.msg_to_json(msg, ("c",))
    with pytest.raises(cv.ConversionError, match="expected a JSON object"):
        cv.msg_to_json(String(data="[1, 2]"))
    with pytest.raises(cv.ConversionError, match="expected a JSON object"):
        cv.msg_to_json(String(data="{nope"))


def test_builders_accept_the_message_class_explicitly():
    class FakeHeader:
        stamp = None
        frame_id = ""

    class FakeImage:      # any class with Image's fields works (e.g. rosbags' dataclasses)
        def __init__(self):
            self.header = FakeHeader()

    msg = cv.image_to_msg(np.zeros((2, 2, 3), np.uint8), "rgb8", cls=FakeImage)
    assert isinstance(msg, FakeImage) and msg.step == 6
    assert cv.msg_to_image(msg).shape == (2, 2, 3)


# ---------------------------------------------------------------------- any camera
# Known pixels: pure red, green, blue, white, black and a grey, as each encoding lays them out.
RGB = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                [[255, 255, 255], [0, 0, 0], [90, 90, 90]]], np.uint8)   # (2, 3, 3)


def _raw(encoding: str, pixels: np.ndarray, width: int, step: int | None = None):
    h = pixels.shape[0]
    row = pixels.reshape(h, -1)
    step = step or row.shape[1]
    data = np.zeros((h, step), np.uint8)
    data[:, :row.shape[1]] = row   # padding (if any) stays zero
    return Image(height=h, width=width, encoding=encoding, step=step, data=data.tobytes())


@pytest.mark.parametrize("encoding, layout", [
    ("rgb8", lambda p: p),
    ("bgr8", lambda p: p[..., ::-1]),
    ("rgba8", lambda p: np.concatenate([p, np.full(p.shape[:2] + (1,), 7, np.uint8)], -1)),
    ("bgra8", lambda p: np.concatenate([p[..., ::-1], np.full(p.shape[:2] + (1,), 200,
                                                              np.uint8)], -1)),
])
def test_colour_encodings_decode_to_the_same_rgb(encoding, layout):
    out = cv.image_msg_to_rgb(_raw(encoding, layout(RGB), 3))
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3) and out.flags.writeable
    np.testing.assert_array_equal(out, RGB)
    # rows padded to a wider step (drivers align rows) read the same
    padded = _raw(encoding, layout(RGB), 3, step=layout(RGB).shape[2] * 3 + 5)
    np.testing.assert_array_equal(cv.image_msg_to_rgb(padded), RGB)


def test_mono8_is_replicated_to_three_channels():
    grey = np.array([[0, 77, 200], [255, 1, 128]], np.uint8)
    out = cv.image_msg_to_rgb(_raw("mono8", grey, 3))
    assert out.shape == (2, 3, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], grey)


# BT.601 video range, as OpenCV's YUV2RGB_UYVY/_YUY2 (what cv_bridge does): Y 16 black,
# Y 235 white, (Y 81, U 90, V 240) red, (Y 145, U 54, V 34) green, (Y 41, U 240, V 110) blue.
YUV_PAIRS = [  # two pixels each: (Y0, Y1, U, V) -> expected RGB of both
    ((16, 235, 128, 128), [[0, 0, 0], [255, 255, 255]]),
    ((81, 81, 90, 240), [[254, 0, 0], [254, 0, 0]]),
    ((145, 145, 54, 34), [[0, 255, 0], [0, 255, 0]]),
    ((41, 41, 240, 110), [[0, 0, 255], [0, 0, 255]]),
]


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
def test_yuv422_variants_decode_known_pixels(encoding):
    y_first = encoding in ("yuv422_yuy2", "yuyv")
    row = []
    for (y0, y1, u, v), _ in YUV_PAIRS:
        row += [y0, u, y1, v] if y_first else [u, y0, v, y1]
    data = np.array([row, row], np.uint8)                         # 2 rows of 8 pixels
    msg = Image(height=2, width=8, encoding=encoding, step=16, data=data.tobytes())
    out = cv.image_msg_to_rgb(msg)
    want = np.array([px for _, pair in YUV_PAIRS for px in pair], np.int16)   # (8, 3)
    assert out.shape == (2, 8, 3)
    for r in range(2):
        assert np.abs(out[r].astype(np.int16) - want).max() <= 2, (out[r], want)
    # the Y of the first and second pixel of a pair are not swapped: black then white
    assert out[0, 0].max() <= 1 and out[0, 1].min() >= 254
    with pytest.raises(cv.ConversionError, match="even width"):
        cv.image_msg_to_rgb(Image(height=1, width=3, encoding=encoding, step=6,
                                  data=bytes(6)))


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1", "bayer_rggb8", "rgb16", "nv21", ""])
def test_other_encodings_are_refused_naming_what_to_send(encoding):
    msg = Image(height=2, width=2, encoding=encoding, step=8, data=bytes(16))
    with pytest.raises(cv.ConversionError) as e:
        cv.image_msg_to_rgb(msg)
    text = str(e.value)
    assert f"{encoding!r} is not a colour camera format" in text and "\n" not in text
    assert "rgb8, bgr8, rgba8, bgra8, mono8, yuv422" in text and "CompressedImage" in text


def test_compressed_jpeg_and_png_decode_to_rgb():
    from sensor_msgs.msg import CompressedImage
    img = np.zeros((16, 24, 3), np.uint8)                  # four flat colour blocks
    img[:8, :12], img[:8, 12:], img[8:, :12], img[8:, 12:] = \
        (255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 200, 200)
    png = cv.compressed_to_msg(img, "png", stamp=7)
    assert isinstance(png, CompressedImage) and png.format == "png"
    np.testing.assert_array_equal(cv.compressed_msg_to_rgb(png), img)      # lossless
    jpg = cv.compressed_to_msg(img, "jpeg", quality=95)
    out = cv.compressed_msg_to_rgb(jpg)
    assert out.shape == (16, 24, 3)
    for (r, c), colour in (((3, 3), (255, 0, 0)), ((3, 20), (0, 255, 0)),
                           ((12, 3), (0, 0, 255)), ((12, 20), (200, 200, 200))):
        assert np.abs(out[r, c].astype(int) - colour).max() <= 12, (r, c, out[r, c])
    # image_transport's format strings, and a grey png replicated to 3 channels
    jpg.format = "bgr8; jpeg compressed bgr8"
    np.testing.assert_array_equal(cv.compressed_msg_to_rgb(jpg), out)
    import io

    from PIL import Image as PILImage
    buf = io.BytesIO()
    PILImage.fromarray(np.array([[0, 128], [255, 9]], np.uint8)).save(buf, format="PNG")
    grey = CompressedImage(format="mono8; png compressed mono8", data=buf.getvalue())
    np.testing.assert_array_equal(cv.compressed_msg_to_rgb(grey)[..., 2],
                                  [[0, 128], [255, 9]])


@pytest.mark.parametrize("fmt, data, message", [
    ("tiff", b"II*\x00", "format 'tiff' is not accepted; send jpeg or png"),
    ("16UC1; compressedDepth png", b"x", "is a depth image"),
    ("jpeg", b"", "has no data"),
    ("jpeg", b"\xff\xd8 not really a jpeg", "cannot decode the jpeg image"),
    ("png", "JPEG", "says png but holds JPEG"),
])
def test_bad_compressed_images_are_refused(fmt, data, message):
    from sensor_msgs.msg import CompressedImage
    if data == "JPEG":
        data = cv.encode_compressed(np.zeros((4, 4, 3), np.uint8), "jpeg")
    with pytest.raises(cv.ConversionError, match=message):
        cv.compressed_msg_to_rgb(CompressedImage(format=fmt, data=data))
