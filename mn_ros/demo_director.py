"""The ROS part of `mn demo`: the mirror profile comes up, a held-out demonstration is played to
the observer, the policy is given what the observer recognized, and the run is watched.

The graph is started exactly as `mn bringup mirror checkpoint:=... task:=... variation:=...`
starts it (mn_ros/graph.py commands, mn_ros/bringup.py Supervisor: one process per node, the
config/ros parameter files), on its own ROS_DOMAIN_ID; the player is `mn play`'s node with
config/ros/player.yaml. A director node in this process (its own rclpy context) calls the
observer's ~/reset, publishes ``reset`` and ``instruction`` and listens to the rest.

    result = run_graph(GraphSettings(checkpoint, shown, exec_seed=123, domain_id=42,
                                     log_path=Path("runs/demo/graph.log")))
"""
from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mn_ros import topics as T
from mn_ros.demo_story import HeldOut, say

# node output lines echoed to the terminal (everything goes to the graph log)
ECHO = re.compile(r"\[graph\] (started|stopped|sending|.*exited)|refusing to start|"
                  r"Traceback|\] \[(ERROR|FATAL)\] ")


class GraphError(RuntimeError):
    """The graph could not run the story; the message says why (see the graph log)."""


class LogTee:
    """A text stream for Supervisor output: every line into a log file, some echoed."""

    def __init__(self, path: Path, echo: IO = sys.stderr, pattern: re.Pattern = ECHO):
        self.path, self.echo, self.pattern = Path(path), echo, pattern
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a", buffering=1)

    def write(self, text: str) -> int:
        self.fh.write(text)
        for line in text.splitlines():
            if self.pattern.search(line):
                self.echo.write(f"  {line}\n")
        return len(text)

    def flush(self) -> None:
        self.fh.flush()
        self.echo.flush()

    def tail(self, n: int = 40) -> str:
        self.fh.flush()
        return "\n".join(self.path.read_text(errors="replace").splitlines()[-n:])

    def close(self) -> None:
        self.fh.close()


@dataclass
class GraphSettings:
    """Args:
        checkpoint: mn checkpoint folder for the policy and the observer.
        shown: the held-out episode the player shows.
        exec_seed: scene seed of the policy's episode (same task and variation as shown).
        domain_id: ROS_DOMAIN_ID of this graph (nodes and director).
        log_path: where all node output goes.
        namespace: ROS namespace of every node.
        start_timeout: seconds for all nodes to become active.
        idle_timeout: seconds without progress (a frame, a step) before giving up.
        threshold: the mirror node's match threshold (launch argument).
        max_steps: the sim's step limit, for the progress lines (default: config/ros/sim.yaml's).
    """
    checkpoint: Path
    shown: HeldOut
    exec_seed: int
    domain_id: int
    log_path: Path
    namespace: str = T.DEFAULT_NAMESPACE
    start_timeout: float = 240.0
    idle_timeout: float = 60.0
    threshold: float = 0.5
    max_steps: int = 0


@dataclass
class GraphResult:
    recognitions: list = field(default_factory=list)     # observer/scores while the demo played
    exec_recognitions: list = field(default_factory=list)  # ... while the robot acted
    z_u: list = field(default_factory=list)              # {"z", "phase"}
    z_e: list = field(default_factory=list)              # {"z", "phase", "step"}
    reports: list = field(default_factory=list)          # mirror: {"similarity", "match"}
    status: dict = field(default_factory=dict)           # final task_status of the episode
    frames: list = field(default_factory=list)           # execution video (H, W, 3) uint8
    video_fps: float = 20.0                              # the sim's video_rate_hz
    targets: int = 0
    instruction: str = ""                                # what the policy was given
    exit_codes: dict = field(default_factory=dict)
    pids: dict = field(default_factory=dict)
    stray: list = field(default_factory=list)            # node pids alive after the stop
    seconds: dict = field(default_factory=dict)


class Director:
    """An rclpy node in this process on the graph's domain: commands and listening."""

    def __init__(self, domain: int, namespace: str):
        from sensor_msgs.msg import Image
        from std_msgs.msg import Bool, Float32, Float32MultiArray, String

        from mn_ros.node_common import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS, PrivateNode
        self.graph = PrivateNode("demo_director", domain, f"/{namespace}")
        self.node, self.executor = self.graph.node, self.graph.executor
        self.phase = "startup"
        self.result = GraphResult()
        self.statuses: list[dict] = []
        self.step = 0
        n = self.node
        self.pub_reset = n.create_publisher(String, T.RESET, COMMAND_QOS)
        self.pub_instruction = n.create_publisher(String, T.INSTRUCTION, COMMAND_QOS)
        self.subs = {
            "scores": n.create_subscription(String, T.SCORES, self._on_scores, COMMAND_QOS),
            "embedding": n.create_subscription(Float32MultiArray, T.EMBEDDING,
                                               self._on_embedding, COMMAND_QOS),
            "similarity": n.create_subscription(Float32, T.SIMILARITY, self._on_similarity,
                                                COMMAND_QOS),
            "match": n.create_subscription(Bool, T.MATCH, self._on_match, COMMAND_QOS),
            "status": n.create_subscription(String, T.TASK_STATUS, self._on_status,
                                            LATCHED_QOS),
        }
        self._matches: list[bool] = []
        self._sims: list[float] = []
        self._image_cls, self._sensor_qos, self._video_topic = Image, SENSOR_QOS, T.VIDEO_DISPLAY
        self.video_sub = None

    # ---------------------------------------------------------------- callbacks
    def _on_scores(self, msg) -> None:
        from mn_ros import conversions as cv
        try:
            d = cv.msg_to_json(msg, ("instruction", "top_k"))
        except cv.ConversionError:
            return
        (self.result.recognitions if self.phase == "demo"
         else self.result.exec_recognitions).append(d)

    def _on_embedding(self, msg) -> None:
        from mn_ros import conversions as cv
        try:
            kind, _, z = cv.msg_to_embedding(msg)
        except cv.ConversionError:
            return
        if kind == "z_u" and self.phase in ("demo", "execution"):
            self.result.z_u.append({"z": z.copy(), "phase": self.phase})
        elif kind == "z_e":
            self.result.z_e.append({"z": z.copy(), "phase": self.phase,
                                    "step": len(self.result.z_e) + 1})

    def _on_similarity(self, msg) -> None:
        self._sims.append(float(msg.data))

    def _on_match(self, msg) -> None:
        self._matches.append(bool(msg.data))

    def _on_status(self, msg) -> None:
        from mn_ros import conversions as cv
        try:
            self.statuses.append(cv.msg_to_json(msg, ("episode", "step", "done")))
        except cv.ConversionError:
            pass

    def _on_video(self, msg) -> None:
        from mn_ros import conversions as cv
        if self.phase != "execution":
            return
        try:
            self.result.frames.append(cv.msg_to_image(msg, ("rgb8",), copy=True))
        except cv.ConversionError:
            pass

    # ---------------------------------------------------------------- helpers
    @property
    def reports(self) -> list[dict]:
        return [{"similarity": s, "match": m} for s, m in zip(self._sims, self._matches)]

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.02, max(0.0, end - time.monotonic())))

    def spin_until(self, predicate, timeout: float, what: str, check=None) -> None:
        """Spin until ``predicate()``; ``check()`` may raise (e.g. a node died)."""
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise GraphError(f"timed out after {timeout:.0f} s waiting for {what}")
            if check is not None:
                check()
            self.executor.spin_once(timeout_sec=0.02)

    def watch_video(self) -> None:
        if self.video_sub is None:
            self.video_sub = self.node.create_subscription(
                self._image_cls, self._video_topic, self._on_video, self._sensor_qos)

    def call_trigger(self, service: str, timeout: float = 20.0, check=None) -> str:
        from std_srvs.srv import Trigger
        cli = self.node.create_client(Trigger, service)
        self.spin_until(cli.service_is_ready, timeout, f"service {service}", check)
        future = cli.call_async(Trigger.Request())
        self.spin_until(future.done, timeout, f"the reply of {service}", check)
        self.node.destroy_client(cli)
        return future.result().message

    def close(self) -> None:
        self.graph.close()


# ------------------------------------------------------------------------------ the run
def graph_env(domain: int, ros_log_dir: Path) -> dict:
    """The nodes' environment: `mn bringup`'s (child_env) on this graph's domain."""
    from mn_ros.bringup import child_env
    env = child_env()
    env["ROS_DOMAIN_ID"] = str(domain)
    env.setdefault("ROS_LOG_DIR", str(ros_log_dir))
    env.pop("ROS_LOCALHOST_ONLY", None)
    return env


def graph_commands(s: GraphSettings) -> tuple[dict, list[str]]:
    """The mirror profile's commands (as `mn bringup mirror`) and the player's (as `mn play`)."""
    from mn_ros import graph
    profile = graph.get_profile("mirror")
    values = graph.resolve(profile, {"namespace": s.namespace, "checkpoint": str(s.checkpoint),
                                     "task": s.shown.task, "variation": str(s.shown.variation),
                                     "threshold": str(s.threshold)})
    missing = [f for n in (*profile.nodes, graph.PLAYER) for f in graph.param_files(n)
               if not f.is_file()]
    if missing:
        raise GraphError(f"parameter file(s) {[str(f) for f in missing]} not found; set "
                         f"{graph.CONFIG_ENV} to the config/ros folder")
    commands = {n.name: graph.node_command(n, values) for n in profile.nodes
                if graph.enabled(n, values)}
    player = graph.node_command(graph.PLAYER, {"namespace": s.namespace})
    player += ["-p", f"source:={graph._yaml_scalar(str(Path(s.shown.path).resolve()))}"]
    return commands, player


def run_graph(s: GraphSettings) -> GraphResult:
    """Bring the graph up, play, execute, stop; always stops every process it started."""
    from mn_ros.bringup import Supervisor
    t0 = time.monotonic()
    env = graph_env(s.domain_id, Path(s.log_path).parent / "ros_log")
    # the director's own DDS settings (rclpy reads these from this process's environment)
    for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_BUILTIN_TRANSPORTS", "ROS_LOG_DIR"):
        os.environ[k] = env[k]
    os.environ.pop("ROS_LOCALHOST_ONLY", None)
    commands, player_cmd = graph_commands(s)
    max_steps = s.max_steps or _sim_parameter("max_steps", 25)
    tee = LogTee(s.log_path)
    sup = Supervisor(commands, env=env, out=tee, tag="graph")
    player = Supervisor({"player": player_cmd}, env=env, out=tee, tag="graph")
    director = None
    result = GraphResult()
    try:
        say(f"starting the mirror profile ({', '.join(commands)}) on ROS_DOMAIN_ID="
            f"{s.domain_id}, namespace /{s.namespace}; node output -> {s.log_path}")
        sup.start()
        director = Director(s.domain_id, s.namespace)
        result = director.result
        result.video_fps = float(_sim_parameter("video_rate_hz", 20.0)) or 20.0
        result.pids = {n: p.pid for n, p in sup.procs.items()}

        def alive(sups=(sup,)):
            for sv in sups:
                for name, p in sv.procs.items():
                    if p.poll() is not None and not (sv is player and p.returncode == 0):
                        raise GraphError(f"node {name} exited with status {p.returncode}:\n"
                                         f"{tee.tail()}")

        director.spin_until(lambda: sup.active >= set(commands), s.start_timeout,
                            f"the nodes to become active ({sorted(set(commands) - sup.active)} "
                            "not yet)", alive)
        result.seconds["up"] = round(time.monotonic() - t0, 1)
        say(f"all {len(commands)} nodes active after {result.seconds['up']:.0f} s")
        d = director
        d.spin_until(lambda: d.pub_instruction.get_subscription_count() >= 1 and
                     d.pub_reset.get_subscription_count() >= 1 and
                     d.subs["scores"].get_publisher_count() >= 1 and
                     d.subs["similarity"].get_publisher_count() >= 1 and
                     any(st.get("episode", -1) >= 0 for st in d.statuses),
                     30.0, "the director to match the graph's topics", alive)

        # --- the demonstration: the player shows the held-out episode to the observer
        t1 = time.monotonic()
        d.call_trigger(f"/{s.namespace}/observer/reset", check=alive)   # a clip of its own
        d.phase = "demo"
        rate = s.shown.frame_rate or 20.0
        say(f"playing the held-out demonstration {s.shown.path} ({s.shown.frames} frames, "
            f"~{s.shown.frames / rate:.0f} s) to the observer")
        player.start()
        result.pids["player"] = player.procs["player"].pid
        said = {"n": 0, "what": "", "t": 0.0}

        def show_progress():   # a line when the observer changes its mind, else every 3 s
            alive((sup, player))
            if len(result.recognitions) == said["n"]:
                return
            r = result.recognitions[-1]
            said["n"] = len(result.recognitions)
            if r["instruction"] != said["what"] or time.monotonic() - said["t"] > 3.0:
                said.update(what=r["instruction"], t=time.monotonic())
                say(f"  observer: {r['instruction']!r} ({r['top_k'][0]['score']:.2f}) after "
                    f"{r.get('frames')} frames")

        d.spin_until(lambda: player.procs["player"].poll() is not None,
                     s.shown.frames / rate + s.idle_timeout, "the player to finish", show_progress)
        n = -1
        while n != len(result.recognitions):   # until no new recognition for 1.5 s
            n = len(result.recognitions)
            d.spin_for(1.5)
            show_progress()
        if not result.recognitions:
            raise GraphError("the observer recognized nothing while the demonstration played "
                             f"(did its frames reach it?):\n{tee.tail()}")
        recognized = result.recognitions[-1]["instruction"]
        result.seconds["demo"] = round(time.monotonic() - t1, 1)

        # --- the execution: the sim is reset to the shown task, the policy gets what was seen
        t2 = time.monotonic()
        d.phase = "between"
        d.call_trigger(f"/{s.namespace}/observer/reset", check=alive)   # new clip: the robot
        d.watch_video()
        d.spin_until(lambda: d.video_sub.get_publisher_count() >= 1, 30.0,
                     "the sim's video topic", alive)
        episode = max(st["episode"] for st in d.statuses) + 1
        from mn_ros import conversions as cv
        d.phase = "execution"
        d.pub_reset.publish(cv.json_msg({"task": s.shown.task, "variation": s.shown.variation,
                                         "seed": s.exec_seed}))
        # the sim re-sends an observation every second with the same stamp: once the new
        # episode's status came twice, the policy has had the whole observation
        d.spin_until(lambda: sum(st["episode"] == episode for st in d.statuses) >= 2, 30.0,
                     f"the sim to reset to episode {episode}", alive)
        result.instruction = recognized
        say(f"the policy is told {recognized!r} (recognized); executing {s.shown.task} "
            f"variation {s.shown.variation} with fresh seed {s.exec_seed}")
        from std_msgs.msg import String
        d.pub_instruction.publish(String(data=recognized))
        last = {"step": 0, "t": time.monotonic(), "said": 0.0}

        def exec_progress(check: bool = True):
            if check:
                alive()
            st = [st for st in d.statuses if st["episode"] == episode][-1]
            now = time.monotonic()
            if st["step"] != last["step"]:
                last.update(step=st["step"], t=now)
                if st["done"] or now - last["said"] > 2.0:   # a line every 2 s at most
                    last["said"] = now
                    el, left = now - t2, max(0, max_steps - st["step"])
                    rate = el / st["step"]
                    say(f"  step {st['step']}: " + (
                        f"done, {'SUCCESS' if st.get('success') else 'failure'} "
                        f"{st.get('failure_reason') or ''}" if st["done"] else
                        f"running, {rate:.1f} s/step, at most {left * rate:.0f} s left"))
            idle = now - last["t"]
            if st.get("rejected_targets", 0) > 0 and idle > 5.0:
                raise _Stopped(f"the sim rejected the policy's target (outside the workspace); "
                               "no further motion")
            if idle > s.idle_timeout:
                raise _Stopped(f"no step for {s.idle_timeout:.0f} s (did the policy accept "
                               f"{recognized!r}? see {s.log_path})")

        try:
            d.spin_until(lambda: any(st["episode"] == episode and st["done"]
                                     for st in d.statuses), 3600.0, "the episode to end",
                         exec_progress)
            exec_progress(check=False)
        except _Stopped as e:
            result.status = {"stopped": str(e)}
        # the observer's last look at the execution, the mirror's last reports
        d.spin_for(1.5)
        cur = [st for st in d.statuses if st["episode"] == episode]
        result.status = {**(cur[-1] if cur else {}), **result.status}
        result.seconds["execution"] = round(time.monotonic() - t2, 1)
        result.reports = d.reports
        return result
    finally:
        t3 = time.monotonic()
        if director is not None:
            director.close()
        for sv in (player, sup):
            if sv.procs:
                sv.stop()
        for sv in (sup, player):
            result.pids.update({n: p.pid for n, p in sv.procs.items()})
            result.exit_codes.update({n: p.returncode for n, p in sv.procs.items()})
        result.stray = [pid for pid in result.pids.values() if _alive(pid)]
        result.seconds["stop"] = round(time.monotonic() - t3, 1)
        say(f"graph stopped: exit codes {result.exit_codes}"
            + (f"; STILL RUNNING: {result.stray}" if result.stray else "; no process left"))
        tee.close()


def _sim_parameter(name: str, default):
    """A parameter from the sim node's parameter file (config/ros/sim.yaml)."""
    import yaml

    from mn_ros import graph
    try:
        for f in graph.param_files(graph.SIM):
            for params in (yaml.safe_load(f.read_text()) or {}).values():
                if name in (params or {}).get("ros__parameters", {}):
                    return params["ros__parameters"][name]
    except (OSError, yaml.YAMLError, AttributeError):
        pass
    return default


class _Stopped(Exception):
    """The episode cannot go on (no motion); the run ends with a failure."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
