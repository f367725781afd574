"""The one yaw-quaternion helper and the one stiff-contact helper that tasks and props share."""
import mujoco
import numpy as np
import pytest

from mn_sim.geometry import mat_to_quat, quat_to_mat, rot_z, wxyz_to_xyzw, yaw_of, yaw_quat_wxyz
from mn_sim.props.materials import STIFF, STIFF_BY_MIX, stiff


@pytest.mark.parametrize("yaw", [0.0, 0.3, -1.2, np.pi / 2, 3.0, -3.1])
def test_yaw_quat_is_the_rotation_about_z(yaw):
    q = yaw_quat_wxyz(yaw)
    assert np.linalg.norm(q) == pytest.approx(1.0)
    np.testing.assert_allclose(quat_to_mat(wxyz_to_xyzw(q)), rot_z(yaw), atol=1e-12)
    # MuJoCo agrees: the quaternion rotates the x axis to (cos, sin, 0)
    v = np.zeros(3)
    mujoco.mju_rotVecQuat(v, np.array([1.0, 0.0, 0.0]), q)
    np.testing.assert_allclose(v, [np.cos(yaw), np.sin(yaw), 0.0], atol=1e-12)
    assert yaw_of(rot_z(yaw)) == pytest.approx(yaw)
    np.testing.assert_allclose(np.abs(wxyz_to_xyzw(q)), np.abs(mat_to_quat(rot_z(yaw))), atol=1e-12)


def _geom():
    spec = mujoco.MjSpec()
    return spec.worldbody.add_body().add_geom()


def test_stiff_sets_the_props_contact():
    g = stiff(_geom())
    assert list(g.solref) == [0.005, 1.0]
    assert list(g.solimp) == [0.95, 0.99, 0.001, 0.5, 2.0]
    assert (g.priority, g.condim, g.solmix) == (1, 4, 1.0)
    assert stiff(_geom(), priority=2).priority == 2


def test_stiff_by_mix_keeps_the_geoms_other_contact_settings():
    default = _geom()
    g = stiff(_geom(), STIFF_BY_MIX)
    assert list(g.solref) == [0.004, 1.0] and g.solmix == 1000.0
    assert list(g.solimp) == list(default.solimp)
    assert (g.priority, g.condim) == (default.priority, default.condim)
    assert STIFF != STIFF_BY_MIX
