"""The sim node (MuJoCo Panda) as a real process: what it publishes, what it executes, what it
refuses (NaN, other frame, outside the workspace), resets by service and by topic."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ros_helpers import Client, NodeProcess, new_domain_id, ros_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]
NS = "s"
CAMS = ("front", "wrist")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from std_msgs.msg import Bool, String

    from mn_ros import topics as T
    from mn_ros.node_common import COMMAND_QOS, IMAGE_QOS, LATCHED_QOS, SENSOR_QOS

    tmp = tmp_path_factory.mktemp("sim")
    domain = new_domain_id()
    node = NodeProcess("mn_ros.sim_node", NS, ros_env(domain, tmp / "roslog"), tmp / "sim.log",
                       {"cameras": list(CAMS), "image_size": 64, "video_rate_hz": 10.0,
                        "task": "open_drawer"})
    c = Client(domain, NS)
    for cam in CAMS:
        c.listen(Image, T.camera_image(cam), SENSOR_QOS, f"{cam}/image")
        c.listen(Image, T.camera_depth(cam), SENSOR_QOS, f"{cam}/depth")
        c.listen(CameraInfo, T.camera_info(cam), SENSOR_QOS, f"{cam}/info")
        c.listen(PoseStamped, T.camera_pose(cam), COMMAND_QOS, f"{cam}/pose")
    c.listen(JointState, T.JOINT_STATES, COMMAND_QOS, "joints")
    c.listen(PoseStamped, T.GRIPPER_POSE, COMMAND_QOS, "gripper_pose")
    c.listen(Bool, T.GRIPPER_STATE, COMMAND_QOS, "gripper_state")
    c.listen(String, T.TASK_STATUS, LATCHED_QOS, "status")
    c.listen(Image, T.VIDEO, IMAGE_QOS, "video")
    c.target = c.node.create_publisher(PoseStamped, T.TARGET_POSE, COMMAND_QOS)
    c.gripper = c.node.create_publisher(Bool, T.GRIPPER_COMMAND, COMMAND_QOS)
    c.reset = c.node.create_publisher(String, T.RESET, COMMAND_QOS)
    c.proc = node
    node.wait_log(r"state: active", 120)
    c.spin_until(lambda: any(json.loads(m.data).get("step") == 0 for m in c.inbox["status"]),
                 120, "the first observation")
    yield c
    c.close()
    assert node.stop() == 0, node.log()[-2000:]


def status(c) -> dict:
    return json.loads(c.inbox["status"][-1].data)


def test_publishes_a_complete_observation_after_reset(sim):
    from mn_ros import conversions as cv
    c = sim
    s = status(c)
    assert (s["task"], s["variation"], s["step"], s["done"]) == ("open_drawer", 0, 0, False)
    assert s["instruction"] == "open the bottom drawer" and s["gripper_open"] is True
    c.spin_until(lambda: all(c.inbox[k] for k in ("front/image", "wrist/depth", "front/info",
                                                  "wrist/pose", "joints", "gripper_pose")),
                 20, "every part of the observation")
    rgb = cv.msg_to_image(c.inbox["front/image"][-1], ("rgb8",), shape=(64, 64))
    assert rgb.std() > 0
    depth = cv.msg_to_image(c.inbox["wrist/depth"][-1], ("32FC1",), shape=(64, 64))
    assert np.all(np.isfinite(depth)) and depth.min() > 0
    K = cv.intrinsics_from_camera_info(c.inbox["front/info"][-1], shape=(64, 64))
    assert K[0, 2] == 32.0
    joints = cv.msg_to_joint_state(c.inbox["joints"][-1], cv.ARM_JOINTS + cv.FINGER_JOINTS)
    assert joints["position"].shape == (9,)
    stamps = {cv.stamp_to_ns(c.inbox[k][-1].header.stamp) for k in
              ("front/image", "wrist/depth", "front/info", "wrist/pose", "gripper_pose")}
    assert stamps == {s["stamp_ns"]}, "all parts of one observation share its stamp"
    types = dict(c.node.get_publisher_names_and_types_by_node("sim", f"/{NS}"))
    assert types[f"/{NS}/cameras/front/image"] == ["sensor_msgs/msg/Image"]
    assert types[f"/{NS}/cameras/front/camera_info"] == ["sensor_msgs/msg/CameraInfo"]
    assert types[f"/{NS}/task_status"] == ["std_msgs/msg/String"]
    assert types[f"/{NS}/joint_states"] == ["sensor_msgs/msg/JointState"]
    assert types[f"/{NS}/video"] == ["sensor_msgs/msg/Image"]


def test_bad_targets_are_refused_and_a_good_one_executes(sim):
    from mn_ros import conversions as cv
    c = sim
    c.wait_subscribers(c.target)
    c.spin_until(lambda: c.inbox["gripper_pose"], 30, "a gripper pose")
    pose = cv.msg_to_pose(c.inbox["gripper_pose"][-1])
    nan = cv.pose_to_msg(pose[:3], pose[3:])
    nan.pose.position.z = float("nan")
    outside = cv.pose_to_msg(pose[:3] + [0, 0, 2.0], pose[3:])
    other_frame = cv.pose_to_msg(pose[:3], pose[3:], frame_id="base_link")
    for msg in (nan, outside, other_frame):
        c.target.publish(msg)
    c.spin_until(lambda: status(c).get("rejected_targets") == 3, 20, "three rejections")
    log = c.proc.log()
    assert "target rejected, not executed: pose contains NaN" in log
    assert "is outside the workspace" in log
    assert "pose is in frame 'base_link'; expected 'world'" in log
    assert status(c)["step"] == 0, "a refused target moved the arm"
    videos_before = len(c.inbox["video"])
    c.target.publish(cv.pose_to_msg(pose[:3] - [0, 0, 0.12], pose[3:]))   # 12 cm down
    c.spin_until(lambda: status(c)["step"] == 1, 60, "the good target executed")
    assert status(c)["failure_reason"] == "", status(c)
    c.spin_until(lambda: cv.msg_to_pose(c.inbox["gripper_pose"][-1])[2] < pose[2] - 0.1, 10,
                 "the new gripper pose")
    # frames are streamed during the motion (reliable: under load they may arrive after the pose)
    c.spin_until(lambda: len(c.inbox["video"]) > videos_before + 1, 20,
                 "video frames streamed during the motion")


def test_reset_by_service_and_by_topic(sim):
    from std_msgs.msg import String
    from std_srvs.srv import Trigger
    c = sim
    episode = status(c)["episode"]
    reply = c.call(Trigger, f"/{NS}/sim/reset")
    assert reply.success and reply.message == "open the bottom drawer"
    c.spin_until(lambda: status(c)["episode"] == episode + 1 and status(c)["step"] == 0, 30,
                 "episode after the service reset")
    c.wait_subscribers(c.reset)
    c.reset.publish(String(data='{"task": "fly_to_moon"}'))
    c.reset.publish(String(data='{"task": "turn_tap", "variation": 1, "seed": 7}'))
    c.spin_until(lambda: status(c)["task"] == "turn_tap", 60, "turn_tap episode")
    s = status(c)
    assert (s["variation"], s["seed"], s["step"]) == (1, 7, 0)
    assert "reset '{\"task\": \"fly_to_moon\"}' rejected: unknown task 'fly_to_moon'" in \
        c.proc.log()
