"""The observer node as a real process fed like a camera driver would feed it: raw images in
several encodings and sizes, jpeg CompressedImage, frames delivered in bursts, an encoding it
cannot read, a best-effort publisher. (Issue 13, point 4.)"""
from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

from ros_helpers import Client, NodeProcess, new_domain_id, ros_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]
NS = "cam"
SEC = 1_000_000_000


@pytest.fixture(scope="module")
def observer(tiny_checkpoints, tmp_path_factory):
    from sensor_msgs.msg import CompressedImage, Image
    from std_msgs.msg import String

    from mn_ros import topics as T
    from mn_ros.node_common import COMMAND_QOS, IMAGE_QOS, LATCHED_QOS

    tmp = tmp_path_factory.mktemp("observer_camera")
    domain = new_domain_id()
    node = NodeProcess("mn_ros.observer_node", NS, ros_env(domain, tmp / "roslog"),
                       tmp / "observer.log", {"checkpoint": str(tiny_checkpoints["au"]),
                                              "recognize_every": 8, "min_frames": 8})
    c = Client(domain, NS)
    try:   # the node is stopped even when set-up fails
        c.raw = c.node.create_publisher(Image, T.VIDEO, IMAGE_QOS)
        c.jpeg = c.node.create_publisher(CompressedImage, f"{T.VIDEO}/compressed", IMAGE_QOS)
        c.listen(String, T.RECOGNIZED, COMMAND_QOS, "label")
        c.listen(String, T.SCORES, COMMAND_QOS, "scores")
        c.listen(String, f"/{NS}/observer/state", LATCHED_QOS, "state")
        c.spin_until(lambda: c.inbox["state"] and c.inbox["state"][-1].data == "active", 90,
                     "observer active")
        c.wait_subscribers(c.raw)
        c.wait_subscribers(c.jpeg)
        c.observer = node
        yield c
    finally:
        c.close()
        node.stop()


def _reset(c) -> dict:
    from std_srvs.srv import Trigger
    return json.loads(c.call(Trigger, "observer/reset").message)


def _scores_after(c, n: int, timeout: float = 30.0) -> dict:
    c.spin_until(lambda: len(c.inbox["scores"]) > n, timeout, "a recognition")
    return json.loads(c.inbox["scores"][-1].data)


def _paced(c, rate_hz: float):
    """Wait until the next frame is due at ``rate_hz`` (a camera's pace; a burst of large
    frames faster than the reader takes them overruns the keep-last-5 writer queue)."""
    end = time.monotonic() + 1.0 / rate_hz
    while time.monotonic() < end:
        c.executor.spin_once(timeout_sec=max(0.0, min(0.005, end - time.monotonic())))


def _bgr_msg(rgb, stamp):
    from mn_ros import conversions as cv
    return cv.image_to_msg(np.ascontiguousarray(rgb[..., ::-1]), "bgr8", stamp, "cam_optical")


@pytest.mark.parametrize("kind", ["bgr8 640x480", "rgba8 1280x720", "mono8 480x640",
                                  "yuyv 640x480", "jpeg 1280x720", "png 640x480"])
def test_any_camera_encoding_and_size_is_recognized(observer, kind):
    from mn_ros import conversions as cv
    c = observer
    enc, size = kind.split()
    w, h = map(int, size.split("x"))
    _reset(c)
    n = len(c.inbox["scores"])
    rng = np.random.default_rng(0)
    t0 = time.time_ns()
    for i in range(8):
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[:, :] = rng.integers(0, 256, 3, dtype=np.uint8)
        stamp = t0 + i * SEC // 30
        _paced(c, 30)
        if enc in ("jpeg", "png"):
            c.jpeg.publish(cv.compressed_to_msg(rgb, enc, stamp))
            continue
        if enc == "bgr8":
            msg = _bgr_msg(rgb, stamp)
        elif enc == "rgba8":
            msg = cv.image_to_msg(np.concatenate([rgb, np.full((h, w, 1), 9, np.uint8)], -1),
                                  "rgba8", stamp)
        elif enc == "mono8":
            msg = cv.image_to_msg(rgb[..., 0], "mono8", stamp)
        else:   # yuyv: grey pixels (U = V = 128)
            yuv = np.stack([rgb[..., 0], np.full((h, w), 128, np.uint8)], -1)
            msg = cv.image_to_msg(yuv, "yuyv", stamp)
        c.raw.publish(msg)
    scores = _scores_after(c, n)
    assert scores["frames"] == 8 and scores["instruction"] in {"open the bottom drawer",
                                                               "turn left tap"}
    counts = _reset(c)
    assert counts["frames_received"] == 8 and counts["recognitions"] == 1


def test_frames_in_bursts_are_one_clip_cut_on_their_stamps(observer):
    """60 frames stamped 1/20 s apart arrive in three bursts 1.5 s apart (more than
    clip_gap_s 1.0 on arrival): one clip, the last recognition spans all 60 frames."""
    c = observer
    _reset(c)
    log_before = len(c.observer.log())
    t0 = time.time_ns()
    rgb = np.full((48, 64, 3), 120, np.uint8)
    for burst in range(3):
        for i in range(burst * 20, burst * 20 + 20):   # 20 frames in 0.2 s, stamps 1 s apart
            c.raw.publish(_bgr_msg(rgb, t0 + i * SEC // 20))
            _paced(c, 100)
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            c.executor.spin_once(timeout_sec=0.05)
    c.spin_until(lambda: any(json.loads(m.data)["frames"] == 56 for m in c.inbox["scores"]),
                 30, "a recognition over 56 frames")
    assert "new clip" not in c.observer.log()[log_before:]
    assert _reset(c)["frames_received"] == 60
    # a jump in the stamps does start a new clip
    for i, dt in enumerate((0, SEC // 20, 3 * SEC)):
        c.raw.publish(_bgr_msg(rgb, t0 + 100 * SEC + i * SEC // 20 + dt))
        _paced(c, 30)
    c.spin_until(lambda: "new clip (after 2 frames)" in c.observer.log()[log_before:], 20,
                 "a new clip logged")


def test_unreadable_encoding_is_dropped_with_one_clear_log_line(observer):
    from mn_ros import conversions as cv
    c = observer
    _reset(c)
    depth = cv.image_to_msg(np.ones((4, 4), np.uint16), "16UC1", time.time_ns())
    for _ in range(5):
        c.raw.publish(depth)
        _paced(c, 30)
    pattern = r"frame dropped: image encoding '16UC1' is not a colour camera format"
    c.spin_until(lambda: re.search(pattern, c.observer.log()), 20, "the drop logged")
    time.sleep(0.5)
    lines = [ln for ln in c.observer.log().splitlines() if "16UC1" in ln]
    assert len(lines) == 1 and "send one of rgb8, bgr8" in lines[0], lines
    assert _reset(c)["frames_received"] == 0


def test_a_best_effort_camera_is_reported(observer):
    """A best-effort publisher does not match the reliable subscription: the node says so."""
    from sensor_msgs.msg import Image

    from mn_ros import topics as T
    from mn_ros.node_common import SENSOR_QOS
    c = observer
    pub = c.node.create_publisher(Image, T.VIDEO, SENSOR_QOS)
    try:
        c.spin_until(lambda: "incompatible QoS" in c.observer.log(), 20, "the QoS warning")
        assert "image_qos:=best_effort" in c.observer.log()
    finally:
        c.node.destroy_publisher(pub)
