"""`mn` as installed (.venv/bin/mn, the console script of setup.py), run the way a new user runs
it: a subprocess whose environment holds only PATH (without the venv) and HOME (an empty
folder): no MUJOCO_GL, no ROS_* variables, no PYTHONPATH, scripts/env.sh not sourced, the
working directory outside the checkout. Every sub-command the README shows runs in a cheap
form; the processes `mn` starts (worker pools, the node processes of `mn bringup` / `mn demo`)
are checked to carry the defaults of mn_ros/environment.py.

Without those defaults (mn_ros/cli.py not calling apply_defaults) `mn tasks --sheets`,
`mn bench sim` and the inheritance checks here fail."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mn_ros.cli import COMMANDS
from mn_ros.environment import DEFAULTS, apply_defaults

ROOT = Path(__file__).resolve().parents[2]
MN = ROOT / ".venv" / "bin" / "mn"
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"   # a login shell's PATH: no venv on it
TASKS = "open_drawer,turn_tap"
DEFAULT_VALUES = {k: v for k, (v, _why) in DEFAULTS.items()}


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> Path:
    """A new user's empty HOME, also the working directory of every command."""
    return tmp_path_factory.mktemp("home")


def scrubbed(home: Path, **extra: str) -> dict:
    return {"PATH": BARE_PATH, "HOME": str(home), **extra}


def mn(home: Path, *args: str, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess:
    assert MN.is_file(), f"{MN} not found: run `bash scripts/setup.sh` first"
    return subprocess.run([str(MN), *args], cwd=home, env=scrubbed(home, **extra),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def ok(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, f"{p.args} -> {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
    return p


def last_json(p: subprocess.CompletedProcess) -> dict:
    return json.loads(ok(p).stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- processes and their environment
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _process(pid: int) -> tuple[str, dict] | None:
    """(command line, environment at exec) of a live process, else None."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    env = dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv)
    return cmd, env


def run_watching(home: Path, args: list[str], marker: str, timeout: float = 600,
                 until: str | None = None, **extra: str):
    """Run `mn *args` scrubbed; record (cmdline, environ) of every descendant process whose
    command line contains ``marker``. With ``until``, SIGINT mn once that text is in its output
    and a matching descendant was seen. Returns (returncode, output, {pid: (cmd, env)})."""
    log = home / f"out_{time.monotonic_ns()}.log"
    seen: dict[int, tuple[str, dict]] = {}
    with open(log, "w") as fh:
        p = subprocess.Popen([str(MN), *args], cwd=home, env=scrubbed(home, **extra),
                             stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                             start_new_session=True)
        end = time.monotonic() + timeout
        try:
            while p.poll() is None and time.monotonic() < end:
                kids, todo = _children(), [p.pid]
                while todo:
                    for c in kids.get(todo.pop(), []):
                        todo.append(c)
                        if c not in seen and (info := _process(c)) and marker in info[0]:
                            seen[c] = info
                if until and seen and until in log.read_text():
                    p.send_signal(signal.SIGINT)
                    p.wait(timeout=60)
                    break
                time.sleep(0.05)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                raise AssertionError(f"mn {' '.join(args)} did not finish in {timeout} s:\n"
                                     f"{log.read_text()[-3000:]}")
    return p.returncode, log.read_text(), seen


def assert_defaults_inherited(seen: dict, what: str, **user: str) -> None:
    assert seen, f"no {what} process was seen"
    want = {**DEFAULT_VALUES, **user}
    for pid, (cmd, env) in seen.items():
        got = {k: env.get(k) for k in want}
        assert got == want, f"{what} {pid} ({cmd[:120]}) has {got}"


# --------------------------------------------------------------------------- the defaults
def test_mn_is_the_console_script_of_this_checkout(user):
    text = MN.read_text()
    assert "from mn_ros.cli import main" in text, text
    python = text.splitlines()[0][2:].strip()   # the shebang: the venv's interpreter
    p = ok(subprocess.run([python, "-c", "import mn_ros.cli; print(mn_ros.cli.__file__)"],
                          cwd=user, env=scrubbed(user), capture_output=True, text=True,
                          timeout=120))
    assert Path(p.stdout.strip()) == ROOT / "mn_ros" / "cli.py"   # editable install


def test_defaults_module_is_ros_free_and_keeps_what_the_user_set(user):
    p = ok(subprocess.run(
        [str(MN.parent / "python"), "-c",
         "import sys, mn_ros.environment; print(sorted({m.split('.')[0] for m in sys.modules} "
         "& {'rclpy', 'mujoco', 'torch', 'numpy', 'OpenGL'}))"],
        cwd=user, env=scrubbed(user), capture_output=True, text=True, timeout=120))
    assert p.stdout.strip() == "[]"
    env = {"MUJOCO_GL": "osmesa", "HF_HUB_OFFLINE": "", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    added = apply_defaults(env)
    assert env == {**DEFAULT_VALUES, "MUJOCO_GL": "osmesa",
                   "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    assert set(added) == set(DEFAULTS) - {"MUJOCO_GL", "ROS_AUTOMATIC_DISCOVERY_RANGE"}
    assert apply_defaults(env) == {}


def test_env_sh_exports_the_same_defaults(user):
    def shell(script: str, **extra: str) -> dict:
        p = ok(subprocess.run(["bash", "-c", script, "bash", str(ROOT / "scripts" / "env.sh")],
                              cwd=user, env=scrubbed(user, **extra), capture_output=True,
                              text=True, timeout=60))
        return dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)

    before = shell("env")
    after = shell('source "$1" && env')
    added = {k: v for k, v in after.items() if before.get(k) != v and k != "_"}
    assert added == DEFAULT_VALUES
    mine = {k: f"user-{i}" for i, k in enumerate(DEFAULTS)}
    kept = shell('source "$1" && env', **mine)
    assert {k: kept[k] for k in mine} == mine   # what the user set is kept, as mn does
    empty = shell('source "$1" && env', **{k: "" for k in DEFAULTS})
    assert {k: empty[k] for k in DEFAULTS} == DEFAULT_VALUES   # empty counts as unset


# ------------------------------------------------------------------ sub-commands, scrubbed
def test_help_and_every_subcommands_help(user):
    top = ok(mn(user, "--help")).stdout
    for name in COMMANDS:
        assert name in top
        p = ok(mn(user, name, "--help"))
        assert p.stdout.startswith(f"usage: mn {name}"), p.stdout[:200]
    assert "profiles:" in ok(mn(user, "bringup", "--help")).stdout
    assert "sim: " in ok(mn(user, "bringup", "sim", "--dry-run")).stdout


def test_tasks_and_experts(user):
    info = last_json(mn(user, "tasks", "--json"))
    assert info["open_drawer"]["variations"][2][0] == "open the top drawer"
    assert "18 tasks, 249 variations" in ok(mn(user, "tasks")).stdout
    r = last_json(mn(user, "experts", "--tasks", "open_drawer", "--episodes", "1", "--json",
                     "--workers", "1"))
    assert r["open_drawer"]["success_rate"] == 1.0 and r["open_drawer"]["episodes"] == 1


def test_tasks_sheets_renders_without_mujoco_gl(user):
    out = user / "sheets"
    p = ok(mn(user, "tasks", "--sheets", str(out), "--tasks", "turn_tap", "--workers", "1"))
    png = out / "turn_tap.png"
    assert p.stdout.strip().splitlines()[-1] == str(png)
    from PIL import Image
    with Image.open(png) as im:
        assert im.size[0] >= 256 and im.size[1] >= 256
        lo, hi = im.convert("L").getextrema()
        assert hi - lo > 50   # something was drawn


def test_the_users_renderer_is_not_overridden(user):
    p = mn(user, "tasks", "--sheets", str(user / "nope"), "--tasks", "turn_tap", "--workers",
           "1", MUJOCO_GL="no-such-backend")
    assert p.returncode != 0
    assert "MUJOCO_GL: no-such-backend" in p.stderr, p.stderr[-2000:]


@pytest.mark.slow
def test_bench_sim(user):
    r = last_json(mn(user, "bench", "sim", "--tasks", "open_drawer", "--episodes-per-task", "1",
                     "--workers", "1", "--json"))
    assert set(r) == {"render_fps_4cam", "realtime_factor", "episodes_per_min_keyframes",
                      "episodes_per_min_default"}
    assert r["render_fps_4cam"] > 0 and r["episodes_per_min_keyframes"] > 0


# ----------------------------------------------------- data -> checkpoint -> evaluations
@pytest.fixture(scope="module")
def pipeline(user):
    """`mn collect` (2 tasks x 2 episodes, 2 spawned workers, watched) and `mn train` (tiny mn,
    2 steps), both scrubbed."""
    data, run = user / "data", user / "mn"
    rc, out, workers = run_watching(
        user, ["collect", "--tasks", TASKS, "--episodes-per-task", "2", "--frame-rate", "5",
               "--out", str(data), "--workers", "2"], marker="multiprocessing.spawn")
    assert rc == 0, out[-3000:]
    # val_fraction 0.7: the dataset's split then holds out episode0 of both tasks (of two)
    ok(mn(user, "train", "--config", str(ROOT / "config" / "train" / "tiny_mn.yaml"),
          f"data={data}", "steps=2", "batch_size=2", "ckpt_every=2", "val_fraction=0.7",
          "--out", str(run)))
    return {"data": data, "run": run, "collect_output": out, "workers": workers}


@pytest.mark.slow
def test_collect_workers_inherit_the_defaults(pipeline):
    assert "collected 4 episode(s)" in pipeline["collect_output"]
    assert len(pipeline["workers"]) == 2
    assert_defaults_inherited(pipeline["workers"], "collect worker")


@pytest.mark.slow
def test_train_then_every_eval(pipeline, user):
    data, run = str(pipeline["data"]), str(pipeline["run"])
    assert (pipeline["run"] / "checkpoints").is_dir()
    au = last_json(mn(user, "eval", "au", "--checkpoint", run, "--data", data, "--json"))
    assert set(au["per_task"]) <= set(TASKS.split(","))
    ee = last_json(mn(user, "eval", "ee", "--checkpoint", run, "--tasks", "open_drawer",
                      "--episodes", "1", "--max-steps", "2", "--workers", "1", "--json"))
    assert set(ee["per_task"]) == {"open_drawer"}
    pr = last_json(mn(user, "eval", "probe", "--probe", run, "--data", data, "--json"))
    assert {"recall_at_1", "chance"} <= set(pr)
    png = user / "tsne.png"
    ts = last_json(mn(user, "eval", "tsne", "--checkpoint", run, "--data", data, "--out",
                      str(png), "--perplexity", "1", "--iterations", "250", "--json"))
    assert ts["png"] == str(png) and png.stat().st_size > 0


@pytest.mark.slow
def test_play_an_episode(pipeline, user):
    ep = pipeline["data"] / "open_drawer" / "all_variations" / "episodes" / "episode0"
    p = ok(mn(user, "play", str(ep), "--wait", "0", "--rate", "50", timeout=180))
    assert "played" in p.stdout + p.stderr


@pytest.mark.ros
@pytest.mark.slow
def test_bringup_nodes_inherit_the_defaults(pipeline, user):
    # ROS_DOMAIN_ID is unset (domain 0), as for a new user; discovery stays on localhost
    rc, out, nodes = run_watching(user, ["bringup", "sim", f"checkpoint:={pipeline['run']}"],
                                  marker="-m mn_ros.", until="all 2 nodes active", timeout=300,
                                  HF_HUB_OFFLINE="0")
    assert rc == 0, out[-3000:]
    assert "all 2 nodes active" in out and "stop requested" in out
    assert {cmd.split(" -m ")[1].split()[0] for cmd, _ in nodes.values()} == {
        "mn_ros.sim_node", "mn_ros.policy_node"}
    assert_defaults_inherited(nodes, "node", HF_HUB_OFFLINE="0")   # the user's value kept


@pytest.mark.ros
@pytest.mark.slow
def test_demo_nodes_inherit_the_defaults(pipeline, user):
    out_dir = user / "demo"
    rc, out, nodes = run_watching(
        user, ["demo", "--out", str(out_dir), "--tasks", TASKS, "--episodes-per-task", "2",
               "--frame-rate", "5", "--workers", "1", "--variations", "0", "--skip-training",
               "--checkpoint", str(pipeline["run"])], marker="-m mn_ros.", timeout=600)
    assert rc == 0, out[-4000:]
    s = json.loads((out_dir / "summary.json").read_text())
    assert set(s["ros"]["pids"]) == {"sim", "policy", "observer", "mirror", "player"}
    assert {int(p) for p in s["ros"]["pids"].values()} <= set(nodes)
    assert_defaults_inherited(nodes, "node")


@pytest.mark.ros
@pytest.mark.slow
def test_bench_ros(user):
    r = last_json(mn(user, "bench", "ros", "--trials", "3", "--json"))
    assert r["frame_to_pose_ms_p50"] > 0 and r["clip_to_label_ms_p50"] > 0
