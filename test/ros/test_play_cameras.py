"""`mn play` as a camera source: bags of any camera encoding (raw bgr8, jpeg CompressedImage)
are read as RGB, and frames are stamped with their time in the video, not when they are sent
(a player slowed down by a busy machine must not cut the observer's clip)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ros_helpers import ROOT, Client, new_domain_id, ros_env


def _frames(n: int = 10, size: int = 32) -> list[np.ndarray]:
    out = []
    for i in range(n):
        f = np.zeros((size, size, 3), np.uint8)
        f[:, :, 0], f[:, : 4 + 2 * i, 1] = 200, 120   # red, a green bar that grows
        out.append(f)
    return out


def _write_bag(path, frames, kind: str, rate: float = 10.0):
    """A ROS 2 bag (rosbags, mcap) with one camera topic: bgr8 Images or jpeg/png
    CompressedImages, stamped at ``rate``."""
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from mn_ros import conversions as cv
    msgtype = "sensor_msgs/msg/" + ("Image" if kind == "bgr8" else "CompressedImage")
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    conn = writer.add_connection("/cam/image", msgtype,
                                 typestore=get_typestore(Stores.ROS2_KILTED))
    t0 = 1_000_000_000_000
    for i, f in enumerate(frames):
        t = t0 + int(i * 1e9 / rate)
        msg = (cv.image_to_msg(np.ascontiguousarray(f[..., ::-1]), "bgr8", t) if kind == "bgr8"
               else cv.compressed_to_msg(f, kind, t))
        writer.write(conn, t, serialize_message(msg))
    writer.close()


@pytest.mark.parametrize("kind", ["bgr8", "jpeg", "png"])
def test_bags_of_any_camera_encoding_play_as_rgb(tmp_path, kind):
    from mn_ros.demo_source import load_demo
    frames = _frames()
    _write_bag(tmp_path / "bag", frames, kind)
    demo = load_demo(tmp_path / "bag")
    assert demo.kind == "bag" and len(demo.frames) == 10
    assert demo.rate == pytest.approx(10.0, rel=1e-3)
    for got, want in zip(demo.frames, frames):
        assert got.shape == want.shape
        diff = np.abs(got.astype(int) - want)
        if kind == "jpeg":   # lossy: close on average, the colours not swapped
            assert diff.mean() <= 3 and got[..., 0].mean() > 150 > got[..., 2].mean()
        else:
            assert diff.max() == 0


@pytest.mark.ros
@pytest.mark.slow
def test_play_stamps_frames_with_their_time_in_the_video(tmp_path):
    from sensor_msgs.msg import Image

    from mn_ros.node_common import IMAGE_QOS
    _write_bag(tmp_path / "bag", _frames(), "png", rate=10.0)
    domain = new_domain_id()
    env = ros_env(domain, tmp_path / "roslog")
    c = Client(domain, "pl")
    try:
        c.listen(Image, "video", IMAGE_QOS)
        p = subprocess.Popen([sys.executable, "-m", "mn_ros.cli", "play", str(tmp_path / "bag"),
                              "--ns", "pl"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        c.spin_until(lambda: p.poll() is not None, 120, "mn play to finish")
        out, err = p.communicate()
        assert p.returncode == 0, err
        c.spin_until(lambda: len(c.inbox["video"]) == 10, 10, "10 frames")
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in c.inbox["video"]]
        assert np.diff(stamps).tolist() == [100_000_000] * 9   # exactly 1/10 s apart
        assert c.inbox["video"][3].encoding == "rgb8"
    finally:
        c.close()
