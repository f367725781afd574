"""sim node: the simulated Panda (mn_sim MNEnv, or RLBench) on ROS 2 topics.

After each reset and each executed keyframe it publishes one observation (cameras, joints,
gripper pose and state, all with one stamp) and the task status; while the arm moves it streams
the observer camera on ``video`` (image size: what the observer watches) and on
``video/display`` (256 px, for people). A ``target_pose`` runs one env.step with the last
``gripper_command`` / ``ignore_collisions``; targets with NaN, a non-unit quaternion, another
frame or a position outside ``workspace_bounds``, and bad resets, are logged, counted on
``/diagnostics`` and set ``last_rejection`` on ``task_status``; they are not executed. A managed
node (mn_ros/node_common.py): the simulator is built on configure, closed on cleanup, and
nothing is published unless active. See mn_ros/topics.py for the names and types.

    python -m mn_ros.sim_node --ros-args -r __ns:=/mn -p task:=open_drawer
"""
from __future__ import annotations


from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from mn_ros import conversions as cv
from mn_ros import topics as T
from mn_ros.node_common import (COMMAND_QOS, IMAGE_QOS, LATCHED_QOS, SENSOR_QOS, ManagedNode,
                                declare, node_main, short)
from mn_sim.scene import WORKSPACE_BOUNDS
from mn_sim.types import CAMERAS, DISPLAY_SIZE, OBSERVER_CAMERA, OPTIONAL_CAMERAS


class SimNode(ManagedNode):
    """The simulator is built in ``load`` (configure), in the executor thread, which the
    renderer's OpenGL context belongs to."""

    def __init__(self):
        super().__init__("sim")
        p = lambda *a, **k: declare(self, *a, **k)   # noqa: E731
        self.backend = p("backend", "mujoco", "simulator: the embedded MuJoCo Panda or RLBench "
                         "(CoppeliaSim + PyRep installed separately)",
                         choices=("mujoco", "rlbench"))
        from mn_sim.tasks.registry import task_names
        p("task", "open_drawer", "task loaded by the first reset and by ~/reset (see `mn tasks`)",
          choices=task_names() if self.backend == "mujoco" else ())
        p("variation", 0, "task variation used by ~/reset", low=0, high=1000)
        p("seed", 0, "seed of the first episode; episode k uses seed + k", low=0, high=2**31 - 1)
        known = CAMERAS + OPTIONAL_CAMERAS
        self.cameras = list(p("cameras", list(CAMERAS), "cameras to render and publish"))
        bad = [c for c in self.cameras if c not in known]
        if bad or not self.cameras:
            raise ValueError(f"parameter 'cameras' is {self.cameras}; choose from {list(known)}")
        self.image_size = p("image_size", 128, "square camera resolution (pixels)", low=16,
                            high=1024)
        self.max_steps = p("max_steps", 25, "keyframe steps before an episode is truncated",
                           low=1, high=1000)
        self.video_rate = p("video_rate_hz", 20.0, "observer-camera frames per simulated second "
                            "streamed on 'video' while the arm moves (0 = off)", low=0.0,
                            high=200.0)
        self.video_camera = p("video_camera", OBSERVER_CAMERA, "camera streamed on 'video' "
                              "(at image_size, the observer's input) and 'video/display'",
                              choices=known)
        self.display_size = p("display_size", DISPLAY_SIZE, "square size of the frames on "
                              "'video/display', for people (0 = off)", low=0, high=2048)
        self.republish = p("republish_period_s", 1.0, "re-send the latest observation (same "
                           "stamp) this often, for late or lossy subscribers (0 = off)",
                           low=0.0, high=60.0)
        self.bounds = list(p("workspace_bounds", list(WORKSPACE_BOUNDS), "[x_min, y_min, "
                             "z_min, x_max, y_max, z_max] (m): targets outside are rejected"))
        b = self.bounds
        if len(b) != 6 or not all(lo < hi for lo, hi in zip(b[:3], b[3:])):
            raise ValueError(f"parameter 'workspace_bounds' is {b}; give 6 numbers [x_min, y_min, "
                             "z_min, x_max, y_max, z_max] with each minimum below its maximum")
        self.frame_id = p("frame_id", cv.WORLD_FRAME, "frame of all poses")
        self.env = None
        self.episode, self.rejected_targets, self.status = -1, 0, {}
        self.gripper_open, self.ignore_collisions = True, True
        self.pending = None          # (pose7, receive time ns): executed on the next tick
        self.last_obs_msgs: list = []
        outputs = [(T.JOINT_STATES, JointState, COMMAND_QOS), (T.GRIPPER_STATE, Bool, COMMAND_QOS),
                   (T.GRIPPER_POSE, PoseStamped, COMMAND_QOS)]
        for cam in self.cameras:
            outputs += [(T.camera_image(cam), Image, SENSOR_QOS),
                        (T.camera_depth(cam), Image, SENSOR_QOS),
                        (T.camera_info(cam), CameraInfo, SENSOR_QOS),
                        (T.camera_pose(cam), PoseStamped, COMMAND_QOS)]
        pub = self.create_lifecycle_publisher   # silent unless active
        self.pubs = {topic: pub(cls, topic, qos) for topic, cls, qos in outputs}
        self.status_pub = pub(String, T.TASK_STATUS, LATCHED_QOS)
        self.video_pub = pub(Image, T.VIDEO, IMAGE_QOS)   # reliable: what the observer takes
        self.display_pub = pub(Image, T.VIDEO_DISPLAY, SENSOR_QOS)
        self.create_subscription(Bool, T.GRIPPER_COMMAND, self._on_gripper, COMMAND_QOS)
        self.create_subscription(Bool, T.IGNORE_COLLISIONS, self._on_ignore, COMMAND_QOS)
        self.create_subscription(PoseStamped, T.TARGET_POSE, self._on_target, COMMAND_QOS)
        self.create_subscription(String, T.RESET, self._on_reset_topic, COMMAND_QOS)
        self.create_service(Trigger, T.SIM_RESET_SERVICE, self._on_reset_srv)
        self.create_timer(0.02, self._tick)
        self._last_publish = 0

    # ---------------------------------------------------------------- lifecycle / reset
    def load(self) -> None:
        from mn_sim import make_env
        self.env = make_env(self.backend, image_size=self.image_size, cameras=self.cameras,
                            max_steps=self.max_steps)
        self.reset()

    def unload(self) -> None:
        if self.env is not None:
            self.env.close()
        self.env, self.pending, self.last_obs_msgs = None, None, []
        self.episode, self.status = -1, {}   # configured again: episodes count from 0

    def started(self) -> None:
        if self.last_obs_msgs:   # the observation of the reset made while configuring
            self._send(self.last_obs_msgs)

    def diagnostic_values(self) -> dict:
        return {"episode": self.status.get("episode", ""), "step": self.status.get("step", ""),
                "task": self.status.get("task", "")}

    def reset(self, task: str | None = None, variation: int | None = None,
              seed: int | None = None) -> None:
        gp = lambda n: self.get_parameter(n).value   # noqa: E731
        task = task or gp("task")
        variation = gp("variation") if variation is None else int(variation)
        seed = gp("seed") + self.episode + 1 if seed is None else int(seed)
        obs, info = self.env.reset(seed=seed, options={"task": task, "variation": variation})
        self.episode += 1
        self.gripper_open, self.ignore_collisions, self.pending = True, True, None
        self.status = {"task": task, "variation": info["variation"], "episode": self.episode,
                       "instruction": info["descriptions"][0],
                       "descriptions": list(info["descriptions"]), "seed": seed, "step": 0,
                       "done": False, "success": False, "failure_reason": "",
                       "rejected_commands": self.rejected, "last_rejection": None}
        self.get_logger().info(f"episode {self.episode}: {task} variation {variation} seed "
                               f"{seed}: {info['descriptions'][0]!r}")
        self.publish_observation(obs)

    def _on_reset_srv(self, request, response):
        if not self.accept("reset request"):
            response.success, response.message = False, f"not configured ({self.state})"
            return response
        try:
            self.reset()
        except (ValueError, KeyError) as e:
            self._reject("reset", str(e))
            response.success, response.message = False, short(str(e))
            return response
        response.success, response.message = True, self.status["instruction"]
        return response

    def _on_reset_topic(self, msg: String) -> None:
        if not self.accept("reset"):
            return
        try:
            d = cv.msg_to_json(msg)
            self.reset(d.get("task"), d.get("variation"), d.get("seed"))
        except (ValueError, KeyError, TypeError) as e:
            self._reject("reset", str(e), f"reset {short(msg.data)!r} rejected: {short(str(e))}")

    # ---------------------------------------------------------------- commands
    def _on_gripper(self, msg: Bool) -> None:
        self.gripper_open = bool(msg.data)

    def _on_ignore(self, msg: Bool) -> None:
        self.ignore_collisions = bool(msg.data)

    def _reject(self, command: str, why: str, log: str | None = None) -> None:
        """Count, log and show on task_status (last_rejection) a command not carried out."""
        self.command_rejected(command, why, log)
        if command == "target_pose":
            self.rejected_targets += 1
            self.status["rejected_targets"] = self.rejected_targets
        self.status.update(rejected_commands=self.rejected, last_rejection={
            "command": command, "reason": short(why), "stamp_ns": self.now_ns()})
        if self.status.get("episode", -1) >= 0:
            self.status_pub.publish(cv.json_msg(self.status))

    def _reject_target(self, why: str) -> None:
        self._reject("target_pose", why, f"target rejected, not executed: {short(why)}")

    def _on_target(self, msg) -> None:
        if not self.accept("target pose"):
            return
        try:
            pose = cv.msg_to_pose(msg, frame_id=self.frame_id)
        except cv.ConversionError as e:
            return self._reject_target(str(e))
        if not cv.in_bounds(pose[:3], self.bounds):
            return self._reject_target(f"position {pose[:3].round(3).tolist()} is outside the "
                                       f"workspace {self.bounds}")
        if self.env.done:
            return self._reject_target("the episode is over: reset first (topic 'reset' or "
                                       "~/reset)")
        self.pending = (pose, self.now_ns())

    def _tick(self) -> None:
        now = self.now_ns()
        # wait 10 ms so a gripper/ignore command sent just before the target is applied to it
        if self.pending is not None and now - self.pending[1] > 10_000_000:
            pose, _ = self.pending
            self.pending = None
            self.execute(pose)
        elif self.republish > 0 and self.last_obs_msgs and \
                now - self._last_publish > self.republish * 1e9:
            self._send(self.last_obs_msgs)

    def execute(self, pose) -> None:
        action = list(pose) + [float(self.gripper_open), float(self.ignore_collisions)]
        sim = getattr(self.env, "sim", None)
        streaming = self.video_rate > 0 and hasattr(sim, "start_recording")
        if streaming:
            sim.start_recording(1.0 / self.video_rate, self._stream_frame)
        try:
            with self.decision():
                obs, _, terminated, truncated, info = self.env.step(action)
        finally:
            if streaming:
                sim.start_recording(None, None)
        self.status.update(step=self.status["step"] + 1, done=bool(terminated or truncated),
                           success=bool(info["success"]),
                           failure_reason=info["failure_reason"] or
                           ("step limit reached" if truncated else ""))
        self.get_logger().info(f"step {self.status['step']}: done={self.status['done']} "
                               f"success={self.status['success']} {info['failure_reason']}")
        self.publish_observation(obs)

    def _stream_frame(self) -> None:
        """One frame of the video camera on 'video' (image size) and 'video/display'."""
        ns, frame = self.now_ns(), f"{self.video_camera}_optical"
        rgb = self.env.render(self.image_size, self.video_camera)
        self.video_pub.publish(cv.image_to_msg(rgb, "rgb8", ns, frame))
        if self.display_size:
            rgb = self.env.render(self.display_size, self.video_camera)
            self.display_pub.publish(cv.image_to_msg(rgb, "rgb8", ns, frame))

    # ---------------------------------------------------------------- observations
    def publish_observation(self, obs) -> None:
        """Convert once, publish, keep the messages for re-publishing with the same stamp."""
        ns, msgs = self.now_ns(), []
        for cam in self.cameras:
            c, frame = obs.cameras[cam], f"{cam}_optical"
            h, w = c.rgb.shape[:2]
            msgs += [(T.camera_image(cam), cv.image_to_msg(c.rgb, "rgb8", ns, frame)),
                     (T.camera_depth(cam), cv.image_to_msg(c.depth, "32FC1", ns, frame)),
                     (T.camera_info(cam), cv.camera_info_msg(c.intrinsics, w, h, ns, frame)),
                     (T.camera_pose(cam), _pose_msg(cv.matrix_to_pose(c.extrinsics), ns,
                                                    self.frame_id))]
        names = cv.ARM_JOINTS + cv.FINGER_JOINTS
        zeros = [0.0, 0.0]
        msgs += [(T.JOINT_STATES, cv.joint_state_msg(
                     names, list(obs.joint_positions) + list(obs.gripper_joint_positions),
                     list(obs.joint_velocities) + zeros, list(obs.joint_forces) + zeros, ns)),
                 (T.GRIPPER_POSE, _pose_msg(obs.gripper_pose, ns, self.frame_id)),
                 (T.GRIPPER_STATE, Bool(data=bool(obs.gripper_open > 0.5)))]
        self._stream_frame()   # the keyframe is part of the video stream too
        self.status.update(stamp_ns=ns, gripper_open=bool(obs.gripper_open > 0.5))
        self.last_obs_msgs = msgs
        self._send(msgs)

    def _send(self, msgs) -> None:
        for topic, msg in msgs:
            self.pubs[topic].publish(msg)
        # GRIPPER_STATE has no header: the status (stamp_ns, gripper_open) ties it to a stamp
        self.status_pub.publish(cv.json_msg(self.status))
        self._last_publish = self.now_ns()


def _pose_msg(pose7, ns: int, frame: str):
    return cv.pose_to_msg(pose7[:3], pose7[3:7], ns, frame)


def main(args=None) -> None:
    node_main(SimNode, args)


if __name__ == "__main__":
    main()
