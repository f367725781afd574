"""Ctrl-C as a terminal plus `ros2 launch` deliver it: SIGINT twice, 50 ms apart, to a node's
process group. Every node exits with status 0 and no traceback, and a recording recorder
leaves a complete, readable bag (metadata.yaml, the frames it got), not a hidden temporary."""
from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from ros_helpers import Client, NodeProcess, new_domain_id, ros_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def double_sigint(node: NodeProcess) -> int:
    os.killpg(node.proc.pid, signal.SIGINT)
    time.sleep(0.05)
    try:
        os.killpg(node.proc.pid, signal.SIGINT)
    except ProcessLookupError:   # already gone after the first one: fine too
        pass
    return node.proc.wait(60)


def assert_clean(node: NodeProcess, code: int) -> None:
    log = node.log()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log[-3000:]


def test_every_node_stops_cleanly_on_two_sigints(tiny_checkpoints, tmp_path):
    env = ros_env(new_domain_id(), tmp_path / "roslog")
    ck = str(tiny_checkpoints["mn"])
    nodes = {
        "sim": NodeProcess("mn_ros.sim_node", "i", env, tmp_path / "sim.log",
                           {"cameras": ["front", "wrist"], "image_size": 64}),
        "policy": NodeProcess("mn_ros.policy_node", "i", env, tmp_path / "policy.log",
                              {"checkpoint": ck}),
        "observer": NodeProcess("mn_ros.observer_node", "i", env, tmp_path / "observer.log",
                                {"checkpoint": ck}),
        "mirror": NodeProcess("mn_ros.mirror_node", "i", env, tmp_path / "mirror.log"),
    }
    try:
        for node in nodes.values():
            node.wait_log(r"state: active", 180)
        for name, node in nodes.items():
            assert_clean(node, double_sigint(node))
    finally:
        for node in nodes.values():
            node.stop(signal.SIGKILL)


def test_recorder_finishes_its_bag_on_two_sigints(tmp_path):
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from mn_ros import conversions as cv
    from mn_ros.demo_source import load_demo
    from mn_ros.node_common import IMAGE_QOS, LATCHED_QOS
    domain = new_domain_id()
    bags = tmp_path / "bags"
    rec = NodeProcess("mn_ros.recorder_node", "r", ros_env(domain, tmp_path / "roslog"),
                      tmp_path / "recorder.log", {"bag": str(bags),
                                                  "topics": ["video", "task_status"]})
    c = Client(domain, "r")
    try:
        status = c.node.create_publisher(String, "task_status", LATCHED_QOS)
        video = c.node.create_publisher(Image, "video", IMAGE_QOS)
        status.publish(String(data=json.dumps({"episode": 0, "step": 0})))
        rec.wait_log(r"recording into \S+/episode0_", 60)
        rng = np.random.default_rng(0)
        frame = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
        sent = 0
        end = time.monotonic() + 30
        while "recording /r/video" not in rec.log() or sent < 30:   # a stream at ~30 Hz
            assert time.monotonic() < end, rec.log()[-2000:]
            video.publish(cv.image_to_msg(frame, "rgb8", time.time_ns()))
            sent += 1
            c.executor.spin_once(timeout_sec=0.033)
        assert_clean(rec, double_sigint(rec))   # while frames are still coming
        [bag] = list(bags.iterdir())
        assert not bag.name.startswith("."), f"left a temporary: {bag}"
        assert (bag / "metadata.yaml").is_file() and (bag / f"{bag.name}.mcap").is_file()
        m = rec.wait_log(r"wrote \S+ \((\d+) messages\)", 1)
        demo = load_demo(bag)
        assert demo.kind == "bag" and len(demo.frames) >= 1
        assert len(demo.frames) + 1 == int(m.group(1)), "the status and every frame written"
        np.testing.assert_array_equal(demo.frames[0], frame)
    finally:
        c.close()
        rec.stop(signal.SIGKILL)
