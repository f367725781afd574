"""The policy node drives the sim node to success, over ROS, with a tiny checkpoint trained here.

Two push_buttons demonstrations (variation 0, "push the maroon button") are collected, a tiny
ee policy is trained on them for 300 steps without augmentation (~2 min on one core), and the
sim node is reset to the scene of the first demonstration. The policy node, given the
instruction, must press the button: task_status reports success. This is a training scene (a
tiny policy trained for minutes does not generalise; `mn eval ee` measures that on unseen
scenes): what the test checks is the whole loop -- cameras and poses over ROS into the policy,
its targets and gripper commands back into the simulator, the episode ending on success.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ros_helpers import Client, NodeProcess, new_domain_id, ros_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
NS = "ps"
TASK, INSTRUCTION = "push_buttons", "push the maroon button"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, int]:
    """(a tiny ee checkpoint that presses the button in its training scenes, a scene seed)."""
    from mn_models.train_config import load_train_config
    from mn_models.trainer import Trainer
    from mn_sim.collect import CollectConfig, collect
    from mn_sim.dataset import DemoDataset

    tmp = tmp_path_factory.mktemp("policy_success")
    summary = collect(CollectConfig(tasks=[TASK], episodes_per_task=2, out=tmp / "data",
                                    variations=[0], seed=0, workers=0, frame_rate=None,
                                    video=False))
    assert summary.ok, str(summary)
    cfg = load_train_config(str(ROOT / "config/train/tiny_ee.yaml"),
                            [f"data={tmp / 'data'}", "steps=300", "threads=1", "seed=0",
                             "val_fraction=0", "log_every=100", "ckpt_every=300",
                             "policy_overrides.augment=false"])
    Trainer(cfg, tmp / "run").train()
    ep = DemoDataset(tmp / "data", tasks=[TASK])[0]
    return tmp / "run", int(ep.seed)


def test_policy_node_presses_the_button_in_the_sim(trained, tmp_path):
    from std_msgs.msg import String

    from mn_ros import topics as T
    from mn_ros.node_common import COMMAND_QOS, LATCHED_QOS

    run, seed = trained
    env = ros_env(new_domain_id(), tmp_path / "roslog")
    sim = NodeProcess("mn_ros.sim_node", NS, env, tmp_path / "sim.log",
                      {"task": TASK, "variation": 0, "video_rate_hz": 5.0})
    policy = NodeProcess("mn_ros.policy_node", NS, env, tmp_path / "policy.log",
                         {"checkpoint": str(run), "max_steps": 6})
    c = Client(int(env["ROS_DOMAIN_ID"]), NS)
    try:
        c.listen(String, T.TASK_STATUS, LATCHED_QOS, "status")
        reset = c.node.create_publisher(String, T.RESET, COMMAND_QOS)
        instruction = c.node.create_publisher(String, T.INSTRUCTION, COMMAND_QOS)
        sim.wait_log(r"state: active", 180)
        policy.wait_log(r"state: active", 180)

        def last() -> dict:
            return json.loads(c.inbox["status"][-1].data) if c.inbox["status"] else {}

        c.wait_subscribers(reset)
        reset.publish(String(data=json.dumps({"task": TASK, "variation": 0, "seed": seed})))
        c.spin_until(lambda: last().get("seed") == seed and last().get("step") == 0, 60,
                     "the reset to the demonstration's scene")
        assert last()["instruction"] == INSTRUCTION
        c.wait_subscribers(instruction)
        instruction.publish(String(data=INSTRUCTION))
        c.spin_until(lambda: last().get("done"), 180, "the end of the episode")
        assert last()["success"], (last(), policy.log()[-3000:], sim.log()[-3000:])
        assert 1 <= last()["step"] <= 6
    finally:
        c.close()
        assert policy.stop() == 0, policy.log()[-2000:]
        assert sim.stop() == 0, sim.log()[-2000:]
