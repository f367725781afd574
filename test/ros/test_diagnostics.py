"""/diagnostics and visible rejections on real nodes: rejected targets and resets show on
/diagnostics and in task_status's last_rejection, a step's latency is measured, dropped frames
are counted, and a 10 MB instruction or reset does not become a 10 MB log line (console or ROS
log file)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from ros_helpers import Client, NodeProcess, new_domain_id, ros_env
from test_lifecycle import diag, listen_diagnostics

pytestmark = [pytest.mark.ros, pytest.mark.slow]
NS = "d"
HUGE = 10_000_000


@pytest.fixture(scope="module")
def nodes(tiny_checkpoints, tmp_path_factory):
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from mn_ros import topics as T
    from mn_ros.node_common import COMMAND_QOS, IMAGE_QOS, LATCHED_QOS
    tmp = tmp_path_factory.mktemp("diag")
    domain = new_domain_id()
    env = ros_env(domain, tmp / "roslog")
    ck = str(tiny_checkpoints["mn"])
    procs = {
        "sim": NodeProcess("mn_ros.sim_node", NS, env, tmp / "sim.log",
                           {"cameras": ["front", "wrist"], "image_size": 64,
                            "video_rate_hz": 0.0}),
        "policy": NodeProcess("mn_ros.policy_node", NS, env, tmp / "policy.log",
                              {"checkpoint": ck}),
        "observer": NodeProcess("mn_ros.observer_node", NS, env, tmp / "observer.log",
                                {"checkpoint": ck}),
    }
    c = Client(domain, NS)
    listen_diagnostics(c)
    c.listen(String, T.TASK_STATUS, LATCHED_QOS, "status")
    c.target = c.node.create_publisher(PoseStamped, T.TARGET_POSE, COMMAND_QOS)
    c.reset = c.node.create_publisher(String, T.RESET, COMMAND_QOS)
    c.instruction = c.node.create_publisher(String, T.INSTRUCTION, COMMAND_QOS)
    c.video = c.node.create_publisher(Image, T.VIDEO, IMAGE_QOS)
    c.procs, c.roslog = procs, tmp / "roslog"
    for p in procs.values():
        p.wait_log(r"state: active", 180)
    yield c
    c.close()
    for p in procs.values():
        assert p.stop() == 0, p.log()[-2000:]


def status(c) -> dict:
    return json.loads(c.inbox["status"][-1].data)


def test_rejected_target_and_reset_show_on_diagnostics_and_task_status(nodes):
    from std_msgs.msg import String

    from mn_ros import conversions as cv
    c, sim = nodes, f"/{NS}/sim"
    c.spin_until(lambda: c.inbox["status"] and status(c).get("episode") == 0, 60, "status")
    assert status(c)["last_rejection"] is None and status(c)["rejected_commands"] == 0
    c.spin_until(lambda: diag(c, sim).get("state") == "active", 10, "sim diagnostics")
    d = diag(c, sim)
    assert d["level"] == 0 and d["commands_rejected"] == "0" and d["last_rejection"] == ""
    c.wait_subscribers(c.target)
    nan = cv.pose_to_msg([0.3, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0])
    nan.pose.position.z = float("nan")
    c.publish_until(lambda: c.target.publish(nan),
                    lambda: (status(c).get("last_rejection") or {}).get("command") ==
                    "target_pose", 20, "last_rejection on task_status")
    assert "pose contains NaN" in status(c)["last_rejection"]["reason"]
    n = status(c)["rejected_commands"]   # >= 1: the target may have been sent again
    assert n >= 1 and status(c)["step"] == 0
    c.spin_until(lambda: int(diag(c, sim).get("commands_rejected", 0)) >= n, 10, "diagnostics")
    assert diag(c, sim)["last_rejection"].startswith("target_pose: pose contains NaN")

    c.wait_subscribers(c.reset)
    huge = String(data=json.dumps({"task": "x" * HUGE}))   # a 10 MB task name
    c.publish_until(lambda: c.reset.publish(huge),
                    lambda: status(c)["last_rejection"]["command"] == "reset", 30,
                    "reset shown")
    assert "unknown task" in status(c)["last_rejection"]["reason"]
    assert len(status(c)["last_rejection"]["reason"]) < 1000
    assert status(c)["step"] == 0
    m = status(c)["rejected_commands"]
    assert m > n
    c.spin_until(lambda: int(diag(c, sim).get("commands_rejected", 0)) == m, 10, "both counted")

    # a good target executes; its step time is the sim's decision latency
    c.spin_until(lambda: "gripper_open" in status(c), 10, "a status with the gripper")
    pose = [0.3, 0.0, 1.0]
    c.target.publish(cv.pose_to_msg(pose, [0.0, 1.0, 0.0, 0.0]))
    c.spin_until(lambda: status(c)["step"] == 1, 60, "the good target executed")
    c.spin_until(lambda: diag(c, sim).get("decisions") == "1", 10, "a decision counted")
    assert float(diag(c, sim)["decision_latency_ms_last"]) > 1.0


def test_huge_payloads_are_cut_in_every_log(nodes):
    from std_msgs.msg import String
    c, policy = nodes, f"/{NS}/policy"
    c.wait_subscribers(c.instruction)
    huge = String(data="open " + "y" * HUGE)
    c.publish_until(lambda: c.instruction.publish(huge),
                    lambda: int(diag(c, policy).get("commands_rejected", 0)) >= 1, 30,
                    "rejected")
    assert diag(c, policy)["last_rejection"].startswith("instruction: instruction 'open yyy")
    assert len(diag(c, policy)["last_rejection"]) < 1000
    nodes.procs["policy"].wait_log(r"instruction rejected, no motion: .*characters\)", 10)
    time.sleep(1.0)   # let the ROS log files flush
    files = [p for p in c.roslog.rglob("*") if p.is_file()]
    assert files, "ROS log files exist"
    for text in [p.log() for p in c.procs.values()] + [f.read_text(errors="replace")
                                                       for f in files]:
        longest = max((len(line) for line in text.splitlines()), default=0)
        assert longest < 2000, f"a log line of {longest} characters"


def test_dropped_frames_are_counted(nodes):
    from mn_ros import conversions as cv
    c, observer = nodes, f"/{NS}/observer"
    c.wait_subscribers(c.video)
    c.spin_until(lambda: diag(c, observer).get("state") == "active", 10, "observer diag")
    before = int(diag(c, observer)["frames_dropped"])
    depth = cv.image_to_msg(np.ones((16, 16), np.float32), "32FC1", time.time_ns())

    def counted():
        c.video.publish(depth)
        return int(diag(c, observer).get("frames_dropped", 0)) > before
    c.spin_until(counted, 20, "a dropped frame on /diagnostics")
