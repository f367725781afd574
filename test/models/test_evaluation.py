"""The evaluations (`mn eval au|ee|probe|tsne`) on real tiny checkpoints and real data, and their
statistics (confidence intervals, Recall@1 controls, t-SNE) on synthetic inputs."""
import json
import math

import numpy as np
import pytest
import torch

from mn_models import checkpoint as ck
from mn_models.alignment import MirrorAlignment
from mn_models.eval.probe import PairedFeatures, alignment_scores, success_split_scores
from mn_models.eval.stats import format_ci, mean_ci, t_quantile
from mn_models.eval.tsne import tsne
from mn_ros.cli import main


# ------------------------------------------------------------------ statistics
@pytest.mark.parametrize("df,expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622),
                                         (30, 2.0423)])
def test_t_quantile_matches_published_tables(df, expected):
    assert t_quantile(0.95, df) == pytest.approx(expected, abs=1e-4)


def test_mean_ci_uses_the_t_distribution_over_seeds():
    mean, half = mean_ci([0.80, 0.84, 0.76])
    sd = math.sqrt(((0.0 ** 2) + 0.04 ** 2 + 0.04 ** 2) / 2)        # sample sd, n - 1
    assert mean == pytest.approx(0.80)
    assert half == pytest.approx(4.3027 * sd / math.sqrt(3), rel=1e-4)
    assert mean_ci([0.5]) == (0.5, 0.0)
    assert mean_ci([0.3, 0.3, 0.3]) == (pytest.approx(0.3), 0.0)
    assert format_ci(mean, half) == "80.0 ± 9.9"
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])


# ------------------------------------------------------------------ Recall@1 controls
def clustered_features(n_instr=5, per=12, dim=16, noise=0.1, seed=0):
    """u and e of the same instruction sit near the same centre: a perfectly alignable pair."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_instr, dim, generator=g) * 3
    iid = torch.arange(n_instr).repeat_interleave(per)                       # (N,)
    u = centres[iid] + noise * torch.randn(len(iid), dim, generator=g)
    e = centres[iid] + noise * torch.randn(len(iid), dim, generator=g)
    return PairedFeatures(u, e, iid, torch.zeros_like(iid), torch.arange(len(iid)),
                          [f"instruction {i}" for i in range(n_instr)], ["task"])


def identity_probe_checkpoint(folder, dim=16):
    ali = MirrorAlignment(dim, dim, dim_z=dim, tau=0.1)
    with torch.no_grad():
        for layer in (ali.T_u, ali.T_e):
            layer.weight.copy_(torch.eye(dim))
            layer.bias.zero_()
    return ck.save_checkpoint(folder, kind="probe", step=0, config={"mode": "probe"},
                              modules={"alignment": ali},
                              model_configs={"alignment": ali.config()},
                              vocab={"instructions": [], "tasks": []})


def test_aligned_pairs_score_high_and_shuffled_pairs_sit_at_chance(tmp_path):
    path = identity_probe_checkpoint(tmp_path / "probe")
    ali = ck.build_alignment(ck.open_checkpoint(path, need=("alignment",)))
    feats = clustered_features()
    s = alignment_scores(ali, feats, "instruction")
    assert s["recall_at_1"] == 1.0 and s["chance"] == pytest.approx(0.2)
    sh = alignment_scores(ali, feats, "instruction", shuffle=True, repeats=30, seed=1)
    assert sh["aligned_recall_at_1"] == 1.0
    assert abs(sh["recall_at_1"] - sh["chance"]) < 0.05, sh
    # per task (instructions 0-2 are task a, 3-4 task b; 16 items each), pairs by task: a
    # random retrieval hits for 48 of 80 items in a, 32 of 80 in b; the aligned pairs are
    # retrieved, the shuffled ones sit at each task's own chance
    f = clustered_features(per=16)
    f = PairedFeatures(f.u, f.e, f.instruction_id, (f.instruction_id >= 3).long(),
                       f.episode_id, f.instructions, ["a", "b"])
    sh = alignment_scores(ali, f, "task", shuffle=True, repeats=40, seed=1)
    assert sh["per_task_chance"] == pytest.approx({"a": 0.6, "b": 0.4})
    assert sh["aligned_per_task"] == {"a": 1.0, "b": 1.0}
    assert sh["aligned_recall_u2e"] == sh["aligned_recall_e2u"] == 1.0
    for t in "ab":
        assert abs(sh["per_task"][t] - sh["per_task_chance"][t]) < 0.1, sh
    assert abs(sh["recall_u2e"] - 0.52) < 0.1 and abs(sh["recall_e2u"] - 0.52) < 0.1, sh
    # a probe whose T_e scrambles the policy space does not align the pairs
    with torch.no_grad():
        ali.T_e.weight.copy_(torch.randn(16, 16, generator=torch.Generator().manual_seed(0)))
    assert alignment_scores(ali, feats, "instruction")["recall_at_1"] < 0.5


def test_success_split_uses_equal_sample_sizes(tmp_path):
    ali = ck.build_alignment(ck.open_checkpoint(identity_probe_checkpoint(tmp_path / "p")))
    feats = clustered_features(per=12)
    g = torch.Generator().manual_seed(3)
    failed = torch.arange(len(feats)) % 3 == 0               # 20 failures, 40 successes
    feats.e[failed] = torch.randn(int(failed.sum()), 16, generator=g) * 3   # broken execution
    success = {int(i): not bool(f) for i, f in zip(feats.episode_id, failed)}
    out = success_split_scores(ali, feats, success, "instruction", repeats=5)
    assert out["samples_per_subset"] == 20
    assert out["episodes"] == {"success": 40, "failure": 20}
    assert out["success"]["recall_at_1"] > 0.95 > out["failure"]["recall_at_1"] + 0.3
    lone = success_split_scores(ali, feats, {k: True for k in success} | {0: False})
    assert lone["failure"]["recall_at_1"] is None and "fewer than 2" in lone["note"]


# ------------------------------------------------------------------ t-SNE
def test_tsne_separates_clusters_and_is_seeded():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    X = rng.normal(0, 6, (3, 10))[labels] + rng.normal(0, 1, (60, 10))
    # 1000 iterations (the default): at 300 only 75 run with early exaggeration, and whether
    # one point is left between clusters then depends on the machine's BLAS (seen: 59/60)
    Y, kl = tsne(X, perplexity=10, n_iter=1000, seed=0, return_kl=True)
    assert Y.shape == (60, 2) and np.isfinite(Y).all() and kl < 0.5
    D = ((Y[:, None] - Y[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    assert (labels[D.argmin(1)] == labels).mean() == 1.0
    assert np.array_equal(Y, tsne(X, perplexity=10, n_iter=1000, seed=0))
    with pytest.raises(ValueError, match="N >= 3"):
        tsne(X[:2])


# ------------------------------------------------------------------ rollout plan
def test_rollout_scenes_are_unseen_and_variations_round_robin():
    from mn_models.eval.rollout import plan_jobs, rollout_seed
    from mn_sim.collect import episode_seed
    seeds = {rollout_seed(0, "open_drawer", k) for k in range(25)}
    assert len(seeds) == 25
    assert not seeds & {episode_seed(0, "open_drawer", k) for k in range(200)}
    jobs = plan_jobs(["open_drawer"], 7, [0, 1])
    assert [j.variation for j in jobs[:7]] == [0, 1, 2, 0, 1, 2, 0]
    assert sum(bool(j.video) for j in jobs) == 1 and jobs[0].video.endswith("open_drawer.mp4")
    every = plan_jobs(["open_drawer"], 2, [0, 1], video="all", video_dir="v")
    assert [j.video for j in every] == [f"v/open_drawer_seed{s}_ep{k}.mp4"
                                        for s in (0, 1) for k in (0, 1)]
    assert not any(j.video for j in plan_jobs(["open_drawer"], 2, [0], video="none"))
    assert jobs[0].scene_seed != jobs[7].scene_seed          # seed 1 plays other scenes


def test_rollout_variations_can_be_chosen_per_task():
    from mn_models.eval.common import EvalError
    from mn_models.eval.rollout import parse_variations, plan_jobs
    tasks = ["open_drawer", "push_buttons"]
    assert parse_variations("", tasks) == {"open_drawer": None, "push_buttons": None}
    assert parse_variations("1", tasks) == {"open_drawer": [1], "push_buttons": [1]}
    chosen = parse_variations("push_buttons=0,3", tasks)
    assert chosen == {"open_drawer": None, "push_buttons": [0, 3]}
    jobs = plan_jobs(tasks, 4, [0], variations=chosen)
    assert [j.variation for j in jobs] == [0, 1, 2, 0, 0, 3, 0, 3]
    with pytest.raises(EvalError, match="turn_tap"):
        parse_variations("turn_tap=0", tasks)
    with pytest.raises(EvalError, match="integers"):
        parse_variations("push_buttons=x", tasks)
    with pytest.raises(EvalError, match="0..2"):
        plan_jobs(tasks, 1, [0], variations={"open_drawer": [3]})


# ------------------------------------------------------------------ the commands, real models
@pytest.fixture(scope="module")
def runs(tiny_dataset, tmp_path_factory):
    """au, ee and probe runs trained for 2 steps each on the shared tiny dataset."""
    from pathlib import Path

    from mn_models.train_config import load_train_config
    from mn_models.trainer import train
    cfg_dir = Path(__file__).resolve().parents[2] / "config" / "train"
    root = tmp_path_factory.mktemp("eval_runs")
    common = [f"data={tiny_dataset}", "log_every=1000", "threads=1", "val_fraction=0.25",
              "steps=2", "ckpt_every=1", "keep_checkpoints=5"]

    def run(mode, *extra):
        train(load_train_config(str(cfg_dir / f"tiny_{mode}.yaml"), common + list(extra)),
              root / mode)
        return root / mode

    au, ee = run("au", "batch_size=4"), run("ee", "batch_size=2")
    probe = run("probe", f"au_checkpoint={au}", f"ee_checkpoint={ee}", "batch_size=8")
    return {"data": str(tiny_dataset), "au": str(au), "ee": str(ee), "probe": str(probe)}


def eval_json(capsys, *args):
    assert main(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_eval_au_prints_accuracy_per_task_and_writes_tables(runs, tmp_path, capsys):
    out = tmp_path / "au"
    res = eval_json(capsys, "au", "--checkpoint", runs["au"], runs["au"], "--data", runs["data"],
                    "--split", "all", "--out", str(out))
    saved = json.loads((out / "results.json").read_text())
    # every canonical instruction of both tasks is a candidate (3 drawers + 2 taps)
    assert saved["runs"][0]["num_candidates"] == 5
    # the accuracies, recounted here video by video from the recognizer's own choices
    from mn_models.data import MirrorData
    from mn_sim.describe import canonical_instructions
    rec = ck.build_recognizer(ck.open_checkpoint(runs["au"])).eval()
    candidates = sorted(i for v in canonical_instructions(["open_drawer", "turn_tap"]).values()
                        for i in v)
    d = MirrorData(runs["data"], split="all", clip_size=rec.config.image_size,
                   need_samples=False)
    hits: dict[str, list[bool]] = {}
    with torch.no_grad():
        for r in d.records:
            k, _ = rec.recognize(torch.from_numpy(d.clip(r, rec.config.num_frames, None)[None]),
                                 candidates)
            hits.setdefault(r.task, []).append(candidates[int(k)] == r.instruction)
    assert {t: len(h) for t, h in hits.items()} == {"open_drawer": 4, "turn_tap": 4}
    want = {t: sum(h) / len(h) for t, h in hits.items()}
    assert res["per_task"] == pytest.approx(want)
    assert res["accuracy"] == pytest.approx((want["open_drawer"] + want["turn_tap"]) / 2)
    assert res["accuracy_ci95"] == 0.0 and res["seeds"] == 2        # same checkpoint twice
    assert "| open_drawer | turn_tap | Avg. |" in (out / "results.md").read_text()
    assert (out / "per_task.png").stat().st_size > 1000


@pytest.mark.slow
def test_eval_ee_rolls_out_in_two_processes_and_saves_a_video(runs, capsys, tmp_path):
    res = eval_json(capsys, "ee", "--checkpoint", runs["ee"], "--tasks", "open_drawer",
                    "--episodes", "1", "--seeds", "0,1", "--max-steps", "2", "--workers", "2")
    assert set(res) >= {"success_rate", "per_task"} and list(res["per_task"]) == ["open_drawer"]
    assert res["seeds"] == [0, 1]
    out = ck.latest_checkpoint(runs["ee"]).parent.parent / "eval_ee"    # default: <run>/eval_ee
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["episodes"]) == 2
    # the rates are the episodes' outcomes: one episode per seed here
    by_seed = {str(e["eval_seed"]): float(e["success"]) for e in saved["episodes"]}
    assert {s: v["success_rate"] for s, v in saved["per_seed"].items()} == by_seed
    assert res["success_rate"] == pytest.approx(sum(by_seed.values()) / 2)
    for ep in saved["episodes"]:
        # an episode ends on success, on the task's own failure (IK, collision) or at the step
        # limit, which only the second step can reach
        reason = ep["failure_reason"]
        assert ep["success"] is (reason == ""), ep
        assert reason.split(":")[0] in ("", "step limit", "ik", "collision"), ep
        assert ep["steps"] == 2 if reason == "step limit" else ep["steps"] in (1, 2), ep
    assert (out / "open_drawer.mp4").stat().st_size > 1000
    import av
    with av.open(str(out / "open_drawer.mp4")) as c:          # for people: >= 256 px
        assert (c.streams.video[0].width, c.streams.video[0].height) == (256, 256)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    # the instruction band on top (dark), the outcome held at the end (green / red text)
    assert frames[0][:12].mean() < frames[0][40:].mean()
    first = next(e for e in saved["episodes"] if e["eval_seed"] == 0 and e["index"] == 0)
    bottom = frames[-1][-22:].reshape(-1, 3).astype(int)   # the outcome band
    hue = (bottom[:, 1] > 140) & (bottom[:, 0] < 90) if first["success"] else \
        (bottom[:, 0] > 150) & (bottom[:, 1] < 90)
    assert hue.sum() > 20
    every = tmp_path / "all"
    eval_json(capsys, "ee", "--checkpoint", runs["ee"], "--tasks", "open_drawer",
              "--episodes", "2", "--max-steps", "1", "--workers", "1", "--videos",
              "--out", str(every))
    assert sorted(p.name for p in every.glob("*.mp4")) == [
        "open_drawer_seed0_ep0.mp4", "open_drawer_seed0_ep1.mp4"]


def _raise_in_policy(*args, **kwargs):
    raise ZeroDivisionError("deliberate bug in the policy")


@pytest.mark.slow
def test_eval_ee_stops_on_an_exception_in_the_policy(runs, monkeypatch):
    """A bug in the policy is not a failed episode: the evaluation stops with the traceback."""
    from mn_models.eval.rollout import RolloutError, plan_jobs, run_jobs
    from mn_models.policy.arp import ARPPolicy
    monkeypatch.setattr(ARPPolicy, "predict", _raise_in_policy)
    jobs = plan_jobs(["open_drawer"], 2, [0], video="none")
    with pytest.raises(RolloutError) as err:
        run_jobs(runs["ee"], jobs, max_steps=2, workers=1, progress=False)
    msg = str(err.value)
    assert msg.startswith("episode 0 of open_drawer (variation 0, evaluation seed 0")
    assert "ZeroDivisionError: deliberate bug in the policy" in msg
    assert "Traceback" in msg and "in _raise_in_policy" in msg
    # the command does not report it as a usage error (exit 2) or as a success rate
    with pytest.raises(RolloutError, match="deliberate bug in the policy"):
        main(["eval", "ee", "--checkpoint", runs["ee"], "--tasks", "open_drawer", "--episodes",
              "1", "--max-steps", "2", "--workers", "1", "--no-video", "--json"])


def _nan_actions(self, batch, *a, **k):
    from mn_models.policy import constants as K
    return {K.ACTIONS: torch.full((1, 9), float("nan")),
            K.EMBEDDING: torch.zeros(1, self.cfg.policy_dim)}


def _unreachable_actions(self, batch, *a, **k):
    from mn_models.policy import constants as K
    far = torch.tensor([[2.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0]])   # 2 m out: no IK
    return {K.ACTIONS: far, K.EMBEDDING: torch.zeros(1, self.cfg.policy_dim)}


@pytest.mark.slow
def test_eval_ee_stops_on_a_nan_action_but_counts_an_unreachable_pose_as_a_failure(runs,
                                                                                    monkeypatch):
    """A policy that outputs NaN has a bug: `mn eval ee` stops with an error naming the NaN.
    A pose the arm cannot reach is the task's own failure (IK): a failed episode."""
    from mn_models.eval.rollout import RolloutError, evaluate_policy
    from mn_models.policy.arp import ARPPolicy
    kw = dict(tasks=["open_drawer"], episodes=1, max_steps=2, workers=1, video="none",
              progress=False)
    monkeypatch.setattr(ARPPolicy, "predict", _nan_actions)
    with pytest.raises(RolloutError) as err:
        evaluate_policy(runs["ee"], **kw)
    msg = str(err.value)
    assert msg.startswith("episode 0 of open_drawer (variation 0, evaluation seed 0")
    assert "raised InvalidActionError: malformed action: it contains NaN or inf" in msg
    assert "Traceback" in msg and "in step" in msg
    monkeypatch.setattr(ARPPolicy, "predict", _unreachable_actions)
    res = evaluate_policy(runs["ee"], **kw)
    (ep,) = res["episodes"]
    assert ep["failure_reason"].startswith("ik: target pose unreachable"), ep
    assert not ep["success"] and ep["steps"] == 1 and res["success_rate"] == 0.0


@pytest.mark.slow
def test_eval_ee_stops_on_an_exception_in_a_worker_process(runs):
    """Same from a spawned worker, here for an exception in the simulator (an episode asking
    for a variation the task does not have): the error names the job and carries the worker's
    traceback."""
    from mn_models.eval.rollout import RolloutError, RolloutJob, run_jobs
    jobs = [RolloutJob("open_drawer", 0, 11, index=0), RolloutJob("open_drawer", 99, 12, index=1)]
    with pytest.raises(RolloutError) as err:
        run_jobs(runs["ee"], jobs, max_steps=1, workers=2, progress=False)
    msg = str(err.value)
    assert msg.startswith("episode 1 of open_drawer (variation 99, evaluation seed 0, "
                          "scene seed 12) raised ValueError")
    assert "has variations 0..2; got 99" in msg
    assert "Traceback" in msg and "in reset" in msg          # the worker's own traceback
    assert "RemoteTraceback" not in msg and err.value.__cause__ is None


@pytest.mark.slow
def test_eval_probe_recall_shuffle_series_and_success_split(runs, tmp_path, capsys):
    args = ["--probe", runs["probe"], "--au", runs["au"], "--ee", runs["ee"],
            "--data", runs["data"], "--split", "all", "--out", str(tmp_path)]
    res = eval_json(capsys, "probe", *args)
    # chance: the mean share of held-out samples carrying a sample's instruction, counted here
    from collections import Counter

    from mn_models.data import MirrorData
    d = MirrorData(runs["data"], split="all", need_clips=False)
    ids = [d.records[r].instruction_id for r, _ in d.index]
    n = Counter(ids)
    assert json.loads((tmp_path / "results.json").read_text())["samples"] == len(ids)
    assert res["chance"] == pytest.approx(sum(n[i] for i in ids) / len(ids) ** 2)
    sh = eval_json(capsys, "probe", *args, "--shuffle")
    assert sh["aligned_recall_at_1"] == pytest.approx(res["recall_at_1"])
    assert abs(sh["recall_at_1"] - sh["chance"]) < 0.15
    ss = eval_json(capsys, "probe", *args, "--success-split", "--success-source", "flags")
    assert ss["success_split"]["failure"] is None       # collected episodes are all successes
    series = eval_json(capsys, "probe", "--series", runs["probe"], "--data", runs["data"],
                       "--split", "all", "--out", str(tmp_path))
    assert [s["step"] for s in series["series"]] == [1, 2]
    assert (tmp_path / "recall_vs_step.png").stat().st_size > 1000
    assert "aligned pairs" in (tmp_path / "results.md").read_text()


@pytest.mark.slow
def test_eval_tsne_writes_the_figure(runs, tmp_path, capsys):
    png = tmp_path / "fig6.png"
    res = eval_json(capsys, "tsne", "--checkpoint", runs["probe"], "--data", runs["data"],
                    "--split", "all", "--out", str(png), "--iterations", "250")
    assert res["png"] == str(png)
    assert png.stat().st_size > 5000
    pts = json.loads(png.with_suffix(".json").read_text())
    # one z_u per episode (8) and one z_e per keyframe sample, all under the default cap
    from mn_models.data import MirrorData
    samples = len(MirrorData(runs["data"], split="all", need_clips=False).index)
    assert pts["modality"] == ["u"] * 8 + ["e"] * samples
    assert res["points"] == len(pts["y"]) == 8 + samples


def test_bad_inputs_are_clear_errors(tmp_path, capsys):
    assert main(["eval", "au", "--checkpoint", str(tmp_path / "none"), "--data",
                 str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    identity_probe_checkpoint(tmp_path / "p")
    assert main(["eval", "ee", "--checkpoint", str(tmp_path / "p")]) == 2
    assert "needs a checkpoint of kind ee or mn" in capsys.readouterr().err
    assert main(["eval", "probe", "--data", str(tmp_path)]) == 2
    assert "--probe" in capsys.readouterr().err


def test_probe_reports_the_runtime_feature_first_and_teacher_forced_beside(runs):
    """The mirror node compares z_e of the policy's own decoding; the probe's primary number
    must be measured on that feature, not on the training forward that feeds the answer in."""
    from mn_models.eval import probe as P
    m = P.load_models(runs["probe"])
    d = P.load_pairs_data(m, runs["data"], "all")
    run = P.paired_features(m.recognizer, m.policy, d, m.tokenizer, feature="runtime")
    tf = P.paired_features(m.recognizer, m.policy, d, m.tokenizer, feature="teacher_forced")
    batch = d.ee_batch(list(range(min(4, len(d.index)))), m.tokenizer)
    _, e = m.policy.predict_action(batch)
    torch.testing.assert_close(run.e[:len(e)], e.float())          # what the policy node gets
    assert not torch.allclose(run.e, tf.e), "teacher-forced e must differ from the runtime e"
    res = P.evaluate_probe(runs["probe"], runs["data"], split="all")
    assert res["feature"] == "runtime"
    assert res["recall_at_1"] == P.alignment_scores(m.alignment, run, m.strategy)["recall_at_1"]
    assert res["teacher_forced"]["recall_at_1"] == \
        P.alignment_scores(m.alignment, tf, m.strategy)["recall_at_1"]
    with pytest.raises(ValueError, match="feature must be one of"):
        P.paired_features(m.recognizer, m.policy, d, m.tokenizer, feature="oracle")
