"""`mn bench ros`: latency of the ROS graph against the same computation in-process.

frame_to_pose_ms    an observation set published -> the policy node's target_pose for it
clip_to_label_ms    the last frame of a clip published -> the observer node's label for it
ros_overhead_ms_p50 frame_to_pose p50 minus the in-process PolicyRunner.act p50 (transport,
                    conversion, assembly)
observer_fps        frames per second the observer node takes in (recognizing every
                    `recognize_every` frames) when fed faster than it keeps up

The policy and observer nodes run as separate processes on a private ROS domain on loopback;
this process plays the simulator and the demonstrator. Without --checkpoint a tiny untrained
mn checkpoint is made (latency does not depend on training).

`mn bench camera` (run_camera): a camera as drivers publish it -- 640x480 rgb8 and 1280x720
jpeg (CompressedImage) at 30 Hz for 60 s each -- to a real observer node: frames received vs
sent and the observer's latency (frame stamp -> its recognition published), for the default
image QoS (reliable, keep last 5) and for best effort.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CAMS = ("front", "left_shoulder", "right_shoulder", "wrist")
NS = "bench"


def tiny_checkpoint(folder: Path, seed: int = 0) -> Path:
    """An untrained tiny mn checkpoint (recognizer, policy, alignment) in ``folder``."""
    import torch
    from mn_models.alignment import MirrorAlignment
    from mn_models.checkpoint import save_checkpoint
    from mn_models.policy.arp import ARPPolicy
    from mn_models.policy.config import make_policy_config
    from mn_models.recognizer.config import make_recognizer_config
    from mn_models.recognizer.model import Recognizer
    torch.manual_seed(seed)
    rec = Recognizer(make_recognizer_config("tiny"))
    pol = ARPPolicy(make_policy_config("tiny"))
    ali = MirrorAlignment(rec.config.embed_dim, pol.cfg.policy_dim)
    return save_checkpoint(
        folder, kind="mn", step=0, config={"mode": "mn", "recognizer": "tiny"},
        modules={"recognizer": rec, "policy": pol, "alignment": ali},
        model_configs={"recognizer": rec.config.to_dict(), "policy": pol.cfg.to_dict(),
                       "alignment": ali.config()},
        vocab={"instructions": ["open the bottom drawer", "turn left tap"],
               "tasks": ["open_drawer", "turn_tap"]})


def observation(hw: int = 128, seed: int = 0):
    """A synthetic 4-camera observation (what the sim publishes, at its image size)."""
    from mn_models.policy.synthetic import CAMERA_POSES, intrinsics, look_at
    from mn_sim.types import CameraObs, Observation
    rng = np.random.default_rng(seed)
    cams = {c: CameraObs(rng.integers(0, 256, (hw, hw, 3), dtype=np.uint8),
                         rng.uniform(0.6, 2.0, (hw, hw)).astype(np.float32), intrinsics(hw),
                         look_at(*CAMERA_POSES[c]), 0.01, 4.5) for c in CAMS}
    return Observation(np.zeros(7), np.zeros(7), np.zeros(7), 1.0,
                       np.array([0.3, 0, 1.1, 1.0, 0, 0, 0]), np.eye(4), np.full(2, 0.04),
                       np.zeros(0), cameras=cams)


def _pct(values, q) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else \
        float("nan")


class _Graph:
    """Policy + observer processes and this process's rclpy node."""

    def __init__(self, checkpoint: Path, log_dir: Path, every: int):
        from mn_ros.node_common import PrivateNode
        domain = 100 + (os.getpid() + random.randint(0, 100)) % 101
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_LOG_DIR=str(log_dir),
                   ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", FASTDDS_BUILTIN_TRANSPORTS="UDPv4",
                   PYTHONUNBUFFERED="1")
        os.environ.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
                          FASTDDS_BUILTIN_TRANSPORTS="UDPv4")
        common = ["--ros-args", "-r", f"__ns:=/{NS}", "-p", f"checkpoint:='{checkpoint}'"]
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", m, *common, *extra], env=env, stdin=subprocess.DEVNULL,
            stdout=open(log_dir / f"{m}.log", "w"), stderr=subprocess.STDOUT,
            start_new_session=True) for m, extra in (
                ("mn_ros.policy_node", ["-p", "max_steps:=100000"]),
                ("mn_ros.observer_node", ["-p", f"recognize_every:={every}", "-p",
                                          f"min_frames:={every}", "-p", "clip_gap_s:=0.5"]))]
        self.graph = PrivateNode("bench", domain, f"/{NS}")
        self.node, self.executor = self.graph.node, self.graph.executor

    def spin_until(self, predicate, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not predicate():
            left = end - time.monotonic()
            if left <= 0 or any(p.poll() is not None for p in self.procs):
                return False
            self.executor.spin_once(timeout_sec=min(0.05, left))   # wakes on data
        return True

    def close(self) -> None:
        import signal
        self.graph.close()
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def run(checkpoint: str | None = None, trials: int = 100, image_size: int = 128,
        log=print) -> dict:
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from std_msgs.msg import String

    from mn_ros import conversions as cv
    from mn_ros import topics as T
    from mn_models.runtime import PolicyRunner, RecognizerRunner
    from mn_ros.node_common import COMMAND_QOS, IMAGE_QOS, LATCHED_QOS, SENSOR_QOS

    tmp = Path(tempfile.mkdtemp(prefix="mn_bench_ros_"))
    ck = Path(checkpoint) if checkpoint else tiny_checkpoint(tmp / "ckpt")
    policy, recognizer = PolicyRunner(ck), RecognizerRunner(ck)
    every = recognizer.num_frames
    obs = observation(image_size)
    instruction = policy.instructions[0] if policy.instructions else "open the bottom drawer"
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (every, image_size, image_size, 3), dtype=np.uint8)

    # in-process reference
    policy.act(obs, instruction)
    recognizer.recognize(clip)
    t_act, t_rec = [], []
    for _ in range(min(trials, 30)):
        t = time.perf_counter()
        policy.act(obs, instruction)
        t_act.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        recognizer.recognize(clip)
        t_rec.append((time.perf_counter() - t) * 1e3)
    log(f"in-process: policy act p50 {_pct(t_act, 50):.1f} ms, recognize p50 "
        f"{_pct(t_rec, 50):.1f} ms")

    g = _Graph(ck, tmp, every)
    try:
        node = g.node
        pubs = {}
        for cam in CAMS:
            pubs[T.camera_image(cam)] = node.create_publisher(Image, T.camera_image(cam),
                                                              SENSOR_QOS)
            pubs[T.camera_depth(cam)] = node.create_publisher(Image, T.camera_depth(cam),
                                                              SENSOR_QOS)
            pubs[T.camera_info(cam)] = node.create_publisher(CameraInfo, T.camera_info(cam),
                                                             SENSOR_QOS)
            pubs[T.camera_pose(cam)] = node.create_publisher(PoseStamped, T.camera_pose(cam),
                                                             COMMAND_QOS)
        pubs[T.JOINT_STATES] = node.create_publisher(JointState, T.JOINT_STATES, COMMAND_QOS)
        pubs[T.GRIPPER_POSE] = node.create_publisher(PoseStamped, T.GRIPPER_POSE, COMMAND_QOS)
        pubs[T.TASK_STATUS] = node.create_publisher(String, T.TASK_STATUS, LATCHED_QOS)
        instr = node.create_publisher(String, T.INSTRUCTION, COMMAND_QOS)
        video = node.create_publisher(Image, T.VIDEO, IMAGE_QOS)   # as the sim's video
        targets: dict[int, float] = {}
        labels: list[float] = []
        node.create_subscription(PoseStamped, T.TARGET_POSE, lambda m: targets.setdefault(
            cv.stamp_to_ns(m.header.stamp), time.perf_counter()), COMMAND_QOS)
        node.create_subscription(String, T.RECOGNIZED,
                                 lambda m: labels.append(time.perf_counter()), COMMAND_QOS)
        states = {}
        for name in ("policy", "observer"):
            node.create_subscription(String, f"/{NS}/{name}/state",
                                     lambda m, n=name: states.__setitem__(n, m.data),
                                     LATCHED_QOS)
        if not g.spin_until(lambda: states.get("policy") == states.get("observer") == "active"
                            and instr.get_subscription_count() and
                            video.get_subscription_count(), 180):
            dead = [f"{p.args[2]} exited {p.returncode}" for p in g.procs if p.poll() is not None]
            raise RuntimeError(f"the nodes did not become active (state {states}; {dead}); "
                               f"logs in {tmp}")
        instr.publish(String(data=instruction))   # it may land after the first observation:
        # the policy then acts on that one when it arrives (warm-up trials absorb it)

        def publish_obs(stamp: int) -> None:
            for cam in CAMS:
                c, frame = obs.cameras[cam], f"{cam}_optical"
                pose = cv.matrix_to_pose(c.extrinsics)
                pubs[T.camera_image(cam)].publish(cv.image_to_msg(c.rgb, "rgb8", stamp, frame))
                pubs[T.camera_depth(cam)].publish(cv.image_to_msg(c.depth, "32FC1", stamp,
                                                                  frame))
                pubs[T.camera_info(cam)].publish(cv.camera_info_msg(
                    c.intrinsics, image_size, image_size, stamp, frame))
                pubs[T.camera_pose(cam)].publish(cv.pose_to_msg(pose[:3], pose[3:], stamp))
            pubs[T.JOINT_STATES].publish(cv.joint_state_msg(
                cv.ARM_JOINTS + cv.FINGER_JOINTS, np.zeros(9), np.zeros(9), np.zeros(9), stamp))
            pubs[T.GRIPPER_POSE].publish(cv.pose_to_msg(obs.gripper_pose[:3],
                                                        obs.gripper_pose[3:], stamp))
            pubs[T.TASK_STATUS].publish(cv.json_msg({"stamp_ns": stamp, "done": False,
                                                     "gripper_open": True}))

        pose_ms, lost = [], 0
        for i in range(trials + 3):   # 3 warm-up trials
            stamp = time.time_ns()
            t0 = time.perf_counter()
            publish_obs(stamp)
            if not g.spin_until(lambda: stamp in targets, 10):
                lost += 1
                continue
            if i >= 3:
                pose_ms.append((targets[stamp] - t0) * 1e3)
        log(f"frame -> pose: {len(pose_ms)} trials ({lost} lost)")

        label_ms, lost_clips = [], 0
        vstamp = time.time_ns()
        for i in range(trials + 3):
            vstamp += 2_000_000_000   # > clip_gap_s: every trial is a new clip
            n0 = len(labels)
            for k, frame in enumerate(clip):
                msg = cv.image_to_msg(frame, "rgb8", vstamp + k * 1_000_000, "front_optical")
                if k < every - 1:
                    video.publish(msg)
                    time.sleep(0.004)   # pace the clip: the observer's reader keeps 5 frames
                else:
                    t0 = time.perf_counter()
                    video.publish(msg)
            if not g.spin_until(lambda: len(labels) > n0, 10):
                lost_clips += 1
                continue
            if i >= 3:
                label_ms.append((labels[n0] - t0) * 1e3)
        log(f"clip -> label: {len(label_ms)} trials ({lost_clips} lost)")

        # throughput: frames of one long clip, published faster than the observer keeps up
        n0, sent, vstamp = len(labels), 0, vstamp + 2_000_000_000
        t_start = time.perf_counter()
        while time.perf_counter() - t_start < 3.0:
            video.publish(cv.image_to_msg(clip[sent % every], "rgb8", vstamp + sent * 1_000_000))
            sent += 1
            g.executor.spin_once(timeout_sec=0.0005)
        g.spin_until(lambda: False, 0.5)
        fps = (len(labels) - n0) * every / (time.perf_counter() - t_start)
    finally:
        g.close()
    res = {
        "frame_to_pose_ms_p50": _pct(pose_ms, 50), "frame_to_pose_ms_p95": _pct(pose_ms, 95),
        "clip_to_label_ms_p50": _pct(label_ms, 50), "clip_to_label_ms_p95": _pct(label_ms, 95),
        "ros_overhead_ms_p50": _pct(pose_ms, 50) - _pct(t_act, 50),
        "observer_fps": fps,
        "inprocess_act_ms_p50": _pct(t_act, 50), "inprocess_recognize_ms_p50": _pct(t_rec, 50),
        "trials": trials, "lost_trials": lost + lost_clips, "image_size": image_size,
    }
    return res


JSON_KEYS = ("frame_to_pose_ms_p50", "frame_to_pose_ms_p95", "clip_to_label_ms_p50",
             "clip_to_label_ms_p95", "ros_overhead_ms_p50", "observer_fps")


def report(checkpoint: str | None, trials: int, as_json: bool) -> int:
    """What `mn bench ros` prints: one JSON object (JSON_KEYS) or a few lines."""
    import json
    res = run(checkpoint, trials, log=lambda s: print(s, file=sys.stderr, flush=True))
    if as_json:
        print(json.dumps({k: round(res[k], 3) for k in JSON_KEYS}))
        return 0
    print(f"policy + observer nodes on loopback: {res['trials']} trials, {res['image_size']} px "
          f"cameras, {res['lost_trials']} lost")
    print(f"frame -> target pose : p50 {res['frame_to_pose_ms_p50']:7.1f} ms, p95 "
          f"{res['frame_to_pose_ms_p95']:7.1f} ms (in-process act p50 "
          f"{res['inprocess_act_ms_p50']:.1f} ms)")
    print(f"clip -> label        : p50 {res['clip_to_label_ms_p50']:7.1f} ms, p95 "
          f"{res['clip_to_label_ms_p95']:7.1f} ms (in-process recognize p50 "
          f"{res['inprocess_recognize_ms_p50']:.1f} ms)")
    print(f"ROS overhead (p50)   : {res['ros_overhead_ms_p50']:7.1f} ms")
    print(f"observer throughput  : {res['observer_fps']:7.1f} frames/s")
    return 0


# ------------------------------------------------------------------ mn bench camera
CAMERA_STREAMS = (("rgb8", 640, 480), ("jpeg", 1280, 720))


def camera_frames(kind: str, width: int, height: int, n: int = 30, seed: int = 0) -> list:
    """n distinct camera-like frames (smooth shading, a few objects, sensor noise) ready to
    send: raw (H, W, 3) uint8 arrays, or jpeg bytes (quality 90) for kind "jpeg" -- a driver
    encodes in its own process, so encoding is not part of what is measured."""
    from mn_ros import conversions as cv
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([90 + 60 * xx / width, 80 + 50 * yy / height,
                     70 + 30 * (xx + yy) / (width + height)], -1)
    out = []
    for i in range(n):
        img = base.copy()
        for _ in range(4):   # boxes that move from frame to frame
            x0 = int((rng.random() * 0.8 + 0.02 * i) % 0.8 * width)
            y0 = int(rng.random() * 0.8 * height)
            img[y0:y0 + height // 6, x0:x0 + width // 8] = rng.integers(0, 256, 3)
        img += rng.normal(0, 3, img.shape)
        rgb = np.clip(img, 0, 255).astype(np.uint8)
        out.append(cv.encode_compressed(rgb, "jpeg", 90) if kind == "jpeg" else rgb)
    return out


def _start_observer(checkpoint: Path, log_dir: Path, domain: int, qos: str, env: dict):
    return subprocess.Popen(
        [sys.executable, "-m", "mn_ros.observer_node", "--ros-args", "-r", f"__ns:=/{NS}",
         "-p", f"checkpoint:='{checkpoint}'", "-p", "recognize_every:=8", "-p", "min_frames:=8",
         "-p", f"image_qos:={qos}"],
        env=env, stdin=subprocess.DEVNULL, stdout=open(log_dir / f"observer_{qos}.log", "w"),
        stderr=subprocess.STDOUT, start_new_session=True)


def run_camera(checkpoint: str | None = None, duration: float = 60.0, rate: float = 30.0,
               qos_modes: tuple[str, ...] = ("reliable", "best_effort"), log=print) -> dict:
    """Camera streams (640x480 rgb8, 1280x720 jpeg) at ``rate`` Hz for ``duration`` s each to
    a real observer node (a separate process on loopback, UDPv4 as mn's environment sets):
    frames it received vs frames sent, and its latency (frame stamp -> recognition published
    by the node, received here; p50/p95). Once per QoS mode of the image subscription."""
    import signal

    from sensor_msgs.msg import CompressedImage, Image
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from mn_ros import conversions as cv
    from mn_ros import topics as T
    from mn_ros.node_common import COMMAND_QOS, IMAGE_QOS, LATCHED_QOS, SENSOR_QOS, PrivateNode

    tmp = Path(tempfile.mkdtemp(prefix="mn_bench_camera_"))
    ck = Path(checkpoint) if checkpoint else tiny_checkpoint(tmp / "ckpt")
    frames = {k: camera_frames(k, w, h) for k, w, h in CAMERA_STREAMS}
    sizes = {k: (len(f[0]) if k == "jpeg" else f[0].nbytes) for k, f in frames.items()}
    domain = 100 + (os.getpid() + random.randint(0, 100)) % 101
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_LOG_DIR=str(tmp),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
    env.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4")
    os.environ.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
                      FASTDDS_BUILTIN_TRANSPORTS=env["FASTDDS_BUILTIN_TRANSPORTS"])
    results: dict = {"rate_hz": rate, "duration_s": duration, "streams": {},
                     "transport": env["FASTDDS_BUILTIN_TRANSPORTS"],
                     "frame_bytes": sizes, "checkpoint": str(ck)}
    for mode in qos_modes:
        proc = _start_observer(ck, tmp, domain, mode, env)
        graph = PrivateNode("bench_camera", domain, f"/{NS}")
        node, ex = graph.node, graph.executor
        try:
            qos = IMAGE_QOS if mode == "reliable" else SENSOR_QOS
            pubs = {"rgb8": node.create_publisher(Image, T.VIDEO, qos),
                    "jpeg": node.create_publisher(CompressedImage, f"{T.VIDEO}/compressed", qos)}
            scores: list[tuple[int, int]] = []   # (received ns, stamp ns)
            node.create_subscription(String, T.SCORES, lambda m: scores.append(
                (time.time_ns(), int(json.loads(m.data)["stamp_ns"]))), COMMAND_QOS)
            state: list[str] = []
            node.create_subscription(String, f"/{NS}/observer/state",
                                     lambda m: state.append(m.data), LATCHED_QOS)
            reset = node.create_client(Trigger, "observer/reset")

            def spin_until(pred, timeout):
                end = time.monotonic() + timeout
                while not pred() and time.monotonic() < end and proc.poll() is None:
                    ex.spin_once(timeout_sec=0.02)
                return pred()

            if not spin_until(lambda: state and state[-1] == "active" and reset.service_is_ready()
                              and all(p.get_subscription_count() for p in pubs.values()), 180):
                raise RuntimeError(f"the observer did not become active ({state}); logs in {tmp}")

            def call_reset() -> dict:
                fut = reset.call_async(Trigger.Request())
                spin_until(fut.done, 30)
                return json.loads(fut.result().message)

            for kind, w, h in CAMERA_STREAMS:
                call_reset()
                n0, sent = len(scores), 0
                total = int(round(duration * rate))
                t0 = time.monotonic()
                for i in range(total):
                    due = t0 + i / rate
                    while time.monotonic() < due:
                        ex.spin_once(timeout_sec=max(0.0, min(0.005, due - time.monotonic())))
                    stamp = time.time_ns()
                    f = frames[kind][i % len(frames[kind])]
                    if kind == "jpeg":
                        msg = CompressedImage(format="jpeg", data=f)
                        msg.header.stamp = cv.ns_to_stamp(stamp)
                    else:
                        msg = cv.image_to_msg(f, "rgb8", stamp, "camera_optical")
                    pubs[kind].publish(msg)
                    sent += 1
                send_s = time.monotonic() - t0
                spin_until(lambda: False, 3.0)   # let the last frames arrive
                got = call_reset()
                lat = [(r - s) / 1e6 for r, s in scores[n0:]]
                key = f"{kind}_{w}x{h}"
                res = {"sent": sent, "received": got["frames_received"],
                       "received_fraction": got["frames_received"] / sent,
                       "send_rate_hz": sent / send_s, "recognitions": got["recognitions"],
                       "latency_ms_p50": _pct(lat, 50), "latency_ms_p95": _pct(lat, 95),
                       "frame_bytes": sizes[kind]}
                results["streams"].setdefault(mode, {})[key] = res
                log(f"{mode:11s} {key:15s} sent {sent} received {res['received']} "
                    f"({100 * res['received_fraction']:.1f} %), latency p50 "
                    f"{res['latency_ms_p50']:.1f} ms p95 {res['latency_ms_p95']:.1f} ms")
        finally:
            graph.close()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    return results


def report_camera(checkpoint: str | None, duration: float, rate: float, qos: str,
                  as_json: bool, out: str = "") -> int:
    """What `mn bench camera` prints (and writes to ``out`` as JSON)."""
    modes = ("reliable", "best_effort") if qos == "both" else (qos,)
    res = run_camera(checkpoint, duration, rate, modes,
                     log=lambda s: print(s, file=sys.stderr, flush=True))
    if out:
        from mn_models.eval.report import atomic_write
        atomic_write(out, json.dumps(res, indent=1) + "\n")
    if as_json:
        print(json.dumps(res))
        return 0
    print(f"observer node on loopback ({res['transport']}), {rate:g} Hz for {duration:g} s per "
          "stream")
    for mode, streams in res["streams"].items():
        for key, r in streams.items():
            print(f"  {mode:11s} {key:15s} {r['frame_bytes'] / 1e6:6.2f} MB/frame: received "
                  f"{r['received']}/{r['sent']} ({100 * r['received_fraction']:.1f} %), "
                  f"latency p50 {r['latency_ms_p50']:.1f} ms, p95 {r['latency_ms_p95']:.1f} ms")
    return 0
