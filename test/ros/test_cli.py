"""The `mn` tool as a user runs it: a real subprocess per command."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def mn(*args, timeout=600):
    env = dict(os.environ, MUJOCO_GL="egl", PYOPENGL_PLATFORM="egl")
    return subprocess.run([sys.executable, "-m", "mn_ros.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_help_lists_subcommands_and_each_has_help():
    out = mn("--help")
    for name in ("tasks", "experts", "collect", "bench", "demo"):
        assert name in out.stdout
        sub = mn(name, "--help")
        assert sub.returncode == 0 and "usage: mn " + name in sub.stdout, sub.stderr


def test_tasks_json_has_every_variation_description():
    out = mn("tasks", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["open_drawer"]["variation_count"] == 3
    assert info["open_drawer"]["variations"][2][0] == "open the top drawer"
    for name, d in info.items():
        assert len(d["variations"]) == d["variation_count"], name
        assert all(v and isinstance(v[0], str) for v in d["variations"])


def test_unknown_task_is_a_clear_error():
    out = mn("experts", "--tasks", "fly_to_moon", "--episodes", "1")
    assert out.returncode != 0
    assert "unknown task 'fly_to_moon'" in out.stderr and "open_drawer" in out.stderr


def test_experts_json_format():
    out = mn("experts", "--tasks", "open_drawer", "--episodes", "3", "--json", "--workers", "1")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    r = res.pop("open_drawer")
    assert not res and r["seconds_per_episode"] > 0
    assert {k: r[k] for k in ("success_rate", "episodes", "failures")} == {
        "success_rate": 1.0, "episodes": 3, "failures": {}}


@pytest.mark.slow
def test_bench_sim_json_wiring_prints_its_figures():
    """Wiring only: the command runs and prints every figure (the figures themselves are
    measurements of this machine)."""
    out = mn("bench", "sim", "--json", "--tasks", "open_drawer", "--episodes-per-task", "2")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(res) == {"render_fps_4cam", "realtime_factor", "episodes_per_min_keyframes",
                        "episodes_per_min_default"}
    assert all(v > 0 for v in res.values())
