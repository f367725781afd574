"""`mn bringup` as a user runs it: up, all nodes active, down cleanly on SIGTERM; and a node
that dies (a truncated checkpoint) is reported and the others are stopped."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ros_helpers import ROOT, new_domain_id, ros_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def start(profile: str, tmp_path, name: str, *args: str):
    log = tmp_path / f"{name}.log"
    fh = open(log, "w")
    env = ros_env(new_domain_id(), tmp_path / "roslog")
    p = subprocess.Popen([sys.executable, "-m", "mn_ros.cli", "bringup", profile, *args],
                         cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=fh,
                         stderr=subprocess.STDOUT, start_new_session=True)
    return p, log, fh


def wait_text(log, p, pattern: str, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if re.search(pattern, log.read_text()):
            return
        if p.poll() is not None and not re.search(pattern, log.read_text()):
            raise AssertionError(f"bringup exited ({p.returncode}):\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r}:\n{log.read_text()[-3000:]}")


def pids(log) -> list[int]:
    return [int(x) for x in re.findall(r"\[bringup\] started \w+ \(pid (\d+)\)", log.read_text())]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_bringup_up_and_down_and_a_dead_node_stops_the_rest(tiny_checkpoints, tmp_path):
    # both at once (own domains): a good graph, and one whose observer cannot load its model
    good, good_log, f1 = start("observe", tmp_path, "good",
                               f"checkpoint:={tiny_checkpoints['mn']}", "namespace:=b1")
    bad, bad_log, f2 = start("observe", tmp_path, "bad",
                             f"checkpoint:={tiny_checkpoints['truncated']}", "namespace:=b2")
    try:
        wait_text(good_log, good, r"\[bringup\] all 2 nodes active")
        text = good_log.read_text()
        assert "[observer] " in text and "[mirror] " in text, "output is prefixed by node"
        assert "--params-file" in text and "config/ros/observer.yaml" in text
        os.kill(good.pid, signal.SIGTERM)
        assert good.wait(60) == 0, good_log.read_text()[-3000:]
        assert "stopped: {'observer': 0, 'mirror': 0}" in good_log.read_text()
        assert all(gone(pid) for pid in pids(good_log))

        assert bad.wait(120) == 1, bad_log.read_text()[-3000:]
        text = bad_log.read_text()
        assert re.search(r"\[observer\] .*refusing to start: .*truncated or corrupt", text)
        assert "[bringup] observer exited with status 2; stopping the others" in text
        assert "'mirror': 0" in text, "the mirror node was stopped cleanly"
        assert all(gone(pid) for pid in pids(bad_log))
    finally:
        for p in (good, bad):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        f1.close()
        f2.close()
