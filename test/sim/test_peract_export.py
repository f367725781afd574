"""RLBench/PerAct's format written by mn (collect --format peract, mn export) and read back by
plain pickle with a minimal rlbench package, under numpy 2 here and numpy 1.26 in a venv."""
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import fake_demo_env  # noqa: E402

from mn_sim.collect import PERACT_DATASET_CAMERAS, CollectConfig, collect  # noqa: E402
from mn_sim.dataset import (PERACT_CAMERAS, episodes_dir, load_episode,  # noqa: E402
                            pyrep_from_opencv, write_episode, write_peract_episode)
from mn_sim.keyframes import keypoint_discovery  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "test" / "fixtures"

# rlbench.backend.observation.Observation's constructor arguments (PerAct's fork), in order
OBSERVATION_FIELDS = [
    f"{c}_{k}" for c in ("left_shoulder", "right_shoulder", "overhead", "wrist", "front")
    for k in ("rgb", "depth", "mask", "point_cloud")] + [
    "joint_velocities", "joint_positions", "joint_forces", "gripper_open", "gripper_pose",
    "gripper_matrix", "gripper_joint_positions", "gripper_touch_forces", "task_low_dim_state",
    "ignore_collisions", "misc"]
LOW_DIM = ["joint_velocities", "joint_positions", "joint_forces", "gripper_pose",
           "gripper_matrix", "gripper_joint_positions", "task_low_dim_state"]


def make_rlbench_package(root: Path) -> Path:
    """A minimal ``rlbench`` with RLBench's module paths, class names and fields."""
    pkg = root / "rlbench"
    (pkg / "backend").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "backend" / "__init__.py").write_text("")
    (pkg / "demo.py").write_text(textwrap.dedent("""
        import numpy as np

        class Demo(object):
            def __init__(self, observations, random_seed=None):
                self._observations = observations
                self.random_seed = random_seed
                self.variation_number = 0

            def __len__(self):
                return len(self._observations)

            def __getitem__(self, i):
                return self._observations[i]

            def restore_state(self):
                np.random.set_state(self.random_seed)
        """))
    lines = ["import numpy as np", "", "", "class Observation(object):",
             f"    def __init__(self, {', '.join(OBSERVATION_FIELDS)}):"]
    lines += [f"        self.{f} = {f}" for f in OBSERVATION_FIELDS]
    lines += ["", "    def get_low_dim_data(self):",
              "        data = [] if self.gripper_open is None else [[self.gripper_open]]",
              "        for d in [self.joint_velocities, self.joint_positions, self.joint_forces,",
              "                  self.gripper_pose, self.gripper_joint_positions,",
              "                  self.gripper_touch_forces, self.task_low_dim_state]:",
              "            if d is not None:",
              "                data.append(d)",
              "        return np.concatenate(data) if data else np.array([])", ""]
    (pkg / "backend" / "observation.py").write_text("\n".join(lines))
    # RLBench's rule for mask PNGs (rlbench.backend.utils.rgb_handles_to_mask), restated on the
    # PNG's 0..255 values as stepjam/RLBench#205 reads stored files (PerAct's fork first
    # multiplies the uint8 array by 255, which wraps: stepjam/RLBench#204)
    (pkg / "backend" / "utils.py").write_text(textwrap.dedent("""
        import numpy as np

        def rgb_handles_to_mask(rgb_coded_handles):
            rgb = np.asarray(rgb_coded_handles).astype(np.int64)
            return rgb[:, :, 0] + rgb[:, :, 1] * 256 + rgb[:, :, 2] * 256 * 256
        """))
    return root


# Runs in a subprocess with only numpy and the minimal rlbench: plain pickle.load, as
# RLBench's get_stored_demos and ARP's TransitionDataset do, then every field to an npz.
LOADER = textwrap.dedent("""
    import inspect, json, os, pickle, sys
    import numpy as np
    from rlbench.demo import Demo
    from rlbench.backend.observation import Observation

    ep, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(ep, "low_dim_obs.pkl"), "rb") as f:
        demo = pickle.load(f)
    with open(os.path.join(ep, "variation_number.pkl"), "rb") as f:
        demo.variation_number = pickle.load(f)
    with open(os.path.join(ep, "variation_descriptions.pkl"), "rb") as f:
        descriptions = pickle.load(f)
    with open(os.path.join(ep, "kfs.json")) as f:
        kfs = json.load(f)
    assert type(demo) is Demo, type(demo)
    fields = list(inspect.signature(Observation.__init__).parameters)[1:]
    arrays, info = {}, {"fields": [], "misc_other": [], "types": {}}
    for i, o in enumerate(demo):
        assert type(o) is Observation, type(o)
        info["fields"].append(sorted(vars(o)) == sorted(fields))
        for f in fields:
            v = getattr(o, f)
            if f.endswith(("_rgb", "_depth", "_mask", "_point_cloud")):
                assert v is None, f
            elif f == "misc":
                other = {}
                for k, x in v.items():
                    if isinstance(x, (np.ndarray, float)):
                        arrays[f"{i}/misc/{k}"] = np.asarray(x)
                        info["types"][k] = type(x).__name__
                    else:
                        other[k] = x
                info["misc_other"].append(other)
            elif v is not None:
                arrays[f"{i}/{f}"] = np.asarray(v)
                info["types"][f] = type(v).__name__
            else:
                info["types"][f] = "None"
        arrays[f"{i}/low_dim_data"] = o.get_low_dim_data()
    folders = sorted(d for d in os.listdir(ep) if os.path.isdir(os.path.join(ep, d)))
    try:   # masks decoded with RLBench's rule where PIL is installed (not in the numpy-1 venv)
        from PIL import Image
        from rlbench.backend.utils import rgb_handles_to_mask
        info["masks_decoded"] = True
    except ImportError:
        info["masks_decoded"] = False
    for d in folders:
        if d.endswith("_mask") and info["masks_decoded"]:
            for i in range(len(demo)):
                with Image.open(os.path.join(ep, d, "%d.png" % i)) as im:
                    arrays[f"{i}/mask/{d[:-len('_mask')]}"] = rgb_handles_to_mask(np.array(im))
    info.update(n=len(demo), variation_number=demo.variation_number, kfs=kfs,
                descriptions=descriptions, numpy=np.__version__,
                counts={d: len(os.listdir(os.path.join(ep, d))) for d in folders},
                random_seed=repr(demo.random_seed))
    np.savez(out + ".npz", **arrays)
    with open(out + ".json", "w") as f:
        json.dump(info, f)
""")


def load_with_plain_pickle(python: str, episode: Path, tmp: Path) -> tuple[dict, dict]:
    """Run LOADER with ``python`` and the minimal rlbench on PYTHONPATH; returns (info, arrays)."""
    pkg = tmp / "rlbench_pkg"
    if not pkg.exists():
        make_rlbench_package(pkg)
    script = tmp / "load_peract.py"
    script.write_text(LOADER)
    out = tmp / f"loaded_{Path(python).parent.parent.name}_{episode.name}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(pkg)
    r = subprocess.run([python, "-W", "error", str(script), str(episode), str(out)], env=env,
                       capture_output=True, text=True, timeout=300, cwd=tmp)
    assert r.returncode == 0, r.stderr[-3000:]
    with np.load(str(out) + ".npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(Path(str(out) + ".json").read_text()), arrays


def fake_demo(n=14, seed=3, cameras=PERACT_DATASET_CAMERAS):
    return fake_demo_env.make_demo("fake_reach", 1, seed, 20.0, image_size=12, cameras=cameras,
                                   n_frames=n)


def rlbench_depth(png: Path, near: float, far: float) -> np.ndarray:
    """RLBench's image_to_float_array(..., 2**24 - 1), then near + v * (far - near)."""
    rgb = np.asarray(Image.open(png)).astype(np.float64)
    v = (rgb[..., 0] * 65536 + rgb[..., 1] * 256 + rgb[..., 2]) / (2 ** 24 - 1)
    return near + v * (far - near)


def pyrep_point_cloud(depth: np.ndarray, extrinsics, intrinsics) -> np.ndarray:
    """PyRep's VisionSensor.pointcloud_from_depth_and_camera_params, restated: pixel (u, v)
    (column, row) times depth, through the inverse of K [R^T | -R^T C]."""
    h, w = depth.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    pix = np.stack([u * depth, v * depth, depth, np.ones_like(depth)], -1)   # (H, W, 4)
    R, C = extrinsics[:3, :3], extrinsics[:3, 3:4]
    proj = intrinsics @ np.concatenate([R.T, -R.T @ C], 1)                    # (3, 4)
    inv = np.linalg.inv(np.concatenate([proj, [[0, 0, 0, 1]]]))[:3]           # (3, 4)
    return pix @ inv.T                                                        # (H, W, 3)


def opencv_point_cloud(depth, K, T) -> np.ndarray:
    h, w = depth.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T
    cam = rays * depth[..., None]
    return cam @ T[:3, :3].T + T[:3, 3]


def check_against_reader(info, arrays, episode: Path, demo) -> None:
    """Every field plain pickle loaded equals mn's reader of the same episode (and the demo)."""
    ep = load_episode(episode)
    n = len(demo.observations)
    assert info["n"] == len(ep) == n and all(info["fields"])
    assert info["variation_number"] == ep.variation == demo.variation
    assert info["descriptions"] == ep.descriptions == demo.descriptions
    assert info["kfs"] == ep.keyframes
    assert info["types"]["gripper_open"] == "float" and info["types"]["ignore_collisions"] == \
        "ndarray" and info["types"]["gripper_touch_forces"] == "None"
    assert info["types"]["front_camera_near"] == "float"
    with_masks = all(c.mask is not None for o in demo.observations for c in o.cameras.values())
    assert ep.has_masks == with_masks
    for cam in PERACT_CAMERAS:   # what get_stored_demos counts
        for kind in ("rgb", "depth", "mask") if with_masks else ("rgb", "depth"):
            assert info["counts"][f"{cam}_{kind}"] == n
        assert with_masks or f"{cam}_mask" not in info["counts"]   # never made up
    for i in range(n):
        o, src = ep.observation(i), demo.observations[i]
        for f in LOW_DIM:
            np.testing.assert_array_equal(arrays[f"{i}/{f}"], getattr(o, f))
            np.testing.assert_array_equal(arrays[f"{i}/{f}"], getattr(src, f))
        assert float(arrays[f"{i}/gripper_open"]) == o.gripper_open == src.gripper_open
        assert arrays[f"{i}/ignore_collisions"].shape == ()
        assert float(arrays[f"{i}/ignore_collisions"]) == o.ignore_collisions \
            == src.ignore_collisions
        assert arrays[f"{i}/low_dim_data"].shape == (1 + 7 * 3 + 7 + 2 + 5,)
        assert info["misc_other"][i] == src.misc == {k: v for k, v in o.misc.items()
                                                     if "_camera_" not in k}  # step, phase
        for cam in ep.cameras:
            c, s = o.cameras[cam], src.cameras[cam]
            K = arrays[f"{i}/misc/{cam}_camera_intrinsics"]
            T = arrays[f"{i}/misc/{cam}_camera_extrinsics"]
            near = float(arrays[f"{i}/misc/{cam}_camera_near"])
            far = float(arrays[f"{i}/misc/{cam}_camera_far"])
            assert K[0, 0] < 0 and K[1, 1] < 0          # PyRep's convention in the file
            wantK, wantT = pyrep_from_opencv(c.intrinsics, c.extrinsics)
            np.testing.assert_array_equal(K, wantK)
            np.testing.assert_array_equal(T, wantT)
            assert c.intrinsics[0, 0] > 0                # OpenCV's from the reader
            np.testing.assert_array_equal(c.intrinsics, s.intrinsics)
            np.testing.assert_array_equal(c.extrinsics, s.extrinsics)
            assert (near, far) == (c.near, c.far) == (s.near, s.far)
            np.testing.assert_array_equal(c.rgb, s.rgb)
            np.testing.assert_array_equal(c.mask, s.mask)
            if with_masks and info["masks_decoded"]:   # RLBench's decoding = mn's reader
                np.testing.assert_array_equal(arrays[f"{i}/mask/{cam}"], c.mask)
            step = (far - near) / 2 ** 24 + 1e-6
            assert np.abs(c.depth - s.depth).max() <= step
            # the point cloud RLBench/ARP compute from the file = mn's from the reader
            d = rlbench_depth(episode / f"{cam}_depth" / f"{i}.png", near, far)
            assert np.abs(d - s.depth).max() <= step
            np.testing.assert_allclose(pyrep_point_cloud(d, T, K),
                                       opencv_point_cloud(d, c.intrinsics, c.extrinsics),
                                       atol=1e-9)


# ---------------------------------------------------------------------- writing
def test_peract_writer_is_atomic(tmp_path, monkeypatch):
    from mn_sim.dataset import peract_export
    demo = fake_demo()
    eps = episodes_dir(tmp_path / "data", demo.task)

    def boom(*a, **k):
        raise KeyboardInterrupt   # interrupted while writing the completion marker
    monkeypatch.setattr(peract_export, "_dump_pickle", boom)
    with pytest.raises(KeyboardInterrupt):
        write_peract_episode(demo, eps, 0, keyframes=[0], keyframe_source="heuristic")
    assert os.listdir(eps) == []   # neither the tmp folder nor a half episode
    monkeypatch.undo()
    path = write_peract_episode(demo, eps, 0, keyframes=[0], keyframe_source="heuristic")
    assert (path / "low_dim_obs.pkl").is_file() and os.listdir(eps) == ["episode0"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_peract_episode(demo, eps, 0, keyframes=[0], keyframe_source="heuristic")


def test_plain_pickle_with_minimal_rlbench_reads_every_field(tmp_path):
    demo = fake_demo()
    kfs = keypoint_discovery(demo.observations)
    path = write_peract_episode(demo, episodes_dir(tmp_path / "data", demo.task), 0,
                                keyframes=kfs, keyframe_source="heuristic")
    assert not any(m == "rlbench" or m.startswith("rlbench.") for m in sys.modules)
    names = sorted(p.name for p in path.iterdir())
    for cam in PERACT_DATASET_CAMERAS:
        assert {f"{cam}_rgb", f"{cam}_depth", f"{cam}_mask"} <= set(names)
    assert {"low_dim_obs.pkl", "variation_descriptions.pkl", "variation_number.pkl",
            "kfs.json"} <= set(names) and "low_dim_obs.npz" not in names
    assert "lang_emb.pkl" not in names                      # never a placeholder
    raw = (path / "low_dim_obs.pkl").read_bytes()
    assert b"rlbench.backend.observation" in raw and b"numpy._core" not in raw
    with pytest.raises(ModuleNotFoundError, match="rlbench"):
        pickle.loads(raw)                                    # needs rlbench: names as upstream
    info, arrays = load_with_plain_pickle(sys.executable, path, tmp_path)
    assert info["numpy"].startswith("2.") and info["masks_decoded"]
    check_against_reader(info, arrays, path, demo)


def test_collect_format_peract(tmp_path):
    out = tmp_path / "data"
    cfg = CollectConfig(tasks=["fake_reach"], episodes_per_task=2, out=out, workers=0,
                        format="peract", keyframes="heuristic", image_size=12,
                        env_factory="fake_demo_env:FakeEnv", catalog="fake_demo_env")
    assert cfg.cameras == PERACT_DATASET_CAMERAS            # overhead added for the format
    summary = collect(cfg)
    assert summary.ok and summary.written == 2
    for k in range(2):
        ep = load_episode(episodes_dir(out, "fake_reach") / f"episode{k}")
        assert ep.format == "peract" and ep.cameras == list(PERACT_DATASET_CAMERAS)
        assert not (ep.path / "episode.json").exists() and not (ep.path / "observer.mp4").exists()
        demo = fake_demo_env.make_demo("fake_reach", ep.variation, ep.seed, 20.0, 12,
                                       PERACT_DATASET_CAMERAS)
        assert ep.keyframes == keypoint_discovery(demo.observations, method="peract")
        assert ep.meta["action_frames"] == demo.action_frames and ep.frame_rate == 20.0
    resumed = collect(CollectConfig(tasks=["fake_reach"], episodes_per_task=2, out=out,
                                    workers=0, format="peract", keyframes="heuristic",
                                    image_size=12, env_factory="fake_demo_env:FakeEnv",
                                    catalog="fake_demo_env"))
    assert resumed.already_complete == 2 and resumed.written == 0
    with pytest.raises(ValueError, match="format: was 'peract', now 'mn'"):
        collect(CollectConfig(tasks=["fake_reach"], episodes_per_task=2, out=out, workers=0,
                              keyframes="heuristic", image_size=12,
                              env_factory="fake_demo_env:FakeEnv", catalog="fake_demo_env",
                              cameras=PERACT_DATASET_CAMERAS))
    with pytest.raises(ValueError, match=r"lacks camera\(s\) \['overhead'\]"):
        CollectConfig(tasks=["fake_reach"], episodes_per_task=1, out=out, format="peract",
                      cameras=("front", "left_shoulder", "right_shoulder", "wrist"))


def test_datasets_collected_before_the_format_option_resume(tmp_path):
    def cfg():
        return CollectConfig(tasks=["fake_reach"], episodes_per_task=2, out=tmp_path, workers=0,
                             image_size=12, env_factory="fake_demo_env:FakeEnv",
                             catalog="fake_demo_env")
    assert collect(cfg()).written == 2
    settings = tmp_path / "fake_reach" / "mn_collect.json"
    old = json.loads(settings.read_text())
    assert old.pop("format") == "mn"
    settings.write_text(json.dumps(old))                    # as written before --format
    again = collect(cfg())
    assert again.ok and again.already_complete == 2 and again.written == 0


def run_cli(*argv):
    from mn_ros.cli import main
    return main(list(argv))


def test_mn_collect_cli_format_peract(tmp_path, capsys):
    out = tmp_path / "data"
    assert run_cli("collect", "--tasks", "fake_reach", "--episodes-per-task", "1", "--out",
                   str(out), "--workers", "0", "--image-size", "12", "--format", "peract",
                   "--env-factory", "fake_demo_env:FakeEnv", "--catalog", "fake_demo_env") == 0
    ep = load_episode(episodes_dir(out, "fake_reach") / "episode0")
    assert ep.format == "peract" and "overhead" in ep.cameras
    assert ep.keyframes == ep.meta["action_frames"]           # --keyframe-source expert
    assert run_cli("collect", "--tasks", "fake_reach", "--episodes-per-task", "1", "--out",
                   str(tmp_path / "x"), "--format", "peract", "--cameras", "front,wrist",
                   "--catalog", "fake_demo_env") == 2
    assert "lacks camera(s)" in capsys.readouterr().err


def test_mn_export_both_ways(tmp_path, capsys):
    src = tmp_path / "mn"
    demos = [fake_demo(n=12 + k, seed=10 + k) for k in range(2)]
    for k, d in enumerate(demos):
        write_episode(d, episodes_dir(src, d.task), k, keyframes=d.action_frames)
    assert run_cli("export", "--format", "peract", str(src), str(tmp_path / "p"),
                   "--keyframe-source", "heuristic") == 0
    for k, d in enumerate(demos):
        path = episodes_dir(tmp_path / "p", d.task) / f"episode{k}"
        info, arrays = load_with_plain_pickle(sys.executable, path, tmp_path)
        check_against_reader(info, arrays, path, d)
        assert info["kfs"] == keypoint_discovery(d.observations, method="peract")
        # rgb and depth PNGs are the source's, byte for byte
        for kind in ("rgb", "depth"):
            assert (path / f"overhead_{kind}" / "3.png").read_bytes() == \
                (episodes_dir(src, d.task) / f"episode{k}" / f"overhead_{kind}" /
                 "3.png").read_bytes()
    # back to mn's layout: the same episodes as the source, expert keyframes kept
    assert run_cli("export", "--format", "mn", str(tmp_path / "p"), str(tmp_path / "m")) == 0
    for k, d in enumerate(demos):
        a = load_episode(episodes_dir(src, d.task) / f"episode{k}")
        b = load_episode(episodes_dir(tmp_path / "m", d.task) / f"episode{k}")
        assert b.format == "mn" and b.keyframes == d.action_frames and b.seed == d.seed
        for i in (0, len(a) - 1):
            oa, ob = a[i], b[i]
            for f in LOW_DIM:
                np.testing.assert_array_equal(getattr(oa, f), getattr(ob, f))
            for cam in a.cameras:
                for f in ("rgb", "depth", "mask", "intrinsics", "extrinsics"):
                    np.testing.assert_array_equal(getattr(oa.cameras[cam], f),
                                                  getattr(ob.cameras[cam], f))
    capsys.readouterr()
    assert run_cli("export", "--format", "peract", str(src), str(tmp_path / "p")) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_export_refuses_a_source_without_rlbench_cameras(tmp_path, capsys):
    d = fake_demo(cameras=("front", "left_shoulder", "right_shoulder", "wrist", "observer"))
    write_episode(d, episodes_dir(tmp_path / "mn", d.task), 0)
    assert run_cli("export", "--format", "peract", str(tmp_path / "mn"),
                   str(tmp_path / "p")) == 2
    err = capsys.readouterr().err
    assert "lacks camera(s) ['overhead']" in err and "--format peract" in err
    assert not (tmp_path / "p").exists()                    # nothing half-written


# ---------------------------------------------------------------------- numpy 1.26
def _numpy1_python(cache: Path, spec: str) -> str:
    venv = cache / "venv"
    python = venv / "bin" / "python"
    if python.is_file() and subprocess.run([str(python), "-c", "import numpy"],
                                           capture_output=True).returncode == 0:
        return str(python)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                   capture_output=True, timeout=300)
    r = subprocess.run([str(python), "-m", "pip", "install", "--quiet", spec],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        unreachable = ("No matching distribution", "Could not find a version",
                       "Failed to establish", "Temporary failure", "Network is unreachable",
                       "ConnectionError", "Max retries")
        if any(s in r.stdout + r.stderr for s in unreachable):
            pytest.skip(f"{spec} cannot be installed from the package registry "
                        f"(unreachable): {(r.stdout + r.stderr).strip()[-300:]}")
        raise AssertionError(f"pip install {spec} failed:\n{r.stdout}\n{r.stderr}")
    return str(python)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["numpy==1.26.*",
                                  "numpy==1.23.5"])   # ARP's environment.yaml pins 1.23.5
def test_numpy1_reads_the_export_with_plain_pickle(tmp_path, pytestconfig, spec):
    """A venv with numpy 1.x from PyPI (cached between runs) loads what numpy 2 wrote."""
    cache = pytestconfig.cache.mkdir("numpy1-venv-" + spec.split("==")[1].replace("*", "x"))
    python = _numpy1_python(Path(cache), spec)
    demo = fake_demo()
    path = write_peract_episode(demo, episodes_dir(tmp_path / "data", demo.task), 0,
                                keyframes=demo.action_frames)
    info, arrays = load_with_plain_pickle(python, path, tmp_path)
    assert info["numpy"].startswith(spec.split("==")[1].rstrip("*"))
    check_against_reader(info, arrays, path, demo)


# ---------------------------------------------------------------------- segmentation masks
def test_sim_renders_body_handle_masks_only_when_asked():
    """Default observations carry no mask; asked for, each pixel holds body id + 1 of the geom
    MuJoCo's segmentation saw there (0 where nothing is)."""
    mujoco = pytest.importorskip("mujoco")
    from mn_sim.env import MNEnv
    env = MNEnv(image_size=48, cameras=("front",))
    try:
        obs, _ = env.reset(seed=0, options={"task": "slide_block_to_color_target"})
        assert obs.cameras["front"].mask is None                     # off by default
        sim = env.sim
        cam = sim.render_cameras(masks=True)["front"]
        r = sim.renderer
        r.update_scene(sim.data, camera="front", scene_option=sim.scene_option)
        r.enable_segmentation_rendering()
        seg = r.render()
        r.disable_segmentation_rendering()
        geom = seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)
        np.testing.assert_array_equal(cam.mask[geom], sim.model.geom_bodyid[seg[..., 0][geom]] + 1)
        np.testing.assert_array_equal(cam.mask[seg[..., 0] < 0], 0)
        labels = sim.mask_labels()
        assert labels[0] == "background" and labels[1] == "world"
        assert labels[sim.model.body("block").id + 1] == "block"
        np.testing.assert_array_equal(cam.rgb, sim.render_cameras()["front"].rgb)  # unchanged
    finally:
        env.close()


def test_real_episode_has_mask_folders_with_body_handles(tmp_path):
    """One real episode (`mn collect --format peract`: masks on): a mask PNG per frame for each
    camera; the front camera sees the gripper and the block under different handles, 0 exactly
    where nothing is (depth at the far plane); RLBench's decoding = mn's reader."""
    pytest.importorskip("mujoco")
    from mn_sim.sim import Sim
    from mn_sim.tasks.registry import make_task
    task = "slide_block_to_color_target"
    out = tmp_path / "data"
    cfg = CollectConfig(tasks=[task], episodes_per_task=1, out=out, workers=0, format="peract",
                        image_size=64, frame_rate=10.0, max_attempts=3, log_every=0.0)
    assert cfg.masks is True                                  # on by default for the format
    summary = collect(cfg)
    assert summary.ok and summary.written == 1, str(summary)
    path = episodes_dir(out, task) / "episode0"
    ep = load_episode(path, verify_images=True)
    n = len(ep)
    assert ep.has_masks and set(PERACT_CAMERAS) <= set(ep.cameras)
    for cam in ep.cameras:
        assert sorted(os.listdir(path / f"{cam}_mask")) == sorted(f"{i}.png" for i in range(n))
    sim = Sim(make_task(task), image_size=8, cameras=("front",))   # the scene's body ids
    try:
        hand, block = (sim.model.body(b).id + 1 for b in ("hand", "block"))
        assert sim.mask_labels() == ep.mask_labels
    finally:
        sim.close()
    assert ep.mask_labels[hand] == "hand" and ep.mask_labels[block] == "block"
    front = ep.camera("front", 0)
    assert hand != block and {0, hand, block} <= set(np.unique(front.mask).tolist())
    for i in (0, n // 2, n - 1):
        for cam in ep.cameras:
            c = ep.camera(cam, i)
            np.testing.assert_array_equal(c.mask == 0, c.depth >= c.far - 1e-3)
    info, arrays = load_with_plain_pickle(sys.executable, path, tmp_path)
    assert info["masks_decoded"]
    for cam in PERACT_CAMERAS:
        assert info["counts"][f"{cam}_mask"] == n
        for i in range(n):
            np.testing.assert_array_equal(arrays[f"{i}/mask/{cam}"], ep.mask(cam, i))


def test_collect_masks_default_off_for_mn_on_for_peract(tmp_path, capsys):
    base = ("collect", "--tasks", "fake_reach", "--episodes-per-task", "1", "--workers", "0",
            "--image-size", "12", "--env-factory", "fake_demo_env:FakeEnv", "--catalog",
            "fake_demo_env")
    want = {("mn",): False, ("mn", "--masks"): True, ("peract",): True,
            ("peract", "--no-masks"): False}
    for k, (fmt, *flag) in enumerate(want):
        out = tmp_path / f"d{k}"
        assert run_cli(*base, "--out", str(out), "--format", fmt, *flag) == 0
        ep = load_episode(episodes_dir(out, "fake_reach") / "episode0")
        masks = want[(fmt, *flag)]
        assert ep.has_masks is masks, (fmt, flag)
        assert (ep.path / "front_mask").is_dir() is masks
        settings = json.loads((out / "fake_reach" / "mn_collect.json").read_text())
        assert settings["masks"] is masks and settings["mask_handles"] == "body_id+1"
    capsys.readouterr()
    assert run_cli(*base, "--out", str(tmp_path / "d0"), "--masks") == 2   # not resumable
    assert "masks: was False, now True" in capsys.readouterr().err


def test_dataset_collected_before_masks_resumes_without_them(tmp_path):
    """mn_collect.json files written before mn_sim rendered masks say "masks": true (what was
    asked, never made by mn_sim's environment): they resume with masks off, the default."""
    from mn_sim.collect import DEFAULT_ENV_FACTORY, _read_settings
    settings = tmp_path / "mn_collect.json"
    old = {"format_version": 1, "seed": 0, "frame_rate": 20.0, "masks": True, "video": True,
           "env_factory": DEFAULT_ENV_FACTORY, "keyframes": "expert"}
    settings.write_text(json.dumps(old))
    assert _read_settings(settings)["masks"] is False
    settings.write_text(json.dumps({**old, "env_factory": "fake_demo_env:FakeEnv"}))
    assert _read_settings(settings)["masks"] is True          # other environments made them
    # end to end with the fake environment: a dataset without the entry resumes
    cfg = dict(tasks=["fake_reach"], episodes_per_task=2, out=tmp_path / "d", workers=0,
               image_size=12, env_factory="fake_demo_env:FakeEnv", catalog="fake_demo_env")
    assert collect(CollectConfig(**cfg)).written == 2
    path = tmp_path / "d" / "fake_reach" / "mn_collect.json"
    s = json.loads(path.read_text())
    del s["mask_handles"]
    path.write_text(json.dumps({**s, "masks": False}))
    again = collect(CollectConfig(**cfg))
    assert again.ok and again.already_complete == 2


def test_export_of_a_dataset_without_masks_says_so(tmp_path, capsys):
    d = fake_demo()
    write_episode(d, episodes_dir(tmp_path / "mn", d.task), 0, masks=False)
    assert run_cli("export", "--format", "peract", str(tmp_path / "mn"),
                   str(tmp_path / "p")) == 0
    err = capsys.readouterr().err
    assert "1 of 1 episode(s)" in err and "no segmentation masks" in err and "--masks" in err
    path = episodes_dir(tmp_path / "p", d.task) / "episode0"
    assert not any(p.name.endswith("_mask") for p in path.iterdir())   # never made up
    assert load_episode(path).has_masks is False
