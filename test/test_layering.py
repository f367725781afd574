"""The ROS-free core stays ROS-free: importing mn_models and mn_sim loads no rclpy or messages."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_imports_no_ros():
    code = (
        "import sys, json, pkgutil, importlib\n"
        "import mn_models, mn_sim\n"
        "for pkg in (mn_models, mn_sim):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if m.name.endswith('rlbench_backend'):\n"
        "            continue\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] == 'rclpy' or "
        "k.split('.')[0].endswith(('_msgs', '_srvs')))\n"
        "print(json.dumps(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_no_ros_import_statements_in_core():
    import re
    # nor the node package: mn_models and mn_sim sit below mn_ros
    pat = re.compile(r"^\s*(import|from)\s+(rclpy|[a-z_]+_msgs|[a-z_]+_srvs|mn_ros)\b", re.M)
    hits = [str(p.relative_to(ROOT)) for d in ("mn_models", "mn_sim")
            for p in (ROOT / d).rglob("*.py") if pat.search(p.read_text())]
    assert hits == []
