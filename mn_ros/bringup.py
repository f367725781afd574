"""Start a profile's nodes as separate processes, bring them to active, stop them cleanly
(`mn bringup`).

Every child's output is printed line by line prefixed with its name. With ``manage`` (what
`mn bringup` does) the children start unconfigured (autostart false) and a small rclpy client
(``LifecycleDriver``) configures and activates each over the standard lifecycle services
(``<node>/change_state``), as launch_ros event handlers do for `ros2 launch`; without it the
children configure themselves (autostart) and ``state: active`` in their output marks them up.
One line says when all nodes are active. A node that fails to configure is reported with the
reason it logged; ``on_failure`` ("shutdown", the default: stop everything and exit 1, or
"continue": keep the others running) decides what follows -- the same for a child that dies.
Ctrl-C / SIGTERM stops the rest: SIGINT first (the nodes finish cleanly), SIGTERM after
``grace_int`` seconds, SIGKILL after ``grace_term`` more. Children run in their own sessions so
a terminal's Ctrl-C reaches only the supervisor, which forwards it in that order.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO

ACTIVE_MARK = "state: active"
REFUSAL_MARK = "refusing to start: "
DDS_VARS = ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_BUILTIN_TRANSPORTS")
SERVICE_TIMEOUT_S = 180.0   # a node's lifecycle services must appear within this
RESPONSE_TIMEOUT_S = 10.0   # then a transition's lost reply is looked for with get_state


class LifecycleDriver:
    """Configures then activates nodes over their standard lifecycle services, one rclpy
    client in this process. ``step()`` advances without blocking; ``events`` collects
    (name, "active" | "failed" | "note", detail) for the supervisor.

    A service reply can be lost (DDS drops a response sent before the client's reader is
    matched), so a transition unanswered after ``response_timeout`` s, or answered with a
    failure, is checked against the node's state over ``<node>/get_state``: the state the
    transition leads to counts as done, the state it starts from (after no answer) means the
    request was lost and is sent again, a state in transition means wait."""

    TARGET = {"configure": "inactive", "activate": "active"}
    START = {"configure": "unconfigured", "activate": "inactive"}

    def __init__(self, nodes: dict[str, str], env: dict,
                 response_timeout: float = RESPONSE_TIMEOUT_S):
        from lifecycle_msgs.srv import ChangeState, GetState
        for k in (*DDS_VARS, "ROS_LOG_DIR"):   # this process joins the children's graph
            if env.get(k):
                os.environ[k] = env[k]
        os.environ.pop("ROS_LOCALHOST_ONLY", None)
        from mn_ros.node_common import PrivateNode
        self.ChangeState, self.GetState = ChangeState, GetState
        self.response_timeout = response_timeout
        self.graph = PrivateNode("mn_bringup", int(env.get("ROS_DOMAIN_ID") or 0))
        self.node, self.executor = self.graph.node, self.graph.executor
        self.t0 = time.monotonic()
        self.nodes = {name: {"fqn": fqn, "phase": "waiting", "future": None, "sent": 0.0,
                             "refused": False, "probe": None, "probed": 0.0,
                             "client": self.node.create_client(ChangeState,
                                                               f"{fqn}/change_state"),
                             "state_client": self.node.create_client(GetState,
                                                                     f"{fqn}/get_state")}
                      for name, fqn in nodes.items()}
        self.events: list[tuple[str, str, str]] = []

    def _send(self, n: dict, label: str) -> None:
        req = self.ChangeState.Request()
        req.transition.label = label
        n["future"], n["phase"] = n["client"].call_async(req), label
        n["sent"], n["refused"], n["probe"] = time.monotonic(), False, None

    def _probe(self, n: dict) -> None:
        n["probe"], n["probed"] = n["state_client"].call_async(self.GetState.Request()), \
            time.monotonic()

    def _advance(self, name: str, n: dict) -> None:
        if n["phase"] == "configure":
            self._send(n, "activate")
        else:
            n["phase"] = "active"
            self.events.append((name, "active", ""))

    def _decide(self, name: str, n: dict, state: str) -> None:
        """After get_state answered ``state`` for a transition that failed or went unanswered."""
        label = n["phase"]
        if state == self.TARGET[label]:
            if not n["refused"]:
                self.events.append((name, "note", f"no reply to {label} after "
                                    f"{self.response_timeout:.0f} s, but the node is {state}"))
            self._advance(name, n)
        elif state == self.START[label] and not n["refused"]:
            self.events.append((name, "note", f"no reply to {label} after "
                                f"{self.response_timeout:.0f} s and the node is still {state}: "
                                "sending it again"))
            self._send(n, label)
        elif state.endswith("ing") and state != "errorprocessing":   # configuring, activating
            if n["refused"]:   # wait for the state again, not for that spent reply
                from rclpy.task import Future
                n["future"], n["refused"] = Future(), False
            n["sent"] = time.monotonic()
        else:
            self.events.append((name, "failed", f"{label} failed (now {state})"))
            n["phase"] = "failed"

    def step(self, timeout: float = 0.05) -> None:
        self.executor.spin_once(timeout_sec=timeout)
        now = time.monotonic()
        for name, n in self.nodes.items():
            if n["phase"] == "waiting":
                if n["client"].service_is_ready():
                    self._send(n, "configure")
                elif now - self.t0 > SERVICE_TIMEOUT_S:
                    n["phase"] = "failed"
                    self.events.append((name, "failed", f"no {n['fqn']}/change_state service "
                                        f"after {SERVICE_TIMEOUT_S:.0f} s"))
            elif n["phase"] not in ("configure", "activate"):
                continue
            elif n["future"].done() and not n["refused"]:
                reply = n["future"].result()
                if reply is not None and reply.success:
                    self._advance(name, n)
                else:   # a refusal, or a repeat of a transition whose first reply was lost
                    n["refused"] = True
                    self._probe(n)
            elif n["probe"] is not None:
                if n["probe"].done():
                    reply, n["probe"] = n["probe"].result(), None
                    if reply is None:
                        self._probe(n)
                    else:
                        self._decide(name, n, reply.current_state.label)
                elif now - n["probed"] > self.response_timeout:
                    self._probe(n)   # that reply was lost too: ask again
            elif not n["refused"] and now - n["sent"] > self.response_timeout:
                self._probe(n)

    def forget(self, name: str) -> None:
        """A child that exited: nothing more to drive."""
        if self.nodes[name]["phase"] not in ("active", "failed"):
            self.nodes[name]["phase"] = "gone"

    def close(self) -> None:
        self.graph.close()


class Supervisor:
    """Runs named commands; ``run()`` returns 0 after a requested stop, 1 if a child died."""

    def __init__(self, commands: dict[str, list[str]], env: dict | None = None,
                 out: IO = sys.stdout, grace_int: float = 8.0, grace_term: float = 4.0,
                 tag: str = "bringup", manage: dict[str, str] | None = None,
                 on_failure: str = "shutdown"):
        if on_failure not in ("shutdown", "continue"):
            raise ValueError(f"on_failure:={on_failure!r}: choose shutdown or continue")
        self.commands, self.env, self.out = commands, env, out
        self.grace_int, self.grace_term, self.tag = grace_int, grace_term, tag
        self.manage, self.on_failure = manage, on_failure   # manage: name -> full node name
        self.procs: dict[str, subprocess.Popen] = {}
        self.active: set[str] = set()
        self.failed: set[str] = set()
        self.refusals: dict[str, str] = {}   # name -> the reason it logged for refusing
        self.lock = threading.Lock()
        self.stop_requested = threading.Event()
        self.threads: list[threading.Thread] = []

    def say(self, name: str, line: str) -> None:
        with self.lock:
            self.out.write(f"[{name}] {line}\n")
            self.out.flush()

    def start(self) -> None:
        env = self.env or os.environ
        dds = ", ".join(f"{k}={env.get(k, '(unset)')}" for k in DDS_VARS)
        self.say(self.tag, f"{dds}: other shells need the same to see these nodes "
                           "(source scripts/env.sh)")
        for name, cmd in self.commands.items():
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=self.env, text=True, bufsize=1,
                                 errors="replace", start_new_session=True)
            self.procs[name] = p
            t = threading.Thread(target=self._pump, args=(name, p), daemon=True)
            t.start()
            self.threads.append(t)
            self.say(self.tag, f"started {name} (pid {p.pid}): {' '.join(cmd)}")

    def _pump(self, name: str, p: subprocess.Popen) -> None:
        for line in p.stdout:
            line = line.rstrip("\n")
            self.say(name, line)
            if REFUSAL_MARK in line:
                self.refusals[name] = line.split(REFUSAL_MARK, 1)[1]
            if ACTIVE_MARK in line and not self.manage:
                self._mark_active(name)

    def _mark_active(self, name: str) -> None:
        with self.lock:
            if name in self.active:
                return
            self.active.add(name)
        self._settled()

    def _settled(self) -> None:
        """One line once every node is active, or active or failed."""
        if len(self.active) == len(self.procs):
            self.say(self.tag, f"all {len(self.procs)} nodes active")
        elif len(self.active | self.failed) == len(self.procs):
            self.say(self.tag, f"{len(self.active)} of {len(self.procs)} nodes active; failed: "
                               f"{', '.join(sorted(self.failed))}")

    def _failure(self, name: str, what: str) -> bool:
        """Report a node that failed; True when the graph must stop (on_failure)."""
        self.failed.add(name)
        self.active.discard(name)
        stop = self.on_failure == "shutdown"
        self.say(self.tag, f"{name} {what}; " + ("stopping the others (on_failure:=shutdown)"
                                                 if stop else "the others keep running "
                                                 "(on_failure:=continue)"))
        if not stop:
            self._settled()
        return stop

    def request_stop(self, signum=None, frame=None) -> None:
        self.stop_requested.set()

    def run(self) -> int:
        """Start, bring the nodes to active, wait for a stop request; a failed or dead node
        stops everything (on_failure shutdown: exit 1) or is reported (continue: exit 1 only
        once every node has exited). Returns 0 after a requested stop."""
        old = {s: signal.signal(s, self.request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        code, driver, gone = 0, None, set()
        try:
            self.start()
            if self.manage:
                driver = LifecycleDriver(self.manage, self.env or dict(os.environ))
            while not self.stop_requested.is_set():
                if driver is not None:
                    driver.step(0.1)
                    for name, what, detail in driver.events:
                        if what == "active":
                            self._mark_active(name)
                        elif what == "note":
                            self.say(self.tag, f"{name}: {detail}")
                        elif self._failure(name, "failed to configure: " + self.refusals.get(
                                name, detail)):
                            code = 1
                    driver.events.clear()
                    if code:
                        break
                else:
                    self.stop_requested.wait(0.1)
                for n, p in self.procs.items():
                    if n not in gone and p.poll() is not None:
                        gone.add(n)
                        if driver is not None:
                            driver.forget(n)
                        if n in self.failed:
                            continue
                        why = (f"failed to configure: {self.refusals[n]}" if n in self.refusals
                               else f"exited with status {p.returncode}")
                        if self._failure(n, why):
                            code = 1
                if code or len(gone) == len(self.procs):
                    code = 1
                    break
            else:
                self.say(self.tag, "stop requested")
        finally:
            if driver is not None:
                driver.close()
            self.stop()
            for s, h in old.items():
                signal.signal(s, h)
        return code

    def _signal(self, sig: int) -> list[str]:
        alive = [n for n, p in self.procs.items() if p.poll() is None]
        for n in alive:
            try:
                os.killpg(self.procs[n].pid, sig)   # the child's own session/process group
            except ProcessLookupError:
                pass
        return alive

    def _wait(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(p.poll() is not None for p in self.procs.values()):
                return True
            time.sleep(0.05)
        return all(p.poll() is not None for p in self.procs.values())

    def stop(self) -> None:
        for sig, wait in ((signal.SIGINT, self.grace_int), (signal.SIGTERM, self.grace_term),
                          (signal.SIGKILL, 5.0)):
            alive = self._signal(sig)
            if not alive:
                break
            if sig != signal.SIGINT:
                self.say(self.tag, f"sending {signal.Signals(sig).name} to {', '.join(alive)}")
            if self._wait(wait):
                break
        for t in self.threads:
            t.join(timeout=2.0)
        codes = {n: p.returncode for n, p in self.procs.items()}
        self.say(self.tag, f"stopped: {codes}")


def child_env(base: dict | None = None) -> dict:
    """The children's environment: unbuffered output, no colours, and mn's defaults
    (mn_ros/environment.py: rendering backend, loopback-friendly DDS, offline flags) where
    the user left them unset."""
    from mn_ros.environment import apply_defaults
    env = dict(os.environ if base is None else base)
    env["PYTHONUNBUFFERED"] = "1"
    env["RCUTILS_COLORIZED_OUTPUT"] = "0"
    apply_defaults(env)
    return env
