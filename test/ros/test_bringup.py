"""`mn bringup` as a user runs it: up (every node driven to active over the lifecycle
services), down cleanly on SIGTERM/SIGINT; a node that fails to configure is reported and,
by on_failure, stops the others or not; and every `mn bringup` line of the README runs as
written."""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from ros_helpers import ROOT, new_domain_id, ros_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def start(args: list[str], tmp_path, name: str, cwd=ROOT):
    log = tmp_path / f"{name}.log"
    fh = open(log, "w")
    env = ros_env(new_domain_id(), tmp_path / "roslog")
    p = subprocess.Popen([sys.executable, "-m", "mn_ros.cli", "bringup", *args],
                         cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=fh,
                         stderr=subprocess.STDOUT, start_new_session=True)
    p.fh, p.log = fh, log
    return p, log


def wait_text(log, p, pattern: str, timeout: float = 180.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if re.search(pattern, log.read_text()):
            return
        if p.poll() is not None and not re.search(pattern, log.read_text()):
            raise AssertionError(f"bringup exited ({p.returncode}) without {pattern!r}:\n"
                                 f"{log.read_text()[-3000:]}")
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


def kill_all(*procs) -> None:
    """Bringup and its nodes: each node runs in its own session, so killing bringup's process
    group alone would leave them running for the rest of the suite."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
        for pid in pids(p.log):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        p.fh.close()


def test_bringup_drives_the_lifecycle_and_a_failed_configure_follows_on_failure(
        tiny_checkpoints, tmp_path):
    # three graphs at once (own domains): a good one, one whose observer cannot load its
    # model (default on_failure:=shutdown), the same with on_failure:=continue
    good, good_log = start(["observe", f"checkpoint:={tiny_checkpoints['mn']}",
                            "namespace:=b1"], tmp_path, "good")
    bad, bad_log = start(["observe", f"checkpoint:={tiny_checkpoints['truncated']}",
                          "namespace:=b2"], tmp_path, "bad")
    cont, cont_log = start(["observe", f"checkpoint:={tiny_checkpoints['truncated']}",
                            "namespace:=b3", "on_failure:=continue"], tmp_path, "cont")
    try:
        wait_text(good_log, good, r"\[bringup\] all 2 nodes active")
        text = good_log.read_text()
        assert "[observer] " in text and "[mirror] " in text, "output is prefixed by node"
        assert "--params-file" in text and "config/ros/observer.yaml" in text
        assert "autostart:=false" in text, "bringup, not the nodes, drives the lifecycle"
        assert re.search(r"\[observer\] .*state: inactive.*\n(.*\n)*\[observer\] .*state: "
                         r"active", text), "configured, then activated"
        os.kill(good.pid, signal.SIGTERM)
        assert good.wait(60) == 0, good_log.read_text()[-3000:]
        assert "stopped: {'observer': 0, 'mirror': 0}" in good_log.read_text()
        assert all(gone(pid) for pid in pids(good_log))

        assert bad.wait(180) == 1, bad_log.read_text()[-3000:]
        text = bad_log.read_text()
        assert re.search(r"\[bringup\] observer failed to configure: CheckpointError: .*"
                         r"truncated or corrupt.*; stopping the others \(on_failure:=shutdown\)",
                         text), text[-3000:]
        assert "stopped: {'observer': 0, 'mirror': 0}" in text, "both stopped cleanly"
        assert all(gone(pid) for pid in pids(bad_log))

        wait_text(cont_log, cont, r"\[bringup\] 1 of 2 nodes active; failed: observer")
        assert re.search(r"observer failed to configure: .*the others keep running "
                         r"\(on_failure:=continue\)", cont_log.read_text())
        assert cont.poll() is None, "on_failure:=continue keeps the graph up"
        os.kill(cont.pid, signal.SIGINT)
        assert cont.wait(60) == 0, cont_log.read_text()[-3000:]
    finally:
        kill_all(good, bad, cont)


def readme_bringup_lines() -> list[str]:
    """Every command line of the README that starts with `mn bringup` (in code blocks)."""
    lines, in_code = [], False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        line = line.split("  #")[0].strip()
        if in_code and line.startswith("mn bringup ") and line not in lines:
            lines.append(line)
    return lines


README_LINES = readme_bringup_lines()


def expected_nodes(line: str) -> int:
    from mn_ros import graph
    from mn_ros.commands.bringup import DEFAULT_WITH_NODES, parse_assignments
    words = shlex.split(line)[2:]
    nodes = None
    if "--nodes" in words:
        i = words.index("--nodes")
        nodes = words[i + 1]
        del words[i:i + 2]
    profile = words[0] if words and ":=" not in words[0] else DEFAULT_WITH_NODES
    given = parse_assignments([w for w in words if ":=" in w])
    if nodes:
        given["nodes"] = nodes
    p = graph.get_profile(profile)
    return len(graph.select(p, graph.resolve(p, given)))


def test_the_readme_shows_bringup_examples():
    assert len(README_LINES) >= 5, README_LINES
    assert "mn bringup sim" in README_LINES, "the simulator alone"
    assert any("--nodes" in line for line in README_LINES)


@pytest.mark.parametrize("line", README_LINES)
def test_readme_bringup_example_runs_as_written(line, tiny_checkpoints, tmp_path):
    """In a folder where runs/mn is a (tiny) checkpoint, the line brings all its nodes to
    active and Ctrl-C stops them with status 0."""
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "mn").symlink_to(tiny_checkpoints["mn"])
    n = expected_nodes(line)
    p, log = start(shlex.split(line)[2:], tmp_path, "example", cwd=tmp_path)
    if "--dry-run" in line:   # prints one command per node and exits
        assert p.wait(60) == 0, log.read_text()
        p.fh.close()
        assert len(re.findall(r"^\w+: \S+ -m mn_ros\.\w+ --ros-args ", log.read_text(), re.M)) \
            == n, log.read_text()
        return
    try:
        wait_text(log, p, rf"\[bringup\] all {n} nodes active", 300)
        os.killpg(p.pid, signal.SIGINT)   # as a terminal's Ctrl-C
        assert p.wait(60) == 0, log.read_text()[-3000:]
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    finally:
        kill_all(p)
