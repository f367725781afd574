"""The dataset layer on real files: codecs, writer, reader, PerAct pickles, corruption."""
import json
import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import fake_demo_env  # noqa: E402
import peract_fixture  # noqa: E402

from mn_sim.dataset import (DEPTH_SCALE, CorruptEpisodeError, DemoDataset,  # noqa: E402
                            depth_to_rgb, episodes_dir, is_complete, load_episode, mask_to_rgb,
                            rgb_to_depth, rgb_to_mask, safe_load, safe_loads, write_episode)
from mn_sim.dataset import writer as writer_mod  # noqa: E402
from mn_sim.dataset import (opencv_from_pyrep, pyrep_from_opencv,  # noqa: E402
                            write_peract_episode)
from mn_sim.keyframes import keypoint_discovery  # noqa: E402
from mn_sim.types import CAMERAS, DATASET_CAMERAS  # noqa: E402


def depth_tol(near, far, metres):
    """Half a 24-bit step, rounded up to a step, plus float32 rounding of the metres."""
    return (far - near) / 2 ** 24 + np.abs(metres) * np.finfo(np.float32).eps


# ---------------------------------------------------------------------- codecs
def test_depth_codec_matches_rlbench_convention_and_precision():
    near, far = 0.05, 4.5
    rng = np.random.default_rng(0)
    d = rng.uniform(near, far, (32, 32)).astype(np.float32)
    d[0, :3] = [near, far, (near + far) / 2]
    rgb = depth_to_rgb(d, near, far)
    assert rgb.dtype == np.uint8 and rgb.shape == (32, 32, 3)
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 1].tolist() == [255, 255, 255]
    # v = 0.5 -> n = floor(0.5 * (2**24 - 1) + 0.5) = 2**23 -> R high byte
    assert rgb[0, 2].tolist() == [128, 0, 0]
    ref = np.asarray(peract_fixture._rlbench_depth_png(d, near, far))  # independent encoder
    np.testing.assert_array_equal(rgb, ref)
    back = rgb_to_depth(rgb, near, far)
    assert back.dtype == np.float32
    assert np.all(np.abs(back - d) <= depth_tol(near, far, d))
    n = rgb[..., 0].astype(int) * 65536 + rgb[..., 1].astype(int) * 256 + rgb[..., 2]
    assert n.max() == DEPTH_SCALE


def test_depth_codec_clips_out_of_range_and_invalid():
    d = np.array([[-1.0, 0.0, 99.0, np.nan, np.inf]])
    back = rgb_to_depth(depth_to_rgb(d, 0.1, 2.0), 0.1, 2.0)
    np.testing.assert_allclose(back, [[0.1, 0.1, 2.0, 2.0, 2.0]], atol=1e-6)
    with pytest.raises(ValueError, match="far"):
        depth_to_rgb(d, 2.0, 1.0)


def test_mask_codec_roundtrip_with_offset():
    m = np.array([[-1, 0, 1, 255], [256, 65535, 65536, 2 ** 24 - 2]], dtype=np.int32)
    rgb = mask_to_rgb(m, offset=1)
    assert rgb[0, 0].tolist() == [0, 0, 0]  # background -1 -> 0
    assert rgb[1, 0].tolist() == [1, 1, 0]  # 257 = 1 + 1 * 256 (R low byte)
    np.testing.assert_array_equal(rgb_to_mask(rgb, offset=1), m)
    with pytest.raises(ValueError, match="mask ids"):
        mask_to_rgb(np.array([[-2]]), offset=1)


# ---------------------------------------------------------------------- writer + reader
@pytest.fixture
def demo():
    return fake_demo_env.make_demo("fake_reach", 1, seed=7, frame_rate=20.0, image_size=16)


def test_write_then_load_roundtrip(tmp_path, demo):
    path = write_episode(demo, episodes_dir(tmp_path, demo.task), 3)
    assert path == tmp_path / "fake_reach" / "all_variations" / "episodes" / "episode3"
    n = len(demo.observations)
    for cam in DATASET_CAMERAS:
        for kind in ("rgb", "depth", "mask"):
            assert sorted(os.listdir(path / f"{cam}_{kind}")) == sorted(f"{i}.png"
                                                                        for i in range(n))
    assert json.loads((path / "variation_descriptions.json").read_text()) == demo.descriptions
    assert json.loads((path / "variation_number.json").read_text()) == 1
    meta = json.loads((path / "episode.json").read_text())
    assert meta["task"] == "fake_reach" and meta["seed"] == 7 and meta["num_frames"] == n
    assert meta["frame_rate"] == 20.0 and meta["success"] is True and meta["video_fps"] == 20.0
    with np.load(path / "low_dim_obs.npz", allow_pickle=False) as z:  # no pickle inside
        assert z["joint_velocities"].shape == (n, 7) and z["gripper_matrix"].shape == (n, 4, 4)

    ep = load_episode(path)
    assert (ep.task, ep.variation, ep.seed, ep.success, len(ep)) == ("fake_reach", 1, 7, True, n)
    assert ep.descriptions == demo.descriptions and ep.cameras == list(DATASET_CAMERAS)
    assert ep.keyframes == json.loads((path / "kfs.json").read_text())
    assert ep.keyframes and ep.keyframes[-1] == n - 1
    for i in (0, n // 2, n - 1):
        want, got = demo.observations[i], ep[i]
        for f in ("joint_positions", "joint_velocities", "joint_forces", "gripper_pose",
                  "gripper_matrix", "gripper_joint_positions", "task_low_dim_state"):
            np.testing.assert_array_equal(getattr(got, f), getattr(want, f))
        assert got.gripper_open == want.gripper_open
        assert got.ignore_collisions == want.ignore_collisions
        assert got.misc["step"] == i and got.misc["phase"] == want.misc["phase"]
        for cam in DATASET_CAMERAS:
            w, g = want.cameras[cam], got.cameras[cam]
            np.testing.assert_array_equal(g.rgb, w.rgb)
            np.testing.assert_array_equal(g.mask, w.mask)
            np.testing.assert_array_equal(g.intrinsics, w.intrinsics)
            np.testing.assert_array_equal(g.extrinsics, w.extrinsics)
            assert (g.near, g.far) == (w.near, w.far)
            assert np.all(np.abs(g.depth - w.depth) <= depth_tol(w.near, w.far, w.depth))
            assert got.misc[f"{cam}_camera_near"] == w.near
    low = ep.observation(2, images=False)
    assert low.cameras == {} and low.joint_positions.shape == (7,)
    back = ep.to_demo()
    assert back.frame_rate == 20.0 and len(back.observations) == n and back.seed == 7


HANDLES = [0, 1, 2, 255, 256, 257, 65535, 65536, 2 ** 24 - 1]   # each byte's edges


@pytest.mark.parametrize("fmt", ["mn", "peract"])
def test_mask_handles_roundtrip_exactly(tmp_path, fmt):
    """Mask handles (0 = background) come back exactly from both writers, and the PNG holds
    the handle itself, RGB-coded as RLBench's (handle = R + 256 G + 65536 B)."""
    from mn_sim.collect import PERACT_DATASET_CAMERAS
    demo = fake_demo_env.make_demo("fake_reach", 1, seed=7, frame_rate=20.0, image_size=16,
                                   cameras=PERACT_DATASET_CAMERAS)
    rng = np.random.default_rng(0)
    for o in demo.observations:
        for c in o.cameras.values():
            c.mask = rng.choice(HANDLES, c.rgb.shape[:2]).astype(np.int32)
    demo.mask_labels = {0: "background", 1: "world", 65536: "block"}
    eps = episodes_dir(tmp_path, demo.task)
    path = write_episode(demo, eps, 0) if fmt == "mn" else \
        write_peract_episode(demo, eps, 0, keyframes=demo.action_frames)
    ep = load_episode(path)
    assert ep.has_masks and ep.mask_labels == demo.mask_labels
    assert ep.to_demo(images=False).mask_labels == demo.mask_labels
    for i in (0, len(ep) - 1):
        for cam in ep.cameras:
            want = demo.observations[i].cameras[cam].mask
            np.testing.assert_array_equal(ep.mask(cam, i), want)
            rgb = np.asarray(Image.open(path / f"{cam}_mask" / f"{i}.png")).astype(np.int64)
            assert rgb.shape[2] == 3
            np.testing.assert_array_equal(rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2],
                                          want)


def test_masks_of_episodes_written_with_an_offset_still_read(tmp_path, demo):
    """Episodes written before masks held handles stored geom id + 1 ("mask_offset": 1)."""
    path = write_episode(demo, episodes_dir(tmp_path, demo.task), 0)
    meta = json.loads((path / "episode.json").read_text())
    assert meta["mask_offset"] == 0
    meta["mask_offset"] = 1
    (path / "episode.json").write_text(json.dumps(meta))
    np.testing.assert_array_equal(load_episode(path).mask("front", 2),
                                  demo.observations[2].cameras["front"].mask - 1)


def test_video_has_every_frame_at_the_recording_rate(tmp_path, demo):
    import av
    path = write_episode(demo, episodes_dir(tmp_path, demo.task), 0)
    with av.open(str(path / "observer.mp4")) as c:
        stream = c.streams.video[0]
        assert float(stream.average_rate) == 20.0
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == len(demo.observations) and frames[0].shape == (16, 16, 3)


def test_video_camera_is_the_observer_else_front(tmp_path):
    """The observer's clips and the episode video come from the observer camera, also when a
    policy opens the episode with only its own cameras; without it (RLBench data) from front."""
    d = fake_demo_env.make_demo("fake_reach", 0, seed=1, frame_rate=20.0, image_size=16)
    p = write_episode(d, episodes_dir(tmp_path / "a", d.task), 0)
    ep = load_episode(p, cameras=["front", "wrist"])
    assert ep.cameras == ["front", "wrist"] and ep.video_camera == "observer"
    assert ep.video_path.name == "observer.mp4"
    np.testing.assert_array_equal(ep.rgb("observer", 3), d.observations[3].cameras["observer"].rgb)
    q = write_episode(d, episodes_dir(tmp_path / "b", d.task), 0, cameras=["front", "wrist"])
    ep = load_episode(q)
    assert ep.video_camera == "front" and ep.video_path.name == "front.mp4"
    with pytest.raises(KeyError, match="observer"):
        ep.rgb("observer", 0)


def test_keyframe_only_demo(tmp_path):
    import av
    d = fake_demo_env.make_demo("fake_reach", 0, seed=1, frame_rate=None, image_size=16)
    path = write_episode(d, episodes_dir(tmp_path, d.task), 0, masks=False)
    ep = load_episode(path)
    assert ep.frame_rate is None and ep.keyframes == d.action_frames
    assert ep.mask("front", 0) is None and not (path / "front_mask").exists()
    with av.open(str(path / "observer.mp4")) as c:
        assert float(c.streams.video[0].average_rate) == 4.0
        assert sum(1 for _ in c.decode(video=0)) == len(d.observations)


def test_writer_is_atomic(tmp_path, demo, monkeypatch):
    eps = episodes_dir(tmp_path, demo.task)

    def boom(*a, **k):
        raise RuntimeError("killed while writing the video")
    monkeypatch.setattr(writer_mod, "write_video", boom)
    with pytest.raises(RuntimeError, match="killed"):
        write_episode(demo, eps, 0)
    assert os.listdir(eps) == []  # neither the tmp folder nor a half episode is left
    monkeypatch.undo()
    write_episode(demo, eps, 0)
    with pytest.raises(FileExistsError, match="episode0"):
        write_episode(demo, eps, 0)
    write_episode(demo, eps, 0, overwrite=True)
    before = sorted(p.name for p in (eps / "episode0").rglob("*"))
    monkeypatch.setattr(writer_mod, "write_video", boom)   # a failed overwrite keeps the old
    with pytest.raises(RuntimeError, match="killed"):
        write_episode(demo, eps, 0, overwrite=True)
    assert os.listdir(eps) == ["episode0"]
    assert sorted(p.name for p in (eps / "episode0").rglob("*")) == before
    assert len(load_episode(eps / "episode0")) == len(demo.observations)


def test_reader_ignores_tmp_and_unmarked_folders(tmp_path, demo):
    eps = episodes_dir(tmp_path, demo.task)
    good = write_episode(demo, eps, 0)
    # a copy that a killed writer left behind, and one without the completion marker
    shutil.copytree(good, eps / "episode1.tmp-12345")
    shutil.copytree(good, eps / "episode2")
    (eps / "episode2" / "episode.json").unlink()
    assert is_complete(good) and not is_complete(eps / "episode1.tmp-12345")
    assert not is_complete(eps / "episode2")
    ds = DemoDataset(tmp_path)
    assert [e.index for e in ds.episodes] == [0] and ds.skipped == []
    with pytest.raises(CorruptEpisodeError, match="tmp"):
        load_episode(eps / "episode1.tmp-12345")
    with pytest.raises(CorruptEpisodeError, match="incomplete"):
        load_episode(eps / "episode2")


# ---------------------------------------------------------------------- PerAct data
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_reads_real_peract_layout(tmp_path, protocol):
    truth = peract_fixture.build_peract_episode(tmp_path, n_frames=6, protocol=protocol)
    assert not any(m == "rlbench" or m.startswith("rlbench.") for m in sys.modules)
    raw = (truth["path"] / "low_dim_obs.pkl").read_bytes()
    if protocol < 4:
        assert b"numpy.core.multiarray" in raw  # numpy 1.x names, as in PerAct's files
    with pytest.raises(ModuleNotFoundError):  # plain pickle cannot even read it here
        pickle.loads(raw)
    ep = load_episode(truth["path"])
    assert ep.format == "peract" and ep.task == "open_drawer" and len(ep) == 6
    assert ep.variation == 1 and ep.descriptions == truth["descriptions"]
    assert set(ep.cameras) == set(peract_fixture.PERACT_CAMERAS)
    assert ep.keyframes[-1] == 5  # computed: the fixture has no kfs.json
    for i in (0, 4):
        frame, obs = truth["frames"][i], ep[i]
        low = frame["low"]
        np.testing.assert_array_equal(obs.joint_velocities, low["joint_velocities"])
        np.testing.assert_array_equal(obs.gripper_pose, low["gripper_pose"])
        np.testing.assert_allclose(obs.gripper_matrix[:3, 3], low["gripper_pose"][:3])
        assert obs.gripper_open == low["gripper_open"] and obs.ignore_collisions == 1.0
        assert obs.joint_forces.shape == (7,)
        for cam in ep.cameras:
            c = obs.cameras[cam]
            near, far = frame["misc"][f"{cam}_camera_near"], frame["misc"][f"{cam}_camera_far"]
            assert (c.near, c.far) == (near, far)
            np.testing.assert_array_equal(c.rgb, frame["rgb"][cam])
            np.testing.assert_array_equal(c.mask, frame["mask"][cam])
            # PyRep's matrices (negative focal lengths) come back in OpenCV's convention
            K, T = opencv_from_pyrep(frame["misc"][f"{cam}_camera_intrinsics"],
                                     frame["misc"][f"{cam}_camera_extrinsics"])
            assert c.intrinsics[0, 0] > 0 and c.intrinsics[1, 1] > 0
            np.testing.assert_array_equal(c.intrinsics, K)
            np.testing.assert_array_equal(c.extrinsics, T)
            np.testing.assert_array_equal(obs.misc[f"{cam}_camera_intrinsics"], K)
            np.testing.assert_array_equal(obs.misc[f"{cam}_camera_extrinsics"], T)
            want = frame["depth"][cam]
            assert np.all(np.abs(c.depth - want) <= depth_tol(near, far, want))


def _project(K, T, point):
    """Pixel (u, v) of a world point for a camera-to-world T and pinhole K (either convention)."""
    p = np.linalg.inv(T) @ np.append(point, 1.0)
    uvw = K @ p[:3]
    return uvw[:2] / uvw[2], p[2]


def test_pyrep_cameras_become_opencv_and_reach_camera_info(tmp_path):
    from mn_ros.conversions import ConversionError, camera_info_msg
    truth = peract_fixture.build_peract_episode(tmp_path, n_frames=3, image_size=16)
    ep = load_episode(truth["path"])
    rng = np.random.default_rng(0)
    for cam in ep.cameras:
        misc = truth["frames"][1]["misc"]
        K_py, T_py = misc[f"{cam}_camera_intrinsics"], misc[f"{cam}_camera_extrinsics"]
        assert K_py[0, 0] < 0 and K_py[1, 1] < 0                 # the input: PyRep's
        with pytest.raises(ConversionError, match="positive focal lengths"):
            camera_info_msg(K_py, 16, 16)
        c = ep.camera(cam, 1)
        msg = camera_info_msg(c.intrinsics, c.rgb.shape[1], c.rgb.shape[0])
        assert msg.k[0] > 0 and msg.k[4] > 0 and msg.width == 16
        # the same rays: every point in front of the camera lands on the same pixel
        for _ in range(5):
            p_cam = np.array([*rng.uniform(-0.5, 0.5, 2), rng.uniform(0.5, 2.0)])
            world = (T_py @ np.append(p_cam, 1.0))[:3]
            uv_py, z_py = _project(K_py, T_py, world)
            uv_cv, z_cv = _project(c.intrinsics, c.extrinsics, world)
            np.testing.assert_allclose(uv_cv, uv_py, atol=1e-9)
            assert z_cv == pytest.approx(z_py) and z_cv > 0
    # the conversion is its own inverse; a matrix in neither convention is refused
    K, T = pyrep_from_opencv(c.intrinsics, c.extrinsics)
    np.testing.assert_array_equal(K, K_py)
    np.testing.assert_array_equal(T, T_py)
    with pytest.raises(ValueError, match="neither OpenCV"):
        opencv_from_pyrep(np.diag([-10.0, 10.0, 1.0]), np.eye(4))


def test_rlbench_data_without_kfs_gets_peracts_keyframes(tmp_path):
    """The arm rests in the first frames and the gripper ends closed: PerAct's discovery finds
    a stop at frame 2, mn's clamped variant does not (its frame-0 stop cools frames 1..4)."""
    d = fake_demo_env.make_demo("fake_reach", 0, 5, 20.0, image_size=8,
                                cameras=peract_fixture.PERACT_CAMERAS, n_frames=14)
    for i, o in enumerate(d.observations):
        if i < 5:
            o.joint_velocities = np.zeros(7)
        if i >= 11:
            o.gripper_open = 0.0
    peract = keypoint_discovery(d.observations, method="peract")
    mn = keypoint_discovery(d.observations, method="mn")
    assert peract[0] == 2 and 2 not in mn
    path = write_peract_episode(d, episodes_dir(tmp_path, d.task), 0, keyframes=[13])
    (path / "kfs.json").unlink()                     # as in PerAct's own data
    assert load_episode(path).keyframes == peract
    assert load_episode(path, keyframe_method="mn").keyframes == mn
    with pytest.raises(ValueError, match="keyframe_method"):
        load_episode(path, keyframe_method="clamped")


def test_dataset_mixes_mn_and_peract_episodes(tmp_path, demo):
    peract_fixture.build_peract_episode(tmp_path, task="open_drawer", index=0)
    peract_fixture.build_peract_episode(tmp_path, task="open_drawer", index=10, seed=1)
    peract_fixture.build_peract_episode(tmp_path, task="open_drawer", index=2, seed=2)
    write_episode(demo, episodes_dir(tmp_path, demo.task), 0)
    ds = DemoDataset(tmp_path)
    assert ds.tasks == ["fake_reach", "open_drawer"]
    assert [(e.task, e.index) for e in ds.episodes] == [("fake_reach", 0), ("open_drawer", 0),
                                                        ("open_drawer", 2), ("open_drawer", 10)]
    assert ds[3].format == "peract" and ds[0].format == "mn" and ds[0] is ds[0]  # cached
    assert len(DemoDataset(tmp_path, cameras=["front", "wrist"])) == 4
    assert len(DemoDataset(tmp_path, tasks=["open_drawer"])) == 3
    with pytest.raises(FileNotFoundError, match="no_such_task"):
        DemoDataset(tmp_path, tasks=["no_such_task"])
    with pytest.warns(UserWarning, match="overhead"):  # mn episode lacks the overhead camera
        assert len(DemoDataset(tmp_path, cameras=["overhead"])) == 3


class _Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps(_Evil(f"touch {marker}"))
    with pytest.raises(pickle.UnpicklingError, match=r"(posix|os)\.system"):
        safe_loads(data)
    assert not marker.exists()
    for payload in (pickle.dumps(print), pickle.dumps(_Evil), pickle.dumps({"a": eval})):
        with pytest.raises(pickle.UnpicklingError, match="refusing"):
            safe_loads(payload)
    # the codecs helper is allowed only for latin-1 (protocol-2 bytes)
    assert safe_loads(pickle.dumps(np.arange(3), protocol=2)).tolist() == [0, 1, 2]
    assert safe_loads(pickle.dumps(b"\x00\xff", protocol=2)) == b"\x00\xff"


def test_malicious_episode_is_skipped_or_raises(tmp_path):
    truth = peract_fixture.build_peract_episode(tmp_path, index=0)
    bad = peract_fixture.build_peract_episode(tmp_path, index=1)["path"]
    marker = tmp_path / "pwned"
    (bad / "low_dim_obs.pkl").write_bytes(pickle.dumps(_Evil(f"touch {marker}")))
    with pytest.warns(UserWarning, match=r"episode1.*(posix|os)\.system"):
        ds = DemoDataset(tmp_path)
    assert [e.path for e in ds.episodes] == [truth["path"]]
    with pytest.raises(pickle.UnpicklingError, match="low_dim_obs.pkl"):
        DemoDataset(tmp_path, strict=True)
    with pytest.raises(pickle.UnpicklingError):
        safe_load(bad / "low_dim_obs.pkl")
    assert not marker.exists()


# ---------------------------------------------------------------------- corruption
def _three_episodes(root, demo):
    eps = episodes_dir(root, demo.task)
    return [write_episode(demo, eps, i) for i in range(3)]


@pytest.mark.parametrize("damage,needle", [
    ("png", "front_rgb/2.png"), ("npz", "low_dim_obs.npz"), ("missing", "wrist_depth"),
    ("meta", "episode.json"), ("kfs", "kfs.json")])
def test_corrupt_episode_is_skipped_with_warning(tmp_path, demo, damage, needle):
    paths = _three_episodes(tmp_path, demo)
    bad = paths[1]
    if damage == "png":
        p = bad / "front_rgb" / "2.png"
        p.write_bytes(p.read_bytes()[:40])  # truncated
    elif damage == "npz":
        (bad / "low_dim_obs.npz").write_bytes(b"PK\x03\x04 not a zip")
    elif damage == "missing":
        (bad / "wrist_depth" / "5.png").unlink()
    elif damage == "meta":
        (bad / "episode.json").write_text("{ truncated")
    elif damage == "kfs":
        (bad / "kfs.json").write_text("[1, 2, 999]")
    verify = damage == "png"  # a truncated PNG is only found by decoding it
    with pytest.warns(UserWarning, match=needle):
        ds = DemoDataset(tmp_path, verify_images=verify)
    assert [e.index for e in ds.episodes] == [0, 2] and ds.skipped[0][0] == bad
    with pytest.raises(CorruptEpisodeError, match=needle):
        DemoDataset(tmp_path, verify_images=verify, strict=True)


def test_lazy_read_of_corrupt_png_names_the_file(tmp_path, demo):
    path = _three_episodes(tmp_path, demo)[0]
    (path / "left_shoulder_depth" / "1.png").write_bytes(b"\x89PNG garbage")
    ep = load_episode(path)  # structure is fine; the image is only read on demand
    ep.rgb("left_shoulder", 1)
    with pytest.raises(CorruptEpisodeError, match="left_shoulder_depth/1.png"):
        ep[1]
    with pytest.raises(CorruptEpisodeError, match="left_shoulder_depth/1.png"):
        load_episode(path, verify_images=True)


def test_write_rejects_bad_demos(tmp_path, demo):
    eps = episodes_dir(tmp_path, demo.task)
    with pytest.raises(ValueError, match="overhead"):
        write_episode(demo, eps, 0, cameras=["front", "overhead"])
    demo.observations[2].task_low_dim_state = np.zeros(3)
    with pytest.raises(ValueError, match="task_low_dim_state"):
        write_episode(demo, eps, 0)
    assert not eps.exists() or os.listdir(eps) == []


def test_rgb_png_is_plain_rgb(tmp_path, demo):
    path = write_episode(demo, episodes_dir(tmp_path, demo.task), 0)
    with Image.open(path / "front_rgb" / "0.png") as im:
        assert im.mode == "RGB" and im.size == (16, 16)
    with Image.open(path / "front_depth" / "0.png") as im:
        assert im.mode == "RGB"
