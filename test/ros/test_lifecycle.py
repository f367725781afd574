"""Managed (lifecycle) nodes driven from this process over the standard lifecycle services
(~/change_state, ~/get_state), as `ros2 lifecycle set` or launch_ros would: what each node
publishes in each state (nothing unless active), that configure loads and cleanup frees the
simulator / checkpoint (reported on /diagnostics), and that shutdown ends the process."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from ros_helpers import Client, NodeProcess, new_domain_id, ros_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def diag(c, fqn: str) -> dict:
    """Values of the newest /diagnostics status of node ``fqn`` ({} if none yet)."""
    for msg in reversed(c.inbox.get("diagnostics", [])):
        for s in msg.status:
            if s.name == fqn:
                return {"level": int.from_bytes(s.level, "little") if isinstance(s.level, bytes)
                        else int(s.level), "message": s.message,
                        **{kv.key: kv.value for kv in s.values}}
    return {}


def quiet_for(c, keys, seconds: float) -> list:
    """Spin ``seconds``; return what arrived on the inbox ``keys`` meanwhile."""
    for k in keys:
        c.inbox[k].clear()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        c.executor.spin_once(timeout_sec=0.05)
    return [m for k in keys for m in c.inbox[k]]


def listen_diagnostics(c) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    from mn_ros.node_common import DIAGNOSTICS_QOS
    c.listen(DiagnosticArray, "/diagnostics", DIAGNOSTICS_QOS, "diagnostics")


def test_sim_node_lifecycle_over_the_standard_services(tmp_path):
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    from mn_ros import conversions as cv
    from mn_ros import topics as T
    from mn_ros.node_common import COMMAND_QOS, LATCHED_QOS
    domain, ns = new_domain_id(), "lc"
    fqn = f"/{ns}/sim"
    node = NodeProcess("mn_ros.sim_node", ns, ros_env(domain, tmp_path / "roslog"),
                       tmp_path / "sim.log", {"autostart": False, "cameras": ["front", "wrist"],
                                              "image_size": 64, "republish_period_s": 0.2,
                                              "video_rate_hz": 0.0})
    c = Client(domain, ns)
    try:
        listen_diagnostics(c)
        c.listen(String, T.TASK_STATUS, LATCHED_QOS, "status")
        c.listen(JointState, T.JOINT_STATES, COMMAND_QOS, "joints")
        target = c.node.create_publisher(PoseStamped, T.TARGET_POSE, COMMAND_QOS)
        out = ("status", "joints")
        assert c.lifecycle_state(fqn, 60) == "unconfigured"
        c.spin_until(lambda: diag(c, fqn).get("state") == "unconfigured", 10, "diagnostics")
        assert diag(c, fqn)["loaded"] == "false" and diag(c, fqn)["level"] == 1   # WARN
        assert not quiet_for(c, out, 1.0), "published while unconfigured"

        assert c.transition(fqn, "configure")
        assert c.lifecycle_state(fqn) == "inactive"
        c.spin_until(lambda: diag(c, fqn).get("state") == "inactive", 10, "inactive diag")
        assert diag(c, fqn)["loaded"] == "true"
        node.wait_log(r"episode 0: open_drawer", 5)   # the simulator exists and was reset
        c.wait_subscribers(target)
        good = cv.pose_to_msg([0.3, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0])
        c.publish_until(lambda: target.publish(good),
                        lambda: "dropping target pose: not active" in node.log(), 20,
                        "the inactive node to drop the target")
        assert not quiet_for(c, out, 1.5), "published while inactive (republish is 0.2 s)"

        assert c.transition(fqn, "activate")
        c.spin_until(lambda: c.inbox["status"] and c.inbox["joints"], 20, "observation")
        assert json.loads(c.inbox["status"][-1].data)["episode"] == 0
        c.spin_until(lambda: diag(c, fqn).get("level") == 0, 10, "OK when active")

        assert c.transition(fqn, "deactivate")
        assert c.lifecycle_state(fqn) == "inactive"
        assert not quiet_for(c, out, 1.5), "published after deactivation"

        assert c.transition(fqn, "cleanup")
        assert c.lifecycle_state(fqn) == "unconfigured"
        c.spin_until(lambda: diag(c, fqn).get("state") == "unconfigured" and
                     diag(c, fqn).get("loaded") == "false", 10, "freed")
        assert not c.transition(fqn, "activate"), "activate from unconfigured is refused"

        assert c.transition(fqn, "configure") and c.transition(fqn, "activate")
        c.spin_until(lambda: any(json.loads(m.data)["episode"] == 0 for m in
                                 quiet_for(c, ["status"], 1.0)), 20, "active again")
        assert c.transition(fqn, "shutdown")
        node.proc.wait(30)
        assert node.proc.returncode == 0, node.log()[-2000:]
        assert "Traceback" not in node.log()
    finally:
        c.close()
        node.stop()


def test_model_nodes_load_on_configure_serve_only_when_active_and_free_on_cleanup(
        tiny_checkpoints, tmp_path):
    """The observer (a checkpoint) and the mirror: recognitions and similarities only while
    active; cleanup frees the model (diagnostics: loaded false), configure loads it again."""
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32, Float32MultiArray, String

    from mn_ros import conversions as cv
    from mn_ros import topics as T
    from mn_ros.node_common import COMMAND_QOS, IMAGE_QOS
    domain, ns = new_domain_id(), "lm"
    env = ros_env(domain, tmp_path / "roslog")
    observer = NodeProcess("mn_ros.observer_node", ns, env, tmp_path / "observer.log",
                           {"autostart": False, "checkpoint": str(tiny_checkpoints["mn"]),
                            "recognize_every": 4})
    mirror = NodeProcess("mn_ros.mirror_node", ns, env, tmp_path / "mirror.log",
                         {"autostart": False})
    c = Client(domain, ns)
    obs, mir = f"/{ns}/observer", f"/{ns}/mirror"
    try:
        listen_diagnostics(c)
        c.listen(String, T.RECOGNIZED, COMMAND_QOS, "label")
        c.listen(Float32, T.SIMILARITY, COMMAND_QOS, "similarity")
        video = c.node.create_publisher(Image, T.VIDEO, IMAGE_QOS)
        emb = c.node.create_publisher(Float32MultiArray, T.EMBEDDING, COMMAND_QOS)
        rng = np.random.default_rng(0)
        t = [time.time_ns()]

        def show(n=12):   # a clip at 20 Hz stamps
            for _ in range(n):
                t[0] += 50_000_000
                frame = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                video.publish(cv.image_to_msg(frame, "rgb8", t[0]))
                c.executor.spin_once(timeout_sec=0.01)

        def pair():
            z = np.eye(64, dtype=np.float32)[0]
            emb.publish(cv.embedding_to_msg(z, "z_e", "/test/policy"))
            emb.publish(cv.embedding_to_msg(z, "z_u", "/test/observer"))

        for fqn in (obs, mir):
            assert c.transition(fqn, "configure", 180), fqn
        c.spin_until(lambda: diag(c, obs).get("loaded") == "true", 10, "observer loaded")
        c.wait_subscribers(video)
        c.wait_subscribers(emb, 1)   # the mirror
        c.publish_until(lambda: (show(), pair()),
                        lambda: "dropping frame on video: not active" in observer.log(), 20,
                        "the inactive observer to drop frames")
        assert not quiet_for(c, ["label", "similarity"], 1.5), "served while inactive"

        for fqn in (obs, mir):
            assert c.transition(fqn, "activate"), fqn

        def served():
            show(4)
            pair()
            return bool(c.inbox["label"]) and bool(c.inbox["similarity"])
        c.spin_until(served, 30, "a recognition and a similarity once active")
        c.spin_until(lambda: int(diag(c, obs).get("decisions") or 0) > 0, 10, "decisions")
        assert float(diag(c, obs)["decision_latency_ms_p50"]) > 0

        for fqn in (obs, mir):
            assert c.transition(fqn, "deactivate"), fqn
        show()
        pair()
        assert not quiet_for(c, ["label", "similarity"], 1.5), "served after deactivation"

        assert c.transition(obs, "cleanup")
        c.spin_until(lambda: diag(c, obs).get("loaded") == "false" and
                     diag(c, obs).get("state") == "unconfigured", 10, "model freed")
        assert c.transition(obs, "configure", 180) and c.transition(obs, "activate")
        assert observer.log().count("loaded mn checkpoint") == 2, "loaded again on configure"
        c.inbox["label"].clear()
        c.spin_until(lambda: show(4) or bool(c.inbox["label"]), 30, "served again")
        for fqn, node in ((obs, observer), (mir, mirror)):
            assert c.transition(fqn, "shutdown")
            assert node.proc.wait(30) == 0, node.log()[-2000:]
    finally:
        c.close()
        observer.stop()
        mirror.stop()
