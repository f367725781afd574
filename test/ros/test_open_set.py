"""'None of these' (issue 13, point 5): a tiny recognizer trained on a tiny dataset made here,
its open-set rule calibrated on the val split and non-task videos only, the observer node
answering 'none' to grey camera frames, the mirror node saying 'unknown' when a side abstains."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from ros_helpers import Client, NodeProcess, new_domain_id, ros_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
TASKS = ["open_drawer", "turn_tap"]
NS = "os"
SEC = 1_000_000_000


def _collect(out: Path, episodes: int, seed: int) -> None:
    from mn_sim.collect import CollectConfig, collect
    summary = collect(CollectConfig(tasks=TASKS, episodes_per_task=episodes, out=out,
                                    variations=[0], seed=seed, workers=0, frame_rate=10,
                                    image_size=32, masks=False, video=False))
    assert summary.ok, str(summary)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> dict:
    """A tiny au run trained 300 steps on 2 x 6 demonstrations (half held out), non-task videos
    of seed 0, and `mn calibrate` on them."""
    from mn_models.train_config import load_train_config
    from mn_models.trainer import Trainer
    from mn_ros.cli import main
    from mn_sim import nontask

    tmp = tmp_path_factory.mktemp("open_set")
    _collect(tmp / "data", 6, seed=0)
    cfg = load_train_config(str(ROOT / "config/train/tiny_au.yaml"),
                            [f"data={tmp / 'data'}", "steps=300", "threads=1", "seed=0",
                             "val_fraction=0.5", "log_every=100", "ckpt_every=300"])
    Trainer(cfg, tmp / "run").train()
    nontask.generate(tmp / "nt_val", per_kind=2, seed=0, exclude_tasks=TASKS, image_size=32,
                     log=lambda m: None)
    rc = main(["calibrate", "--checkpoint", str(tmp / "run"), "--data", str(tmp / "data"),
               "--nontask", str(tmp / "nt_val"), "--nontask-seed", "0"])
    assert rc == 0
    return {"tmp": tmp, "run": tmp / "run", "data": tmp / "data", "nt_val": tmp / "nt_val"}


def _ckpt(run: Path):
    from mn_models.checkpoint import open_checkpoint
    return open_checkpoint(run, need=("recognizer",))


def test_calibration_uses_only_the_val_split(calibrated):
    """The rule is written beside the weights and is what the val split and the calibration
    non-task videos give: the known videos are exactly the held-out episodes, and the stored
    threshold is Youden's threshold of their statistic."""
    import torch

    from mn_models.checkpoint import build_recognizer
    from mn_models.eval import open_set
    c = _ckpt(calibrated["run"])
    rule = open_set.load_rule(c.path)
    assert (c.path / open_set.SIDECAR).is_file() and rule is not None
    held_out = c.meta["split"]["held_out"]
    cal = rule.calibration
    assert cal["split"] == "val" and cal["known"] == len(held_out) >= 2
    assert cal["unknown"] == 10 and cal["nontask_seed"] == 0
    assert set(cal["per_statistic"]) == set(open_set.STATISTICS)
    assert rule.statistic == max(cal["per_statistic"],
                                 key=lambda s: cal["per_statistic"][s]["auroc"])
    # recompute from the val split alone: the same threshold
    torch.set_num_threads(1)
    rec = build_recognizer(c).eval()
    vocab = c.meta["instructions"]
    val, ids, _ = open_set._known_clips(calibrated["data"], "val", c, rec)
    assert len(val) == len(held_out)
    un, _ = open_set._nontask_clips(calibrated["nt_val"], rec.config.image_size,
                                    rec.config.num_frames)
    known = open_set.score_clips(rec, val, vocab, rule.reference())[rule.statistic]
    unknown = open_set.score_clips(rec, un, vocab, rule.reference())[rule.statistic]
    assert rule.threshold == pytest.approx(open_set.youden_threshold(known, unknown), abs=1e-6)


def test_evaluation_refuses_calibration_videos_and_reports_on_test_ones(calibrated, tmp_path,
                                                                       capsys):
    from mn_ros.cli import main
    from mn_sim import nontask
    run, data, nt_val = (str(calibrated[k]) for k in ("run", "data", "nt_val"))
    base = ["calibrate", "--evaluate", "--checkpoint", run]
    assert main(base + ["--data", data, "--nontask", nt_val, "--nontask-seed", "0"]) == 2
    assert "is the calibration dataset" in capsys.readouterr().err
    _collect(tmp_path / "test", 2, seed=1)
    assert main(base + ["--data", str(tmp_path / "test"), "--nontask", nt_val,
                        "--nontask-seed", "0"]) == 2
    assert "has the calibration non-task videos" in capsys.readouterr().err
    nontask.generate(tmp_path / "nt_test", per_kind=1, seed=1, exclude_tasks=TASKS,
                     image_size=32, log=lambda m: None)
    out = tmp_path / "report"
    assert main(base + ["--data", str(tmp_path / "test"), "--nontask",
                        str(tmp_path / "nt_test"), "--nontask-seed", "1",
                        "--out", str(out)]) == 0
    res = json.loads((out / "open_set.json").read_text())
    assert 0.0 <= res["auroc"] <= 1.0 and res["known"] == 4 and res["unknown"] == 5
    assert set(res["false_recognition_by_kind"]) == {"static", "grey", "noise", "random_arm",
                                                     "other_task"}
    assert res["calibration"]["nontask_seed"] == 0 and res["test_nontask_seed"] == 1
    md = (out / "open_set.md").read_text()
    assert "false-recognition rate at the threshold" in md and "mn calibrate" in md


def test_runner_answers_none_to_grey_frames(calibrated):
    from mn_models.runtime import RecognizerRunner
    grey = np.full((24, 32, 32, 3), 128, np.uint8)
    r = RecognizerRunner(calibrated["run"])
    out = r.recognize(grey)
    assert out.abstained and out.instruction == "none"
    assert out.open_set["value"] < out.open_set["threshold"]
    assert out.top_k[0][0] in r.instructions          # the ranking is still published
    plain = RecognizerRunner(calibrated["run"], open_set=False).recognize(grey)
    assert not plain.abstained and plain.instruction == out.top_k[0][0]


def test_observer_node_answers_none_to_grey_camera_frames(calibrated, tmp_path):
    """Uniform grey frames from a 640x480 bgr8 camera: the observer says 'none'."""
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from mn_ros import conversions as cv
    from mn_ros import topics as T
    from mn_ros.node_common import COMMAND_QOS, IMAGE_QOS, LATCHED_QOS
    domain = new_domain_id()
    node = NodeProcess("mn_ros.observer_node", NS, ros_env(domain, tmp_path / "roslog"),
                       tmp_path / "observer.log", {"checkpoint": str(calibrated["run"]),
                                                   "recognize_every": 8})
    c = Client(domain, NS)
    try:
        pub = c.node.create_publisher(Image, T.VIDEO, IMAGE_QOS)
        c.listen(String, T.RECOGNIZED, COMMAND_QOS, "label")
        c.listen(String, T.SCORES, COMMAND_QOS, "scores")
        c.listen(String, f"/{NS}/observer/state", LATCHED_QOS, "state")
        c.spin_until(lambda: c.inbox["state"] and c.inbox["state"][-1].data == "active", 90,
                     "observer active")
        c.wait_subscribers(pub)
        assert "open-set rule: " in node.log()
        grey = np.full((480, 640, 3), 128, np.uint8)
        t0 = time.time_ns()
        for i in range(16):
            pub.publish(cv.image_to_msg(grey, "bgr8", t0 + i * SEC // 20, "cam_optical"))
            time.sleep(1 / 30)
        c.spin_until(lambda: c.inbox["label"] and c.inbox["scores"], 30, "a recognition")
        assert [m.data for m in c.inbox["label"]] == ["none"] * len(c.inbox["label"])
        scores = json.loads(c.inbox["scores"][-1].data)
        assert scores["abstained"] is True and scores["instruction"] == "none"
        assert scores["open_set"]["value"] < scores["open_set"]["threshold"]
    finally:
        c.close()
        node.stop()


def test_mirror_says_unknown_when_either_side_abstains(tmp_path):
    from std_msgs.msg import Bool, Float32MultiArray, String

    from mn_ros import conversions as cv
    from mn_ros import topics as T
    from mn_ros.node_common import COMMAND_QOS, LATCHED_QOS
    domain = new_domain_id()
    node = NodeProcess("mn_ros.mirror_node", NS, ros_env(domain, tmp_path / "roslog"),
                       tmp_path / "mirror.log", {"threshold": 0.5})
    c = Client(domain, NS)
    try:
        emb = c.node.create_publisher(Float32MultiArray, T.EMBEDDING, COMMAND_QOS)
        seen = c.node.create_publisher(String, T.RECOGNIZED, COMMAND_QOS)
        told = c.node.create_publisher(String, T.INSTRUCTION, COMMAND_QOS)
        c.listen(String, T.VERDICT, COMMAND_QOS, "verdict")
        c.listen(Bool, T.MATCH, COMMAND_QOS, "match")
        c.listen(String, f"/{NS}/mirror/state", LATCHED_QOS, "state")
        c.spin_until(lambda: c.inbox["state"] and c.inbox["state"][-1].data == "active", 60,
                     "mirror active")
        for p in (emb, seen, told):
            c.wait_subscribers(p)
        z = np.eye(8, dtype=np.float32)[0]

        def verdict_after(send, want: str) -> None:
            n = len(c.inbox["verdict"])
            send()
            c.spin_until(lambda: len(c.inbox["verdict"]) > n and len(c.inbox["match"]) > n,
                         20, f"verdict {want}")
            c.spin_until(lambda: c.inbox["verdict"][-1].data == want, 5, f"verdict {want}")
            assert c.inbox["match"][-1].data is (want == "match")

        told.publish(String(data="open the bottom drawer"))
        seen.publish(String(data="open the bottom drawer"))
        emb.publish(cv.embedding_to_msg(z, "z_e", "/test/policy"))
        verdict_after(lambda: emb.publish(cv.embedding_to_msg(z, "z_u", "/test/observer")),
                      "match")            # cosine 1: the same action seen and done
        verdict_after(lambda: seen.publish(String(data="none")), "unknown")   # observer abstains
        verdict_after(lambda: seen.publish(String(data="open the bottom drawer")), "match")
        verdict_after(lambda: told.publish(String(data="none")), "unknown")   # policy side
        verdict_after(lambda: told.publish(String(data="turn left tap")), "match")
        verdict_after(lambda: emb.publish(cv.embedding_to_msg(-z, "z_u", "/test/observer")),
                      "mismatch")
    finally:
        c.close()
        node.stop()
