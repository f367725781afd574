"""open_drawer: open the bottom, middle or top drawer of a chest (RLBench: 3 variations)."""
import numpy as np

from mn_sim.conditions import JointCondition
from mn_sim.geometry import mat_to_quat, quat_to_mat, rot_y, rot_z, yaw_quat_wxyz
from mn_sim.props.drawers import DRAWER_NAMES, add_drawer_cabinet
from mn_sim.tasks.base import Task


def handle_grasp_quats(cabinet_yaw: float, pitch: float = 0.0) -> list[np.ndarray]:
    """Gripper pointing into the cabinet (+x of its frame), fingers closing vertically; the
    two hand orientations 180 deg apart about the approach axis grip the bar alike. A slight
    downward pitch keeps the wrist away from the Panda's singular straight-ahead pose."""
    a = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    b = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    R = rot_z(cabinet_yaw) @ rot_y(pitch)
    return [mat_to_quat(R @ a), mat_to_quat(R @ b)]


# downward pitches of the hand tried in turn: the top handle sits near the Panda's shoulder
# height, where a horizontal wrist runs into joint limits
HANDLE_PITCHES = (0.0, 0.15, 0.3, 0.45)


class OpenDrawer(Task):
    state_bodies = tuple(f"cabinet_drawer_{d}" for d in DRAWER_NAMES)

    def init_task(self, scene) -> None:
        add_drawer_cabinet(scene)

    def variation_count(self) -> int:
        return 3

    def place_cabinet(self):
        x = self.rng.uniform(0.42, 0.5)
        y = self.rng.uniform(-0.15, 0.15)
        self.yaw = self.rng.uniform(-np.pi / 9, np.pi / 9)
        self.sim.set_body_pose("cabinet", (x, y, self.table_z),
                               yaw_quat_wxyz(self.yaw))
        for d in DRAWER_NAMES:
            self.sim.set_joint_qpos(f"cabinet_{d}_joint", 0.0)
        self.sim.forward()

    def init_episode(self, variation: int) -> list[str]:
        self.place_cabinet()
        self.level = DRAWER_NAMES[variation]
        self.register_success_conditions([JointCondition(f"cabinet_{self.level}_joint", 0.15)])
        return [f"open the {self.level} drawer",
                f"grip the {self.level} handle and pull the {self.level} drawer open",
                f"slide the {self.level} drawer open"]

    def pull_actions(self, level: str, distance: float = 0.18):
        handle = self.sim.site_pos(f"cabinet_{level}_handle")
        out = -np.array([np.cos(self.yaw), np.sin(self.yaw), 0.0])   # towards the robot
        path = [handle + 0.08 * out, handle + distance * out, handle + (distance + 0.04) * out]
        # the flattest grip the arm reaches: a horizontal hand holds the bar best
        q = self.pick_reachable(path, [q for pitch in HANDLE_PITCHES
                                       for q in handle_grasp_quats(self.yaw, pitch)])
        deep = 0.012 * quat_to_mat(q)[:, 2]   # grip the bar with the pads, not the fingertips
        yield self.action(handle + 0.08 * out, q, True, False)        # approach
        yield self.action(handle + deep, q, False, True)              # grasp the bar
        yield self.action(handle + deep + distance * out, q, False, True)    # pull
        yield self.action(handle + (distance + 0.04) * out, q, True, True)  # release, back off

    def expert(self):
        yield from self.pull_actions(self.level)
