"""Point clouds, virtual views, heatmap fusion, rotations and SE(3) augmentation of the policy."""
import math

import numpy as np
import pytest
import torch

from mn_models.policy import constants as K
from mn_models.policy import pointcloud as pc
from mn_models.policy import rotations as rot
from mn_models.policy.augmentation import apply_transform, augment_se3, sample_se3
from mn_models.policy.synthetic import TABLE_Z, intrinsics, look_at, make_synthetic_batch, \
    raycast

VIEWS = ("top", "front", "right")
BOUNDS = (-0.3, -0.5, 0.6, 0.7, 0.5, 1.6)


pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------ back-projection


def test_backproject_plane_is_flat_and_where_the_camera_sees_it():
    hw = 32
    T = look_at((1.2, 0.3, 1.5), (0.2, 0.0, 0.75))
    Km = intrinsics(hw)
    depth, _ = raycast([], [], T, Km, hw)  # only the table plane z = TABLE_Z
    pts, valid = pc.backproject(torch.from_numpy(depth)[None].double(),
                                torch.from_numpy(Km)[None], torch.from_numpy(T)[None])
    assert valid.all()
    hit = torch.from_numpy(depth).reshape(-1) < 4.0            # not the far plane
    assert hit.sum() > 0.5 * hw * hw
    np.testing.assert_allclose(pts[0, hit, 2].numpy(), TABLE_Z, atol=1e-9)
    # the central pixel's ray hits the plane on the optical axis, in front of the camera
    centre = pts[0].reshape(hw, hw, 3)[hw // 2, hw // 2].numpy()
    to_pt = centre - T[:3, 3]
    assert np.dot(to_pt / np.linalg.norm(to_pt), T[:3, 2]) > 0.999


def test_backproject_marks_missing_depth_invalid():
    depth = torch.ones(1, 4, 4)
    depth[0, 0, 0] = 0.0
    depth[0, 1, 1] = float("nan")
    _, valid = pc.backproject(depth, torch.eye(3)[None], torch.eye(4)[None])
    assert valid.sum() == 14 and not valid[0, 0] and not valid[0, 5]


def test_fuse_cameras_names_missing_keys():
    batch = make_synthetic_batch(1, hw=16, cameras=("front",))
    with pytest.raises(KeyError, match="wrist_rgb"):
        pc.fuse_cameras(batch, ("front", "wrist"))


# ------------------------------------------------------------------ rendering


def _grid_point(S, i, j, k):
    g = pc.grid_coordinates(S, dtype=torch.float64)
    return torch.stack([g[i], g[j], g[k]])


def test_render_puts_a_point_at_its_expected_pixel_in_each_view():
    S = 16
    i, j, k = 3, 11, 6
    p = _grid_point(S, i, j, k)
    colour = torch.tensor([[[0.2, 0.4, 0.6]]], dtype=torch.float64)
    img = pc.render_views(p[None, None], colour, torch.ones(1, 1, dtype=torch.bool), S, VIEWS)
    assert img.shape == (1, 3, pc.NUM_VIEW_CHANNELS, S, S)
    expected = {"top": (S - 1 - j, i), "front": (S - 1 - k, j), "right": (S - 1 - k, i)}
    for vi, name in enumerate(VIEWS):
        filled = (img[0, vi, 6] != -1).nonzero().tolist()
        assert filled == [list(expected[name])], name
        r, c = expected[name]
        torch.testing.assert_close(img[0, vi, :3, r, c], colour[0, 0].to(img.dtype))
        torch.testing.assert_close(img[0, vi, 3:6, r, c], p.to(img.dtype))
    # the inverse map agrees with the renderer
    uv = pc.project_to_views(p, S, VIEWS)
    for vi, name in enumerate(VIEWS):
        r, c = expected[name]
        torch.testing.assert_close(uv[vi], torch.tensor([c, r], dtype=uv.dtype))


def test_zbuffer_keeps_the_nearest_point_per_view():
    S = 8
    g = pc.grid_coordinates(S, dtype=torch.float64)
    # two points on one top-view ray (differ in z), two on one front-view ray (differ in x),
    # two on one right-view ray (differ in y); colours tell them apart
    pts = torch.stack([
        torch.stack([g[1], g[1], g[6]]), torch.stack([g[1], g[1], g[2]]),   # top: z=6 wins
        torch.stack([g[6], g[5], g[4]]), torch.stack([g[3], g[5], g[4]]),   # front: x=6 wins
        torch.stack([g[2], g[1], g[0]]), torch.stack([g[2], g[6], g[0]]),   # right: y=1 wins
    ])[None]
    cols = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]],
                        dtype=torch.float64)[None]
    img = pc.render_views(pts, cols, torch.ones(1, 6, dtype=torch.bool), S, VIEWS)
    top = img[0, 0, :3, S - 1 - 1, 1]
    front = img[0, 1, :3, S - 1 - 4, 5]
    right = img[0, 2, :3, S - 1 - 0, 2]
    torch.testing.assert_close(top, cols[0, 0])
    torch.testing.assert_close(front, cols[0, 2])
    torch.testing.assert_close(right, cols[0, 4])
    # each view sees 5 distinct rays (6 points, one pair per view on one ray): 5 filled pixels,
    # every other pixel empty (-1 in the depth channel)
    assert (img[0, :, 6] != -1).sum((-1, -2)).tolist() == [5, 5, 5]


def test_render_drops_invalid_and_out_of_cube_points_and_splats():
    S = 8
    pts = torch.tensor([[[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.1, 0.1, 0.1]]])
    valid = torch.tensor([[True, True, False]])
    img = pc.render_views(pts, torch.ones(1, 3, 3), valid, S, VIEWS)
    assert ((img[0, :, 6] != -1).sum((-1, -2)) == 1).all()
    img = pc.render_views(pts, torch.ones(1, 3, 3), valid, S, VIEWS, splat=1)
    assert ((img[0, :, 6] != -1).sum((-1, -2)) == 9).all()
    # pixel-location channels: view index, row, column in [-1, 1]
    assert img[0, 0, 7].unique().tolist() == [-1.0] and img[0, 2, 7].unique().tolist() == [1.0]
    assert img[0, 0, 8, 0, 0] == -1 and img[0, 0, 8, -1, 0] == 1 and img[0, 0, 9, 0, -1] == 1


def test_render_batch_items_do_not_mix():
    S = 8
    pts = torch.tensor([[[0.0, 0.0, 0.0]], [[0.5, 0.5, 0.5]]])
    img = pc.render_views(pts, torch.ones(2, 1, 3), torch.ones(2, 1, dtype=torch.bool), S,
                          VIEWS)
    assert ((img[:, :, 6] != -1).sum((-1, -2)) == 1).all()
    assert not torch.equal(img[0, :, :6], img[1, :, :6])


# ------------------------------------------------------------------ heatmaps


@pytest.mark.parametrize("S", [16, 33])
def test_heatmap_fusion_recovers_the_3d_point(S):
    gen = torch.Generator().manual_seed(S)
    pts = torch.rand(5, 3, generator=gen, dtype=torch.float64) * 1.8 - 0.9
    uv = pc.project_to_views(pts, S, VIEWS)                    # (5, 3, 2)
    hm = pc.gaussian_heatmaps(uv, S, sigma=1.5)                # (5, 3, S, S)
    torch.testing.assert_close(hm.sum((-1, -2)), torch.ones(5, 3, dtype=hm.dtype))
    got = pc.fuse_heatmaps(hm, VIEWS)
    assert (got - pts).abs().max() <= 1.0 / S + 1e-9           # nearest pixel centre


def test_heatmap_fusion_picks_the_consistent_point_among_distractors():
    S = 16
    a, b = torch.tensor([0.3, -0.4, 0.2]), torch.tensor([-0.6, 0.5, -0.1])
    hm = pc.gaussian_heatmaps(pc.project_to_views(a, S, VIEWS), S, 1.0)
    # a distractor in two views only
    hm[:2] += 0.8 * pc.gaussian_heatmaps(pc.project_to_views(b, S, VIEWS), S, 1.0)[:2]
    got = pc.fuse_heatmaps(hm[None], VIEWS)[0]
    assert (got - a).abs().max() <= 1.0 / S + 1e-6


def test_sample_view_features_reads_the_pixel_under_the_point():
    S = 8
    feat = torch.arange(3 * S * S, dtype=torch.float32).reshape(1, 3, 1, S, S)
    p = _grid_point(S, 2, 5, 1).float()
    out = pc.sample_view_features(feat, p[None], VIEWS)[0, :, 0]
    uv = pc.project_to_views(p, S, VIEWS).round().long()
    torch.testing.assert_close(out, torch.stack([feat[0, v, 0, uv[v, 1], uv[v, 0]]
                                                 for v in range(3)]))


def test_cube_round_trip_and_bounds():
    p = torch.tensor([[0.2, 0.0, 1.1], [0.7, 0.5, 1.6]])
    c = pc.world_to_cube(p, BOUNDS)
    torch.testing.assert_close(c[0], torch.zeros(3))
    torch.testing.assert_close(c[1], torch.ones(3))
    torch.testing.assert_close(pc.cube_to_world(c, BOUNDS), p)
    assert pc.in_bounds(p, BOUNDS).all()
    assert not pc.in_bounds(torch.tensor([0.0, 0.0, 0.5]), BOUNDS)


# ------------------------------------------------------------------ rotations


def test_euler_convention_is_extrinsic_xyz():
    # about x by 90: y -> z; about z by 90: x -> y; xyz = Rz @ Ry @ Rx
    R = rot.euler_xyz_to_matrix(torch.tensor([90.0, 0.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(R @ torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
                               torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    e = torch.tensor([30.0, -20.0, 70.0], dtype=torch.float64)
    Rx = rot.euler_xyz_to_matrix(torch.tensor([30.0, 0, 0], dtype=torch.float64))
    Ry = rot.euler_xyz_to_matrix(torch.tensor([0, -20.0, 0], dtype=torch.float64))
    Rz = rot.euler_xyz_to_matrix(torch.tensor([0, 0, 70.0], dtype=torch.float64))
    torch.testing.assert_close(rot.euler_xyz_to_matrix(e), Rz @ Ry @ Rx)
    # identity -> bins (36, 36, 36); a top-down gripper (180, 0, 0) -> (0, 36, 36)
    assert rot.quat_to_bins(torch.tensor([0.0, 0, 0, 1])).tolist() == [36, 36, 36]
    assert rot.quat_to_bins(torch.tensor([1.0, 0, 0, 0])).tolist() == [0, 36, 36]


def test_quaternion_matrix_euler_round_trips():
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(500, 4, generator=gen, dtype=torch.float64)
    q = q / q.norm(dim=-1, keepdim=True)
    q2 = rot.matrix_to_quat(rot.quat_to_matrix(q))
    assert rot.quat_angle_deg(q, q2).max() < 1e-5 and (q2[:, 3] >= 0).all()
    q3 = rot.euler_xyz_to_quat(rot.quat_to_euler_xyz(q))
    assert rot.quat_angle_deg(q, q3).max() < 1e-5
    e = rot.quat_to_euler_xyz(q)
    assert (e[:, 1].abs() <= 90 + 1e-9).all() and (e.abs() <= 180 + 1e-9).all()
    # gimbal lock still reproduces the rotation
    lock = rot.euler_xyz_to_quat(torch.tensor([[40.0, 90.0, 0.0], [10.0, -90.0, 30.0]],
                                              dtype=torch.float64))
    back = rot.euler_xyz_to_quat(rot.quat_to_euler_xyz(lock))
    assert rot.quat_angle_deg(lock, back).max() < 1e-4


def test_bins_round_trip_and_discretisation_error():
    gen = torch.Generator().manual_seed(1)
    bins = torch.stack([torch.randint(0, 72, (400,), generator=gen),
                        torch.randint(19, 54, (400,), generator=gen),  # |pitch| < 90
                        torch.randint(0, 72, (400,), generator=gen)], -1)
    assert torch.equal(rot.quat_to_bins(rot.bins_to_quat(bins)), bins)
    q = torch.randn(400, 4, generator=gen, dtype=torch.float64)
    err = rot.quat_angle_deg(q, rot.bins_to_quat(rot.quat_to_bins(q)))
    assert err.max() < 7.5          # each of the three angles is off by <= 2.5 degrees
    assert rot.euler_to_bins(torch.tensor([180.0, -180.0, 177.4])).tolist() == [0, 0, 71]


# ------------------------------------------------------------------ augmentation


def test_augmentation_moves_cloud_and_target_consistently():
    gen = torch.Generator().manual_seed(0)
    B = 16
    target_pos = torch.rand(B, 3, generator=gen) * torch.tensor([0.6, 0.6, 0.6]) \
        + torch.tensor([-0.1, -0.3, 0.8])
    target_q = rot.euler_xyz_to_quat(torch.rand(B, 3, generator=gen) * 120 - 60)
    R_t = rot.quat_to_matrix(target_q)
    offset = torch.tensor([0.0, 0.0, 0.1])          # a point 10 cm along the gripper's z axis
    cloud = torch.rand(B, 50, 3, generator=gen) * 0.8 + torch.tensor([-0.2, -0.4, 0.7])
    cloud[:, 0] = target_pos
    cloud[:, 1] = target_pos + R_t @ offset
    current = torch.cat([cloud[:, 2], target_q], -1)
    pose = torch.cat([target_pos, target_q], -1)
    new_cloud, new_pose, (new_current,), info = augment_se3(
        cloud, pose, BOUNDS, extra_poses=[current], generator=gen)
    # the target point in the transformed cloud is where the transformed target is
    torch.testing.assert_close(new_cloud[:, 0], new_pose[:, :3], atol=1e-5, rtol=0)
    R_new = rot.quat_to_matrix(new_pose[:, 3:7])
    torch.testing.assert_close(new_cloud[:, 1], new_pose[:, :3] + R_new @ offset, atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(new_current[:, :3], new_cloud[:, 2], atol=1e-5, rtol=0)
    # distances within the cloud are preserved (rigid), the target stays in bounds

    def dists(x):
        return (x[:, :, None] - x[:, None]).norm(dim=-1)
    torch.testing.assert_close(dists(new_cloud), dists(cloud), atol=1e-5, rtol=0)
    assert pc.in_bounds(new_pose[:, :3], BOUNDS).all() and info["accepted"].all()
    # ranges: |t| <= 0.125 per axis, yaw only, |yaw| <= 45 degrees
    assert (info["t"].abs() <= 0.125 + 1e-6).all()
    R = info["R"]
    torch.testing.assert_close(R[:, 2], torch.tensor([0.0, 0.0, 1.0]).expand(B, 3))
    yaw = torch.rad2deg(torch.atan2(R[:, 1, 0], R[:, 0, 0]))
    assert (yaw.abs() <= 45 + 1e-4).all() and yaw.std() > 5
    assert not torch.allclose(new_cloud, cloud)


def test_augmentation_resamples_out_of_bounds_and_falls_back_to_identity():
    gen = torch.Generator().manual_seed(3)
    corner = torch.tensor([[0.69, 0.49, 1.59]] * 64)
    R, t, piv, acc = sample_se3(corner, BOUNDS, generator=gen)
    moved = apply_transform(corner, R, t, piv)
    assert pc.in_bounds(moved, BOUNDS).all()
    assert acc.any()
    # a workspace too small for any perturbation: identity, target unchanged
    tiny = (0.0, 0.0, 0.0, 0.001, 0.001, 0.001)
    p = torch.tensor([[0.0005, 0.0005, 0.0005]])
    R, t, piv, acc = sample_se3(p, tiny, max_tries=3, generator=gen)
    assert not acc.any()
    torch.testing.assert_close(apply_transform(p, R, t, piv), p)


def test_augmentation_pivot_target_keeps_yaw_about_the_target():
    gen = torch.Generator().manual_seed(5)
    p = torch.tensor([[0.2, 0.1, 1.0]])
    R, t, piv, acc = sample_se3(p, BOUNDS, translation=(0, 0, 0), yaw_deg=45,
                                pivot="target", generator=gen)
    torch.testing.assert_close(apply_transform(p, R, t, piv), p)
    with pytest.raises(ValueError, match="pivot"):
        sample_se3(p, BOUNDS, pivot="nowhere")


def test_synthetic_batch_keys_wiring():
    b = make_synthetic_batch(2, hw=16, cameras=("front", "wrist"))
    assert b[K.rgb_key("front")].shape == (2, 16, 16, 3) and b[K.ACTION].shape == (2, 9)
    assert math.isclose(float(b[K.ACTION][0, 3:7].norm()), 1.0, rel_tol=1e-5)
