"""Helpers of the ROS tests: private domains, node processes, an in-test rclpy client, tiny
real checkpoints. (A module with its own name: `conftest` is ambiguous across test folders.)

Every graph gets its own ROS_DOMAIN_ID (random in 100..200, offset by the pid and a counter),
discovery stays on loopback (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, UDPv4 only), and waits
are for a condition with a timeout, never a fixed sleep.
"""
from __future__ import annotations

import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
INSTRUCTIONS = ["open the bottom drawer", "turn left tap"]   # open_drawer / turn_tap, var. 0
_domains = itertools.count()
_base = random.Random(os.getpid() ^ int(time.time())).randint(0, 100)


def new_domain_id() -> int:
    """A ROS domain in 100..200 that differs per test graph of this process and per pid."""
    return 100 + (_base + os.getpid() + 37 * next(_domains)) % 101


def ros_env(domain: int, log_dir: Path) -> dict:
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               FASTDDS_BUILTIN_TRANSPORTS="UDPv4", ROS_LOG_DIR=str(log_dir),
               PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0", MUJOCO_GL="egl",
               PYOPENGL_PLATFORM="egl", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("ROS_LOCALHOST_ONLY", None)
    return env


# ------------------------------------------------------------------------------ checkpoints
def train_tiny_checkpoints(out: Path) -> dict[str, Path]:
    """Tiny recognizer + policy + alignment trained 2 steps on synthetic data, saved as real
    mn / au / ee checkpoint folders (the trainer's format), plus a truncated copy."""
    import torch
    from mn_models.alignment import MirrorAlignment
    from mn_models.checkpoint import save_checkpoint
    from mn_models.policy.arp import ARPPolicy
    from mn_models.policy.config import make_policy_config
    from mn_models.policy.synthetic import make_synthetic_batch
    from mn_models.recognizer.config import make_recognizer_config
    from mn_models.recognizer.model import Recognizer

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rec = Recognizer(make_recognizer_config("tiny"))
    pol = ARPPolicy(make_policy_config("tiny"))
    ali = MirrorAlignment(rec.config.embed_dim, pol.cfg.policy_dim, dim_z=64)
    opt = torch.optim.AdamW([*rec.parameters(), *pol.parameters(), *ali.parameters()], lr=1e-3)
    rng = np.random.default_rng(0)
    for step in range(2):
        batch = make_synthetic_batch(batch_size=2, seed=step, hw=32)
        clips = torch.from_numpy(rng.integers(0, 256, (2, 8, 32, 32, 3), dtype=np.uint8))
        u = rec.embed_video(clips)
        l_au, _ = rec.loss(u, rec.embed_text(INSTRUCTIONS), torch.arange(2))
        l_ee, _, pol_out = pol(batch)
        l_al, _ = ali(u, pol_out["e"], torch.arange(2))
        opt.zero_grad()
        (l_au + l_ee + l_al).backward()
        opt.step()
    torch.set_num_threads(threads)
    vocab = {"instructions": INSTRUCTIONS, "tasks": ["open_drawer", "turn_tap"]}
    configs = {"recognizer": rec.config.to_dict(), "policy": pol.cfg.to_dict(),
               "alignment": ali.config()}
    cks = {}
    for kind, names in (("mn", ("recognizer", "policy", "alignment")), ("au", ("recognizer",)),
                        ("ee", ("policy",))):
        mods = {"recognizer": rec, "policy": pol, "alignment": ali}
        cks[kind] = save_checkpoint(
            out / kind, kind=kind, step=2, config={"mode": kind, "recognizer": "tiny"},
            modules={n: mods[n] for n in names}, model_configs={n: configs[n] for n in names},
            vocab=vocab)
    bad = out / "truncated"
    shutil.copytree(cks["mn"], bad)
    w = bad / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    cks["truncated"] = bad
    return cks


# ------------------------------------------------------------------------------ processes
def yaml_value(v) -> str:
    """A parameter value as `-p name:=<yaml>` wants it."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yaml_value(x) for x in v) + "]"
    return str(v)


class NodeProcess:
    """One node as `python -m <module> --ros-args ...`, its output in a log file."""

    def __init__(self, module: str, ns: str, env: dict, log: Path, params: dict | None = None,
                 params_file: Path | None = None):
        cmd = [sys.executable, "-m", module, "--ros-args", "-r", f"__ns:=/{ns}"]
        if params_file is not None:
            cmd += ["--params-file", str(params_file)]
        for k, v in (params or {}).items():
            cmd += ["-p", f"{k}:={yaml_value(v)}"]
        self.log_path = log
        self._fh = open(log, "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 60.0) -> re.Match:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.log(), re.S)
            if m:
                return m
            if self.proc.poll() is not None:
                m = re.search(pattern, self.log(), re.S)
                if m:
                    return m
                raise AssertionError(f"exited ({self.proc.returncode}) without logging "
                                     f"{pattern!r}:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in {timeout} s:\n{self.log()[-3000:]}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGINT, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._fh.close()
        return self.proc.returncode


class Client:
    """An rclpy node in the test process, on its own context and domain."""

    def __init__(self, domain: int, ns: str):
        for k, v in (("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
                     ("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4")):
            os.environ[k] = v
        if "ROS_LOG_DIR" not in os.environ:   # not ~/.ros/log
            import tempfile
            os.environ["ROS_LOG_DIR"] = tempfile.mkdtemp(prefix="mn_test_roslog_")
        from mn_ros.node_common import PrivateNode
        self.graph = PrivateNode("test_client", domain, f"/{ns}")
        self.node, self.executor = self.graph.node, self.graph.executor
        self.inbox: dict[str, list] = {}

    def listen(self, cls, topic: str, qos, key: str | None = None):
        box = self.inbox.setdefault(key or topic, [])
        return self.node.create_subscription(cls, topic, box.append, qos)

    def spin_until(self, predicate, timeout: float = 20.0, what: str = "condition") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            self.executor.spin_once(timeout_sec=0.05)
        if not predicate():
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def wait_subscribers(self, pub, n: int = 1, timeout: float = 20.0) -> None:
        self.spin_until(lambda: pub.get_subscription_count() >= n, timeout,
                        f"{n} subscriber(s) of {pub.topic_name}")

    def publish_until(self, publish, predicate, timeout: float = 30.0,
                      what: str = "condition", every: float = 0.5) -> None:
        """Call ``publish()`` again every ``every`` s until ``predicate()``. A publisher that
        counts a subscriber may still be unknown to it (DDS discovery is not symmetric), so
        one message sent right after ``wait_subscribers`` can be lost, even when reliable."""
        next_send = [0.0]

        def sent_and_seen() -> bool:
            if predicate():
                return True
            if time.monotonic() >= next_send[0]:
                publish()
                next_send[0] = time.monotonic() + every
            return False
        self.spin_until(sent_and_seen, timeout, what)

    def wait_publishers(self, sub, n: int = 1, timeout: float = 20.0) -> None:
        self.spin_until(lambda: sub.get_publisher_count() >= n, timeout,
                        f"{n} publisher(s) of {sub.topic_name}")

    def call(self, srv_type, name: str, timeout: float = 30.0, request=None):
        cli = self.node.create_client(srv_type, name)
        self.spin_until(cli.service_is_ready, timeout, f"service {name}")
        future = cli.call_async(srv_type.Request() if request is None else request)
        self.spin_until(future.done, timeout, f"reply of {name}")
        self.node.destroy_client(cli)
        return future.result()

    def transition(self, node: str, label: str, timeout: float = 120.0) -> bool:
        """A standard lifecycle transition ('configure', 'activate', 'deactivate', 'cleanup',
        'shutdown') of ``node`` (its full name) over ~/change_state; True on success."""
        from lifecycle_msgs.srv import ChangeState
        req = ChangeState.Request()
        req.transition.label = label
        return self.call(ChangeState, f"{node}/change_state", timeout, req).success

    def lifecycle_state(self, node: str, timeout: float = 30.0) -> str:
        """The node's lifecycle state label over ~/get_state."""
        from lifecycle_msgs.srv import GetState
        return self.call(GetState, f"{node}/get_state", timeout).current_state.label

    def close(self) -> None:
        self.graph.close()
