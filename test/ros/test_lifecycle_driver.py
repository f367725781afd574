"""`mn bringup`'s lifecycle driver against a node that loses what DDS can lose: a reply to
change_state that never arrives (the node did the transition) or a request that never arrived
(it did not). The driver must still bring the node to active, and must still report a node
that refuses to configure."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ros_helpers import new_domain_id, ros_env

pytestmark = pytest.mark.ros
NODE = Path(__file__).with_name("lossy_lifecycle_node.py")


def drive(tmp_path, monkeypatch, mode: str, timeout: float = 60.0):
    from mn_ros.bringup import DDS_VARS, LifecycleDriver
    env = ros_env(new_domain_id(), tmp_path / "roslog")
    for k in (*DDS_VARS, "ROS_LOG_DIR"):   # the driver sets these in this process: undo after
        monkeypatch.setenv(k, env[k])
    log = tmp_path / f"{mode}.log"
    with open(log, "w") as fh:
        p = subprocess.Popen([sys.executable, str(NODE), "lossy", mode], env=env,
                             stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
    driver = LifecycleDriver({"lossy": "/lossy"}, env, response_timeout=2.0)
    events = []
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not any(e[1] != "note" for e in events):
            driver.step(0.05)
            events += driver.events
            driver.events.clear()
            assert p.poll() is None, log.read_text()
    finally:
        driver.close()
        p.terminate()
        try:                 # the test's helper node, not the code under test: a slow exit
            p.wait(20)       # under load (seen: > 10 s) must not fail the test
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
    return events, log.read_text()


@pytest.mark.parametrize("mode", ["reply", "request"])
def test_a_lost_reply_or_request_still_ends_active(tmp_path, monkeypatch, mode):
    events, log = drive(tmp_path, monkeypatch, mode)
    assert events[-1] == ("lossy", "active", ""), (events, log)
    notes = [d for _, what, d in events if what == "note"]
    assert len(notes) == 2, notes   # one per transition: configure and activate
    if mode == "reply":
        assert log.count("dropped the reply") == 2, log
        assert "no reply to configure after 2 s, but the node is inactive" in notes[0]
        assert "no reply to activate after 2 s, but the node is active" in notes[1]
    else:
        assert "still unconfigured: sending it again" in notes[0]
        assert "still inactive: sending it again" in notes[1]


def test_a_refused_configure_is_still_a_failure(tmp_path, monkeypatch):
    events, log = drive(tmp_path, monkeypatch, "refuse")
    assert events == [("lossy", "failed", "configure failed (now unconfigured)")], (events, log)
