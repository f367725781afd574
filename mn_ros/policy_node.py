"""policy node: an ee / mn checkpoint's policy driving the sim, keyframe by keyframe.

Given an ``instruction`` and the latest complete observation (the sim's cameras, joints,
gripper pose and status with one stamp), it publishes the next keyframe target on
``gripper_command`` + ``ignore_collisions`` + ``target_pose`` (in that order, the pose last;
its stamp is the observation's), and its embedding on the shared ``embedding`` topic: z_e
when the checkpoint has an alignment head, else the raw feature e (labelled so). It acts once
per observation until the status says done or ``max_steps`` targets were sent. Observations
with an invalid part (wrong encoding or size, NaN) and unknown or empty instructions are logged
(payloads cut short), counted on ``/diagnostics`` and produce no motion. A managed node
(mn_ros/node_common.py): the checkpoint is loaded on configure and freed on cleanup.

    python -m mn_ros.policy_node --ros-args -r __ns:=/mn -p checkpoint:=runs/mn
"""
from __future__ import annotations


from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, Float32MultiArray, String

from mn_ros import conversions as cv
from mn_ros import topics as T
from mn_ros.node_common import (COMMAND_QOS, LATCHED_QOS, SENSOR_QOS, ManagedNode, declare,
                                declare_checkpoint, log_loaded, node_main, short)
from mn_ros.observation_sync import ObservationSync, camera_part
from mn_sim.types import CAMERAS, OPTIONAL_CAMERAS


class PolicyNode(ManagedNode):
    def __init__(self):
        super().__init__("policy")
        p = lambda *a, **k: declare(self, *a, **k)   # noqa: E731
        self.checkpoint, self.threads = declare_checkpoint(self, "policy", "ee, mn or probe")
        self.max_steps = p("max_steps", 25, "targets sent per instruction at most", low=1,
                           high=1_000_000)
        self.allow_unknown = p("allow_unknown_instructions", False, "act on instructions "
                               "outside the checkpoint's vocabulary (default: reject them)")
        self.cameras = list(p("cameras", list(CAMERAS), "camera topics to subscribe; must "
                              "include every camera the policy was trained with"))
        known = CAMERAS + OPTIONAL_CAMERAS
        bad = [c for c in self.cameras if c not in known]
        if bad or not self.cameras:
            raise ValueError(f"parameter 'cameras' is {self.cameras}; choose from {list(known)}")
        self.frame_id = p("frame_id", cv.WORLD_FRAME, "frame of all poses")
        self.runner = None
        self.sync = ObservationSync(self.cameras)
        self.instruction, self.steps = "", 0
        self.latest = None     # (stamp, observation): the newest complete observation
        self.used = -1         # newest stamp acted on (or seen done): never act on it again
        pub = self.create_lifecycle_publisher   # silent unless active
        self.pub_grip = pub(Bool, T.GRIPPER_COMMAND, COMMAND_QOS)
        self.pub_ignore = pub(Bool, T.IGNORE_COLLISIONS, COMMAND_QOS)
        self.pub_target = pub(PoseStamped, T.TARGET_POSE, COMMAND_QOS)
        self.pub_emb = pub(Float32MultiArray, T.EMBEDDING, COMMAND_QOS)
        sub = self._subscribe
        for cam in self.cameras:
            sub(Image, T.camera_image(cam), SENSOR_QOS, camera_part(cam, "image"),
                lambda m: cv.msg_to_image(m, ("rgb8",)))
            sub(Image, T.camera_depth(cam), SENSOR_QOS, camera_part(cam, "depth"),
                lambda m: cv.msg_to_image(m, ("32FC1",)))
            sub(CameraInfo, T.camera_info(cam), SENSOR_QOS, camera_part(cam, "info"),
                cv.intrinsics_from_camera_info)
            sub(PoseStamped, T.camera_pose(cam), COMMAND_QOS, camera_part(cam, "pose"),
                lambda m: cv.pose_to_matrix(cv.msg_to_pose(m, self.frame_id)))
        sub(JointState, T.JOINT_STATES, COMMAND_QOS, "joints", _joints)
        sub(PoseStamped, T.GRIPPER_POSE, COMMAND_QOS, "gripper_pose",
            lambda m: cv.msg_to_pose(m, self.frame_id))
        self.create_subscription(String, T.TASK_STATUS, self._on_status, LATCHED_QOS)
        self.create_subscription(String, T.INSTRUCTION, self._on_instruction, COMMAND_QOS)

    def load(self) -> None:
        from mn_models.runtime import PolicyRunner
        runner = PolicyRunner(self.checkpoint, threads=self.threads)
        missing = [c for c in runner.cameras if c not in self.cameras]
        if missing:
            raise ValueError(f"the policy needs cameras {missing}; add them to 'cameras'")
        self.sync = ObservationSync(runner.cameras)
        self.runner = runner
        log_loaded(self, runner, "policy feature", "e",
                   f"{len(runner.instructions)} instructions")

    def unload(self) -> None:
        self.runner, self.latest, self.instruction, self.steps = None, None, "", 0
        self.sync = ObservationSync(self.cameras)

    def stopped(self) -> None:
        self.instruction = ""   # deactivated: the running instruction ends here

    # ---------------------------------------------------------------- inputs
    def _subscribe(self, cls, topic, qos, part, convert) -> None:
        def callback(msg):
            if not self.accept(topic):
                return
            stamp = cv.stamp_to_ns(msg.header.stamp)
            try:
                obs = self.sync.add(stamp, part, convert(msg))
            except ValueError as e:   # ConversionError or a mismatch between parts
                self.sync.reject(stamp, str(e))
                self.frames_dropped += 1
                self.get_logger().warning(f"observation {stamp} rejected ({topic}): "
                                          f"{short(str(e))}")
                return
            self._on_observation(stamp, obs)
        self.create_subscription(cls, topic, callback, qos)

    def _on_status(self, msg: String) -> None:
        if not self.accept("task status"):
            return
        try:
            status = cv.msg_to_json(msg, ("stamp_ns", "done", "gripper_open"))
            self._on_observation(status["stamp_ns"],
                                 self.sync.add(status["stamp_ns"], "status", status))
        except (ValueError, TypeError) as e:
            self.get_logger().warning(f"task status rejected: {short(str(e))}")

    def _on_instruction(self, msg: String) -> None:
        if not self.accept(f"instruction {short(msg.data)!r}"):
            return
        try:
            self.instruction = self.runner.check_instruction(msg.data, self.allow_unknown)
        except ValueError as e:
            self.command_rejected("instruction", str(e),
                                  f"instruction rejected, no motion: {short(str(e))}")
            return
        self.steps = 0
        self.get_logger().info(f"instruction: {short(self.instruction)!r}")
        if self.latest is not None:
            self._act(*self.latest)

    def _on_observation(self, stamp: int, obs) -> None:
        if obs is None:
            return
        self.latest = (stamp, obs)
        self._act(stamp, obs)

    # ---------------------------------------------------------------- acting
    def _act(self, stamp: int, obs) -> None:
        status = obs.misc["status"]
        if stamp <= self.used:
            return
        if status["done"]:
            self.used = stamp
            self.get_logger().info(f"episode over (success={status.get('success')}): waiting "
                                   "for the next instruction")
            self.instruction = ""
            return
        if not self.instruction:
            return
        if self.steps >= self.max_steps:
            self.get_logger().warning(f"{self.max_steps} targets sent without the task being "
                                      "done: stopping")
            self.instruction = ""
            return
        self.used = stamp
        with self.decision():
            action, emb, kind = self.runner.act(obs, self.instruction)
        self.steps += 1
        self.pub_grip.publish(Bool(data=bool(action[7] > 0.5)))
        self.pub_ignore.publish(Bool(data=bool(action[8] > 0.5)))
        self.pub_target.publish(cv.pose_to_msg(action[:3], action[3:7], stamp, self.frame_id))
        self.pub_emb.publish(cv.embedding_to_msg(emb, kind, self.get_fully_qualified_name()))
        self.get_logger().info(f"step {self.steps}: target {action[:3].round(3).tolist()} "
                               f"gripper_open={action[7] > 0.5}")


def _joints(msg) -> dict:
    j = cv.msg_to_joint_state(msg, cv.ARM_JOINTS + cv.FINGER_JOINTS)
    return {"arm_position": j["position"][:7], "arm_velocity": j["velocity"][:7],
            "arm_effort": j["effort"][:7], "finger_position": j["position"][7:]}


def main(args=None) -> None:
    node_main(PolicyNode, args)


if __name__ == "__main__":
    main()
