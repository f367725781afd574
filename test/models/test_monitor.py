"""The success monitor (mn_models/eval/monitor.py): AUROC with a bootstrap CI, and the signals
of real rollouts of a tiny mn checkpoint (`mn eval ee --monitor`)."""
import math

import numpy as np
import pytest

from mn_models.eval import monitor as M

pytestmark = pytest.mark.usefixtures("one_thread")


def test_auroc_counts_ordered_pairs_and_brackets_it_with_a_bootstrap_ci():
    # positives {0.9, 0.3}, negatives {0.8, 0.1}: 3 of the 4 (pos, neg) pairs are ordered
    a = M.auroc_ci([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], resamples=500)
    assert a["auroc"] == pytest.approx(0.75)
    assert a["ci95"][0] <= 0.75 <= a["ci95"][1] and a["ci95"][0] < a["ci95"][1]
    assert M.auroc_ci([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1])["auroc"] == 1.0
    assert M.auroc_ci([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])["auroc"] == 0.0
    one_class = M.auroc_ci([1, 1], [0.1, 0.2])
    assert math.isnan(one_class["auroc"]) and one_class["positives"] == 2


def test_summary_rates_recognition_of_executions_by_outcome():
    eps = [{"success": s, "monitor": {"cos_final": c, "cos_mean": c, "conf_heatmap": 0.5,
                                      "conf_rotation": 0.5, "recognized_correct": r}}
           for s, c, r in ((True, 0.9, True), (True, 0.7, True), (False, 0.2, False),
                           (False, 0.8, True))]
    s = M.summarize(eps)
    assert s["auroc"]["cos_final"]["auroc"] == pytest.approx(0.75)
    assert s["auroc"]["conf_heatmap"]["auroc"] == pytest.approx(0.5)    # constant: chance
    assert s["recognized_as_given"] == {"all": 0.75, "success": 1.0, "failure": 0.5}
    assert "| mirror cosine, last decision (the mirror node's similarity) | 0.750 |" in M.markdown(s)


def test_episode_mirror_averages_unit_z_e_since_the_reset_and_refuses_bad_vectors():
    from mn_models.runtime import EpisodeMirror
    a, b = np.eye(4)[:2]
    ep = EpisodeMirror()
    assert ep.similarity(a) is None and ep.mean() is None     # no decision yet
    ep.add(3 * a)                                             # lengths do not weigh
    ep.add(0.5 * b)
    assert ep.count == 2 and ep.size == 4
    np.testing.assert_allclose(ep.mean(), (a + b) / np.sqrt(2))
    assert ep.similarity(a) == pytest.approx(1 / np.sqrt(2))
    assert ep.similarity(2 * b) == pytest.approx(1 / np.sqrt(2))
    for bad in (np.zeros(4), np.array([np.nan, 1, 0, 0]), np.ones(3)):
        with pytest.raises(ValueError):
            ep.add(bad)
    assert ep.count == 2                                      # a refused z_e changes nothing
    with pytest.raises(ValueError):
        ep.similarity(np.ones(3))
    ep.reset()
    ep.add(b)
    assert ep.similarity(a) == pytest.approx(0.0, abs=1e-12)   # the earlier z_e are gone


def test_episode_signals_score_the_episode_mean_as_the_mirror_node_does():
    class Watch:                                  # a recognizer that always sees z_u = a
        def watch(self, frames):
            return np.eye(4)[0], "open the top drawer"
    a, b = np.eye(4)[:2]
    sig = M.episode_signals(Watch(), [np.zeros((8, 8, 3), np.uint8)] * 3, [b, a, a],
                            [(0.5, 0.4)] * 3, "open the top drawer")
    assert sig["cos_final"] == pytest.approx(1.0)                       # the last z_e
    assert sig["cos_mean"] == pytest.approx(2 / np.sqrt(5))             # (b + 2a) / |b + 2a|
    assert sig["recognized_correct"] and sig["frames"] == 3


@pytest.fixture(scope="module")
def mn_run(tiny_dataset, tmp_path_factory):
    from pathlib import Path

    from mn_models.train_config import load_train_config
    from mn_models.trainer import train
    cfg = Path(__file__).resolve().parents[2] / "config" / "train" / "tiny_mn.yaml"
    out = tmp_path_factory.mktemp("monitor") / "mn"
    train(load_train_config(str(cfg), [f"data={tiny_dataset}", "steps=2", "batch_size=2",
                                       "threads=1", "log_every=1000", "ckpt_every=2"]), out)
    return out


@pytest.mark.slow
def test_monitor_watches_the_observer_camera_of_each_rollout(mn_run, monkeypatch):
    import torch

    from mn_models.eval.rollout import evaluate_policy
    from mn_models.policy import constants as K
    from mn_models.policy.arp import ARPPolicy
    from mn_sim.env import MNEnv
    env = MNEnv()
    env.reset(seed=0, options={"task": "open_drawer", "variation": 0})
    start = env.sim.tcp_pose()
    env.close()
    # an untrained policy's target is seldom reachable; move it 6 cm from the start pose so
    # that the arm moves (the decision's e and confidences stay the policy's own)
    predict = ARPPolicy.predict

    def reachable(self, batch, *a, **k):
        out = predict(self, batch, *a, **k)
        out[K.ACTIONS][:, :3] = torch.as_tensor(start[:3] + [0.06, 0.0, -0.04])
        out[K.ACTIONS][:, 3:7] = torch.as_tensor(start[3:7])
        return out
    monkeypatch.setattr(ARPPolicy, "predict", reachable)
    from mn_models.runtime import PolicyRunner, RecognizerRunner
    seen, z_us, z_es, acted = [], [], [], []
    watch, act = M.MonitorModels.watch, PolicyRunner.act

    def spy(self, frames):
        seen.append(frames)
        z_us.append(watch(self, frames)[0])
        return z_us[-1], "never an instruction"
    monkeypatch.setattr(M.MonitorModels, "watch", spy)

    predict_ = PolicyRunner.predict
    node = PolicyRunner(mn_run)              # a policy node's runner, beside the evaluation's

    def spy_predict(self, obs, instruction):
        out = predict_(self, obs, instruction)
        if self is not node:
            z_es.append(self.embedding(out))
            acted.append(act(node, obs, instruction))   # the node's call, same observation
        return out
    monkeypatch.setattr(PolicyRunner, "predict", spy_predict)
    res = evaluate_policy(mn_run, ["open_drawer"], episodes=2, max_steps=1, seeds=[0],
                          workers=1, video="none", progress=False, monitor=True)
    assert len(seen) == 2
    for frames, ep in zip(seen, res["episodes"]):
        # the observer camera at the dataset's size, at 20 Hz through the motion: many frames
        assert frames.shape[1:] == (128, 128, 3) and frames.dtype == np.uint8
        assert len(frames) == ep["monitor"]["frames"] > 5
        assert frames[0].std() > 5                      # a rendered scene, not a blank
        m = ep["monitor"]
        # one decision: z_e averaged over the episode is that decision's
        assert m["cos_final"] == pytest.approx(m["cos_mean"], abs=1e-5)
    assert len(z_es) == len(acted) == 2
    # z_e is the policy node's: the same as PolicyRunner.act's embedding for that observation
    for z, (_, z_node, kind) in zip(z_es, acted):
        np.testing.assert_allclose(z, z_node, atol=1e-6)
        assert kind == "z_e"
    # z_u is the observer node's: the frames prepared as it prepares camera frames
    observer = RecognizerRunner(mn_run, open_set=False)
    clip = np.stack([observer.prepare(f) for f in seen[0]])
    np.testing.assert_allclose(z_us[0], observer.recognize(clip).embedding, atol=1e-6)
    for i, ep in enumerate(res["episodes"]):      # one decision per episode: z_e i
        m = ep["monitor"]
        # the cosine of what the recognizer saw with what the policy decided, as the mirror node
        assert m["cos_final"] == pytest.approx(float(z_us[i] @ z_es[i]), abs=1e-6)
        assert abs(float(np.linalg.norm(z_us[i])) - 1) < 1e-5
        assert m["recognized"] == "never an instruction" and not m["recognized_correct"]
        assert 0.0 < m["conf_heatmap"] < 1.0
    assert res["monitor"]["episodes"] == 2
    assert set(res["monitor"]["auroc"]) == set(M.SCORES)


def test_monitor_refuses_a_checkpoint_without_alignment_heads(tiny_dataset, tmp_path):
    from pathlib import Path

    from mn_models.eval.common import EvalError
    from mn_models.train_config import load_train_config
    from mn_models.trainer import train
    cfg = Path(__file__).resolve().parents[2] / "config" / "train" / "tiny_au.yaml"
    train(load_train_config(str(cfg), [f"data={tiny_dataset}", "steps=1", "batch_size=2",
                                       "threads=1", "log_every=1000"]), tmp_path / "au")
    with pytest.raises(EvalError, match="needs a recognizer and alignment heads"):
        M.MonitorModels.from_checkpoint(tmp_path / "au" / "checkpoints" / "step_0000001")
