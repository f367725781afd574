"""Start a profile's nodes as separate processes and stop them cleanly (`mn bringup`).

ROS-free process supervision: every child's output is printed line by line prefixed with its
name; when all nodes report ``state: active`` one line says so. Ctrl-C / SIGTERM, or any child
exiting, stops the rest: SIGINT first (rclpy shuts down cleanly), SIGTERM after ``grace_int``
seconds, SIGKILL after ``grace_term`` more. Children run in their own sessions so a terminal's
Ctrl-C reaches only the supervisor, which forwards it in that order.
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
DDS_VARS = ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_BUILTIN_TRANSPORTS")


class Supervisor:
    """Runs named commands; ``run()`` returns 0 after a requested stop, 1 if a child died."""

    def __init__(self, commands: dict[str, list[str]], env: dict | None = None,
                 out: IO = sys.stdout, grace_int: float = 8.0, grace_term: float = 4.0,
                 tag: str = "bringup"):
        self.commands, self.env, self.out = commands, env, out
        self.grace_int, self.grace_term, self.tag = grace_int, grace_term, tag
        self.procs: dict[str, subprocess.Popen] = {}
        self.active: set[str] = set()
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
            if ACTIVE_MARK in line and name not in self.active:
                with self.lock:
                    self.active.add(name)
                    done = len(self.active) == len(self.procs)
                if done:
                    self.say(self.tag, f"all {len(self.procs)} nodes active")

    def request_stop(self, signum=None, frame=None) -> None:
        self.stop_requested.set()

    def run(self) -> int:
        """Start, wait for a stop request or a dead child, stop everything."""
        old = {s: signal.signal(s, self.request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            self.start()
            while not self.stop_requested.wait(0.1):
                dead = [(n, p.returncode) for n, p in self.procs.items() if p.poll() is not None]
                if dead:
                    for n, rc in dead:
                        self.say(self.tag, f"{n} exited with status {rc}; stopping the others")
                    code = 1
                    break
            else:
                self.say(self.tag, "stop requested")
        finally:
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
