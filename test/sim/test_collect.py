"""`mn collect` with a fake environment: plan, retries, workers, resume after SIGKILL."""
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))  # spawned workers inherit sys.path
import fake_demo_env  # noqa: E402

from mn_ros import cli  # noqa: E402
from mn_sim.collect import (CollectConfig, Job, _Lock, collect, episode_seed,  # noqa: E402
                            plan)
from mn_sim.dataset import DemoDataset, episodes_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FAST = dict(env_factory="fake_demo_env:FakeEnv", catalog="fake_demo_env", image_size=16,
            cameras=("front", "wrist"), log_every=0.0)


def config(out, tasks=("fake_reach", "fake_push"), n=4, **kw):
    return CollectConfig(tasks=list(tasks), episodes_per_task=n, out=out,
                         **{"workers": 0, **FAST, **kw})


def expected_seed(seed, task, k, max_attempts=10):
    """First attempt seed the fake expert succeeds with, and how many failed before it."""
    for a in range(max_attempts):
        s = episode_seed(seed, task, k, a)
        if not fake_demo_env.fails(task, s):
            return s, a
    return None, max_attempts


def episode_fingerprint(root):
    """{(task, k): (seed, variation, low-dim arrays, front rgb bytes)} of a dataset."""
    out = {}
    for ep in DemoDataset(root):
        with np.load(ep.path / "low_dim_obs.npz") as z:
            arrays = {k: z[k].tobytes() for k in z.files}
        out[(ep.task, int(ep.path.name[7:]))] = (
            ep.seed, ep.variation, arrays, (ep.path / "front_rgb" / "0.png").read_bytes())
    return out


def read_log(path):
    if not Path(path).exists():
        return []
    return [line.split() for line in Path(path).read_text().splitlines()]


def test_episode_seed_is_deterministic_and_distinct():
    s = episode_seed(0, "open_drawer", 3)
    assert s == episode_seed(0, "open_drawer", 3, 0) and 0 <= s < 2 ** 31
    others = {episode_seed(1, "open_drawer", 3), episode_seed(0, "open_jar", 3),
              episode_seed(0, "open_drawer", 4), episode_seed(0, "open_drawer", 3, 1)}
    assert s not in others and len(others) == 4


def test_plan_cycles_variations_round_robin(tmp_path):
    jobs = plan(config(tmp_path, tasks=["fake_push"], n=7), fake_demo_env)
    assert [j.variation for j in jobs] == [0, 1, 2, 0, 1, 2, 0]
    jobs = plan(config(tmp_path, tasks=["fake_push"], n=4, variations=[2, 0]), fake_demo_env)
    assert jobs[:2] == [Job("fake_push", 0, 2), Job("fake_push", 1, 0)]
    with pytest.raises(ValueError, match="variations 0..1"):
        plan(config(tmp_path, tasks=["fake_reach"], variations=[5]), fake_demo_env)


def test_unknown_task_lists_known_ones(tmp_path, capsys):
    with pytest.raises(ValueError, match="known tasks: fake_reach, fake_push, fake_broken"):
        collect(config(tmp_path, tasks=["fake_reach", "open_sesame"]))
    rc = cli.main(["collect", "--tasks", "open_sesame", "--episodes-per-task", "1", "--out",
                   str(tmp_path), "--env-factory", FAST["env_factory"], "--catalog",
                   "fake_demo_env"])
    err = capsys.readouterr().err
    assert rc == 2 and "open_sesame" in err and "fake_reach" in err
    with pytest.raises(ValueError, match="unknown camera"):
        config(tmp_path, cameras=("front", "ceiling"))


def test_collect_writes_episodes_and_retries_failures(tmp_path):
    stream = io.StringIO()
    summary = collect(config(tmp_path, n=4, seed=5), stream=stream)
    assert summary.ok and summary.written == 8 and summary.already_complete == 0
    failed = 0
    for task in ("fake_reach", "fake_push"):
        for k in range(4):
            seed, attempts = expected_seed(5, task, k)
            failed += attempts
            meta = json.loads((episodes_dir(tmp_path, task) / f"episode{k}" /
                               "episode.json").read_text())
            assert meta["seed"] == seed and meta["attempt"] == attempts
            assert meta["variation"] == k % fake_demo_env.TASKS[task]
    assert failed > 0 and summary.failed_attempts == failed  # the fake fails 1 seed in 3
    ds = DemoDataset(tmp_path)
    assert len(ds) == 8 and ds[0].cameras == ["front", "wrist"]
    lines = stream.getvalue().splitlines()
    assert any("8/8 episodes" in ln and "/min" in ln and "ETA" in ln for ln in lines)
    assert "collected 8 episode(s)" in str(summary)


def test_failures_are_bounded_and_reported(tmp_path, capsys):
    rc = cli.main(["collect", "--tasks", "fake_broken,fake_reach", "--episodes-per-task", "2",
                   "--out", str(tmp_path), "--workers", "0", "--max-attempts", "3",
                   "--image-size", "16", "--cameras", "front", "--env-factory",
                   FAST["env_factory"], "--catalog", "fake_demo_env", "--keyframes-only"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAILED fake_broken episode0 (variation 0) after 3 attempts" in out
    assert "FAILED fake_broken episode1" in out
    assert not episodes_dir(tmp_path, "fake_broken").exists() or \
        os.listdir(episodes_dir(tmp_path, "fake_broken")) == []
    ds = DemoDataset(tmp_path)
    assert len(ds) == 2 and ds[0].frame_rate is None  # keyframe-only fake_reach episodes


def test_resume_skips_complete_and_removes_stale_tmp(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("MN_FAKE_ENV_LOG", str(log))
    out = tmp_path / "data"
    assert collect(config(out, tasks=["fake_reach"], n=2)).written == 2
    marker = episodes_dir(out, "fake_reach") / "episode0" / "episode.json"
    before = marker.stat()
    stale = episodes_dir(out, "fake_reach") / "episode3.tmp-999999"
    (stale / "front_rgb").mkdir(parents=True)
    log.unlink()
    s = collect(config(out, tasks=["fake_reach"], n=4))
    assert (s.written, s.already_complete, s.stale_removed) == (2, 2, 1)
    assert not stale.exists()
    after = marker.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    seeds_called = {int(line[2]) for line in read_log(log)}
    assert episode_seed(0, "fake_reach", 0) not in seeds_called
    assert episode_seed(0, "fake_reach", 2) in seeds_called
    with pytest.raises(ValueError, match="seed: was 0, now 1"):
        collect(config(out, tasks=["fake_reach"], n=4, seed=1))
    with _Lock(out), pytest.raises(RuntimeError, match="another `mn collect`"):
        collect(config(out, tasks=["fake_reach"], n=5))


def test_inline_env_factory_object(tmp_path):
    envs = []

    def factory(image_size, cameras):
        envs.append(fake_demo_env.FakeEnv(image_size, cameras))
        return envs[-1]
    s = collect(config(tmp_path, tasks=["fake_reach"], n=2), env_factory=factory,
                catalog=fake_demo_env)
    assert s.written == 2 and envs[0].closed and envs[0].calls >= 2
    with pytest.raises(ValueError, match="in-process"):
        collect(config(tmp_path, workers=2), env_factory=factory)


def test_bad_env_factory_is_reported(tmp_path, capsys):
    rc = cli.main(["collect", "--tasks", "fake_reach", "--episodes-per-task", "1", "--out",
                   str(tmp_path), "--workers", "0", "--env-factory", "no_such_module:Env",
                   "--catalog", "fake_demo_env"])
    assert rc == 2 and "cannot import 'no_such_module'" in capsys.readouterr().err
    s = collect(config(tmp_path / "w1", tasks=["fake_reach"], n=1, workers=1,
                       env_factory="fake_demo_env:NoSuchEnv"))
    assert not s.ok and s.written == 0
    assert "could not create its environment" in s.errors[0] and "NoSuchEnv" in s.errors[0]
    assert "1 episode(s) not recorded" in s.errors[-1]


def test_spawned_workers_match_inline(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("MN_FAKE_ENV_LOG", str(log))
    monkeypatch.delenv("MUJOCO_GL", raising=False)  # the worker must set it itself
    s = collect(config(tmp_path / "w2", n=3, workers=2))
    assert s.ok and s.written == 6
    assert "MUJOCO_GL" not in os.environ  # set for the workers only
    rows = read_log(log)
    assert len({r[3] for r in rows}) == 2 and str(os.getpid()) not in {r[3] for r in rows}
    assert {r[4] for r in rows} == {"egl"}
    collect(config(tmp_path / "w0", n=3, workers=0))
    assert episode_fingerprint(tmp_path / "w2") == episode_fingerprint(tmp_path / "w0")


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_sigkill_mid_collection_then_resume(tmp_path):
    out, log = tmp_path / "data", tmp_path / "calls.log"
    args = [sys.executable, "-m", "mn_ros.cli", "collect", "--tasks", "fake_reach,fake_push",
            "--episodes-per-task", "5", "--out", str(out), "--workers", "2", "--seed", "3",
            "--image-size", "16", "--cameras", "front,wrist", "--env-factory",
            FAST["env_factory"], "--catalog", "fake_demo_env", "--log-every", "0"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FIXTURES), str(REPO)]),
           "MN_FAKE_ENV_LOG": str(log), "MN_FAKE_ENV_DELAY": "0.3"}
    proc = subprocess.Popen(args, cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = [p for t in ("fake_reach", "fake_push")
                    for p in episodes_dir(out, t).glob("episode*") if "tmp" not in p.name]
            if len(done) >= 3:
                break
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # the collector only; workers must follow
        proc.wait(timeout=10)
        worker_pids = {int(r[3]) for r in read_log(log)}
        assert len(worker_pids) == 2
        t0 = time.monotonic()
        while any(_alive(p) for p in worker_pids) and time.monotonic() - t0 < 5:
            time.sleep(0.05)
        assert not any(_alive(p) for p in worker_pids), "workers outlived the killed collector"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()

    complete = {p: p.joinpath("episode.json").stat().st_mtime_ns
                for t in ("fake_reach", "fake_push") for p in episodes_dir(out, t).glob("ep*")
                if (p / "episode.json").exists() and "tmp" not in p.name}
    assert 3 <= len(complete) < 10
    log.unlink()
    env["MN_FAKE_ENV_DELAY"] = "0"
    res = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"collected {10 - len(complete)} episode(s)" in res.stdout
    assert f"{len(complete)} already complete" in res.stdout
    for p, mtime in complete.items():  # nothing already written is redone
        assert p.joinpath("episode.json").stat().st_mtime_ns == mtime
    redone = {(r[0], int(r[2])) for r in read_log(log)}
    for p in complete:
        task, k = p.parents[2].name, int(p.name[7:])
        assert (task, expected_seed(3, task, k)[0]) not in redone
    for t in ("fake_reach", "fake_push"):
        assert sorted(p.name for p in episodes_dir(out, t).iterdir()) == \
            [f"episode{k}" for k in range(5)]  # no tmp folder left
    # exactly the same episodes as an uninterrupted run
    collect(config(tmp_path / "ref", n=5, seed=3))
    assert episode_fingerprint(out) == episode_fingerprint(tmp_path / "ref")



def _real_task(registry):
    names = registry.task_names()
    return "open_drawer" if "open_drawer" in names else names[0]


def _assert_depth_matches(ep, demo):
    for i in sorted({0, len(ep) // 2, len(ep) - 1}):
        obs = ep[i]
        for cam, want in demo.observations[i].cameras.items():
            got = obs.cameras[cam]
            np.testing.assert_array_equal(got.rgb, want.rgb)
            tol = (want.far - want.near) / 2 ** 24 + np.abs(want.depth) * np.finfo(np.float32).eps
            assert np.all(np.abs(got.depth - want.depth) <= tol), cam
            assert got.depth.min() < want.far - 0.05  # something in view, not all background


@pytest.mark.slow
def test_real_env_demo_roundtrip_depth(tmp_path):
    """One real rendered demo (successful or not) through writer and reader: depth in metres."""
    env_mod = pytest.importorskip("mn_sim.env")
    from mn_sim.dataset import load_episode, write_episode
    from mn_sim.tasks import registry
    env = env_mod.MNEnv(image_size=64)
    try:
        demo = env.record_demo(_real_task(registry), 0, seed=1, frame_rate=None)
    finally:
        env.close()
    ep = load_episode(write_episode(demo, episodes_dir(tmp_path, demo.task), 0),
                      verify_images=True)
    assert len(ep) == len(demo.observations) and ep.cameras == list(demo.observations[0].cameras)
    _assert_depth_matches(ep, demo)


@pytest.mark.slow
def test_real_env_collect_two_episodes(tmp_path):
    """Two real episodes through the collector (needs a working expert); depth = render."""
    env_mod = pytest.importorskip("mn_sim.env")
    from mn_sim.tasks import registry
    recorded = {}

    class Capturing(env_mod.MNEnv):
        def record_demo(self, *a, **k):
            demo = super().record_demo(*a, **k)
            recorded[demo.seed] = demo
            return demo

    cfg = CollectConfig(tasks=[_real_task(registry)], episodes_per_task=2, out=tmp_path,
                        workers=0, image_size=64, frame_rate=10.0, max_attempts=3,
                        log_every=0.0)
    summary = collect(cfg, env_factory=Capturing, catalog=registry)
    assert summary.ok and summary.written == 2, str(summary)
    ds = DemoDataset(tmp_path, verify_images=True)
    assert len(ds) == 2 and not ds.skipped
    for ep in ds:
        demo = recorded[ep.seed]
        assert demo.success and len(ep) == len(demo.observations) > 2
        assert ep.descriptions == list(demo.descriptions) and ep.keyframes
        _assert_depth_matches(ep, demo)


# ---------------------------------------------------------------------- keyframe source
def test_keyframe_sources_of_a_dense_demo():
    from mn_sim.dataset import default_keyframes
    from mn_sim.keyframes import keypoint_discovery
    d = fake_demo_env.make_demo("fake_reach", 0, seed=1, frame_rate=20.0, image_size=8)
    assert default_keyframes(d) == default_keyframes(d, "expert") == d.action_frames
    assert default_keyframes(d, "heuristic") == keypoint_discovery(d.observations)
    assert default_keyframes(d, "heuristic") != d.action_frames   # the fixture tells them apart
    with pytest.raises(ValueError, match="'expert', 'heuristic'"):
        default_keyframes(d, "peract")


def test_collect_writes_the_chosen_keyframes_and_refuses_to_mix_them(tmp_path):
    from mn_sim.keyframes import keypoint_discovery
    collect(config(tmp_path, tasks=("fake_reach",), n=2, keyframes="heuristic"))
    for ep in DemoDataset(tmp_path):
        assert ep.keyframes == keypoint_discovery(ep.low_dim_observations())
    # resuming the same folder with the other source would mix two kinds of keyframes
    with pytest.raises(ValueError, match="keyframes: was 'heuristic', now 'expert'"):
        collect(config(tmp_path, tasks=("fake_reach",), n=3))
    with pytest.raises(ValueError, match="keyframes must be one of"):
        config(tmp_path, keyframes="peract")


def test_dataset_of_an_earlier_version_resumes_as_heuristic(tmp_path):
    """Settings written before the option existed (no "keyframes") meant the heuristic."""
    collect(config(tmp_path, tasks=("fake_reach",), n=1, keyframes="heuristic"))
    settings = tmp_path / "fake_reach" / "mn_collect.json"
    data = json.loads(settings.read_text())
    del data["keyframes"]
    settings.write_text(json.dumps(data))
    summary = collect(config(tmp_path, tasks=("fake_reach",), n=2, keyframes="heuristic"))
    assert summary.ok and summary.written == 1 and summary.already_complete == 1


@pytest.mark.slow
def test_real_open_drawer_heuristic_marks_settling_frames(tmp_path):
    """On a dense mn_sim demo PerAct's heuristic adds keyframes a few millimetres from the
    previous one with the same gripper state (the arm settling); the expert's own keyframes
    are the ends of its actions, each a real move or gripper change."""
    env_mod = pytest.importorskip("mn_sim.env")
    from mn_sim.keyframes import keypoint_discovery
    env = env_mod.MNEnv(image_size=32, cameras=("front",))
    try:
        demo = env.record_demo("open_drawer", 0, seed=episode_seed(0, "open_drawer", 0),
                               frame_rate=20.0)
    finally:
        env.close()
    assert demo.success

    def smallest_step(kfs):
        """Smallest gripper move between consecutive keyframes with the same gripper state."""
        obs = demo.observations
        steps = [np.linalg.norm(obs[b].gripper_pose[:3] - obs[a].gripper_pose[:3])
                 for a, b in zip(kfs, kfs[1:]) if obs[a].gripper_open == obs[b].gripper_open]
        return min(steps) if steps else np.inf

    heuristic = keypoint_discovery(demo.observations)
    assert len(heuristic) > len(demo.action_frames)
    assert smallest_step(heuristic) < 0.005
    assert smallest_step(demo.action_frames) > 0.02


def test_recorded_keyframe_source(tmp_path):
    from mn_sim.collect import recorded_keyframe_source
    assert recorded_keyframe_source(tmp_path, ["fake_reach"]) is None
    collect(config(tmp_path, tasks=("fake_reach",), n=1, keyframes="heuristic"))
    assert recorded_keyframe_source(tmp_path, ["fake_push", "fake_reach"]) == "heuristic"
    kf_only = tmp_path / "kf_only"
    collect(config(kf_only, tasks=("fake_reach",), n=1, frame_rate=None, keyframes="heuristic"))
    assert recorded_keyframe_source(kf_only, ["fake_reach"]) == "expert"   # action frames
