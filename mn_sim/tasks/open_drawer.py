"""open_drawer: open the bottom, middle or top drawer of a chest (RLBench: 3 variations)."""
import numpy as np

from mn_sim.conditions import JointCondition
from mn_sim.geometry import mat_to_quat, rot_z, wxyz_to_xyzw, xyzw_to_wxyz  # noqa: F401
from mn_sim.props import DRAWER_NAMES, add_drawer_cabinet
from mn_sim.tasks.base import Task


def handle_grasp_quat(cabinet_yaw: float) -> np.ndarray:
    """Gripper pointing into the cabinet (+x of its frame), fingers closing vertically."""
    R = rot_z(cabinet_yaw) @ np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return mat_to_quat(R)


class OpenDrawer(Task):
    state_bodies = tuple(f"cabinet_drawer_{d}" for d in DRAWER_NAMES)

    def init_task(self, scene) -> None:
        add_drawer_cabinet(scene)

    def variation_count(self) -> int:
        return 3

    def place_cabinet(self):
        x = self.rng.uniform(0.22, 0.32)
        y = self.rng.uniform(-0.15, 0.15)
        self.yaw = self.rng.uniform(-np.pi / 9, np.pi / 9)
        self.sim.set_body_pose("cabinet", (x, y, self.table_z),
                               xyzw_to_wxyz(mat_to_quat(rot_z(self.yaw))))
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

    def pull_actions(self, level: str, distance: float = 0.2):
        handle = self.sim.site_pos(f"cabinet_{level}_handle")
        out = -np.array([np.cos(self.yaw), np.sin(self.yaw), 0.0])   # towards the robot
        q = handle_grasp_quat(self.yaw)
        yield self.action(handle + 0.10 * out, q, True, False)        # approach
        yield self.action(handle - 0.005 * out, q, False, True)       # grasp the bar
        yield self.action(handle + distance * out, q, False, True)    # pull
        yield self.action(handle + (distance + 0.06) * out, q, True, True)  # release, back off

    def expert(self):
        yield from self.pull_actions(self.level)
