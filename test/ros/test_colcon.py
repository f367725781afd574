"""`colcon build` of the package, as a ROS 2 user builds it, and the install tree it gives:
the node executables under lib/mn_ros, the ament index entry, launch and parameter files under
share/mn_ros, every executable, parameter file and argument the installed launch files name
present there, and an installed node that runs.

colcon-core and colcon-ros come from PyPI into a throwaway virtual environment (pinned; ~15 s,
needs the package index); the build runs on a copy of the package's sources (the checkout is
not written to). launch / launch_ros are not on PyPI: the installed launch files are expanded
with the stand-ins of fake_launch.py."""
from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ros_helpers import ROOT, new_domain_id, ros_env

pytestmark = [pytest.mark.slow]
COLCON = ("colcon-core==0.21.3", "colcon-ros==0.5.0")
SOURCES = ("package.xml", "setup.py", "setup.cfg", "resource", "launch", "config", "mn_ros",
           "mn_models", "mn_sim")
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"


def console_scripts() -> dict[str, str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == "console_scripts":
                    return dict((s.strip() for s in ast.literal_eval(e).split("=", 1))
                                for e in v.elts)
    raise AssertionError("setup.py has no console_scripts")


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> Path:
    """install/mn_ros of `colcon build` in a fresh workspace."""
    tmp = tmp_path_factory.mktemp("colcon")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    p = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                        *COLCON], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"pip install {' '.join(COLCON)} failed (the package index is " \
                              f"needed):\n{p.stderr[-2000:]}"
    src = tmp / "ws" / "src" / "mn_ros"
    src.mkdir(parents=True)
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    p = subprocess.run([str(venv / "bin" / "colcon"), "build", "--base-paths", "src",
                        "--event-handlers", "console_direct+"], cwd=tmp / "ws",
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "Finished <<< mn_ros" in p.stdout + p.stderr
    return tmp / "ws" / "install" / "mn_ros"


def test_install_tree_has_executables_index_launch_and_config(install):
    lib = install / "lib" / "mn_ros"
    for name in console_scripts():
        exe = lib / name
        assert exe.is_file() and os.access(exe, os.X_OK), f"{exe} missing"
    assert (install / "share" / "ament_index" / "resource_index" / "packages" /
            "mn_ros").is_file(), "the ament index entry (ros2 pkg / launch find the package)"
    share = install / "share" / "mn_ros"
    assert (share / "package.xml").read_text() == (ROOT / "package.xml").read_text()
    for sub, pattern in (("launch", "*.launch.py"), ("config/ros", "*.yaml"),
                         ("config/train", "*.yaml")):
        want = {p.name for p in (ROOT / sub).glob(pattern)}
        assert want and {p.name for p in (share / sub).glob(pattern)} == want, sub
    site = install / "lib" / PY / "site-packages"
    for pkg in ("mn_ros", "mn_models", "mn_sim"):
        assert (site / pkg / "__init__.py").is_file(), pkg


# run by the installed package's Python (PYTHONPATH: its site-packages, then fake_launch)
CHECK = r"""
import json, runpy, sys
from pathlib import Path
import fake_launch
fake_launch.install()
import mn_ros
from mn_ros import graph
share = Path(sys.argv[1])
out = {"mn_ros": mn_ros.__file__, "config_dir": str(graph.config_dir()), "launch": {}}
for path in sorted((share / "launch").glob("*.launch.py")):
    ld = runpy.run_path(str(path))["generate_launch_description"]()
    declared, made = fake_launch.expand(ld, {"checkpoint": "runs/mn", "record": "true"})
    out["launch"][path.name] = {
        "arguments": sorted(a.args[0] for a in declared),
        "nodes": [{"name": n.kwargs["name"], "executable": n.kwargs["executable"],
                   "files": [p for p in n.kwargs["parameters"] if isinstance(p, str)],
                   "params": sorted(k for p in n.kwargs["parameters"] if isinstance(p, dict)
                                    for k in p)} for n in fake_launch.nodes(made)]}
print(json.dumps(out))
"""


def installed_env(install: Path, extra: list[str] = ()) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(install / "lib" / PY / "site-packages"), *extra])
    env["AMENT_PREFIX_PATH"] = str(install)   # what `source install/setup.bash` sets
    env.pop("MN_ROS_CONFIG_DIR", None)
    return env


def test_installed_launch_files_name_only_what_is_installed(install):
    from mn_ros import graph
    share = install / "share" / "mn_ros"
    p = subprocess.run([sys.executable, "-c", CHECK, str(share)], cwd=install.parent,
                       env=installed_env(install, [str(ROOT / "test" / "ros")]),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert Path(out["mn_ros"]).is_relative_to(install), "the installed package was used"
    assert Path(out["config_dir"]) == share / "config" / "ros"
    assert set(out["launch"]) == {f"{n}.launch.py" for n in graph.PROFILES}
    for name, launch in out["launch"].items():
        profile = graph.get_profile(name.split(".")[0])
        assert launch["arguments"] == sorted(a.name for a in graph.args_for(profile))
        assert [n["name"] for n in launch["nodes"]] == [n.name for n in profile.nodes]
        for node in launch["nodes"]:
            assert (install / "lib" / "mn_ros" / node["executable"]).is_file(), node
            assert node["files"], node
            for f in node["files"]:
                assert Path(f).is_file() and Path(f).is_relative_to(share), f
            known = {a.name for a in graph.ARGS if node["name"] in a.nodes} | {"autostart"}
            assert set(node["params"]) <= known, node


@pytest.mark.ros
def test_an_installed_node_runs(install, tmp_path):
    """lib/mn_ros/mirror_node of the install tree (with this machine's Python: the script's
    own interpreter is the build venv's), on the installed parameter file, up and down."""
    env = installed_env(install)
    env.update(ros_env(new_domain_id(), tmp_path / "roslog"))
    env["PYTHONPATH"] = installed_env(install)["PYTHONPATH"]
    env["AMENT_PREFIX_PATH"] = str(install)
    log = tmp_path / "node.log"
    with open(log, "w") as fh:
        p = subprocess.Popen([sys.executable, str(install / "lib" / "mn_ros" / "mirror_node"),
                              "--ros-args", "-r", "__ns:=/c", "--params-file",
                              str(install / "share" / "mn_ros" / "config" / "ros" /
                                  "mirror.yaml")],
                             cwd=tmp_path, env=env, stdout=fh, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            end = time.monotonic() + 60
            while "state: active" not in log.read_text():
                assert p.poll() is None and time.monotonic() < end, log.read_text()[-2000:]
                time.sleep(0.1)
            os.killpg(p.pid, signal.SIGINT)
            assert p.wait(30) == 0, log.read_text()[-2000:]
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
