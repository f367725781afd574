"""turn_tap: turn the left or right lever of a mixer tap by a quarter turn (RLBench: 2
variations; success when that tap's hinge has turned at least 1.57 rad)."""
import numpy as np

from mn_sim.conditions import JointCondition
from mn_sim.geometry import yaw_quat_wxyz
from mn_sim.props.taps import TAP_HANDLE_Y, TAP_SIDES, add_tap
from mn_sim.scene import ROBOT_BASE
from mn_sim.tasks.base import Task

TURN = 1.8   # how far the expert turns a lever (rad); success needs 1.57
MAX_REACH = 0.74   # horizontal distance from the robot's base to a lever (m)


class TurnTap(Task):
    state_bodies = ("tap", "tap_left_handle", "tap_right_handle")

    def init_task(self, scene) -> None:
        add_tap(scene)

    def variation_count(self) -> int:
        return 2

    def init_episode(self, variation: int) -> list[str]:
        for _ in range(100):   # both levers within the Panda's top-down reach
            x = self.rng.uniform(0.1, 0.3)
            y = self.rng.uniform(-0.15, 0.15)
            self.yaw = self.rng.uniform(-np.pi / 6, np.pi / 6)
            ends = np.array([x, y]) + np.outer([1, -1], TAP_HANDLE_Y * np.array(
                [-np.sin(self.yaw), np.cos(self.yaw)]))
            if np.all(np.linalg.norm(ends - ROBOT_BASE[:2], axis=1) <= MAX_REACH):
                break
        else:
            raise RuntimeError("turn_tap: could not place the tap within reach")
        self.sim.set_body_pose("tap", (x, y, self.table_z),
                               yaw_quat_wxyz(self.yaw))
        for side in TAP_SIDES:
            self.sim.set_joint_qpos(f"tap_{side}_joint", 0.0)
        self.sim.forward()
        self.side = TAP_SIDES[variation]
        self.register_success_conditions([JointCondition(f"tap_{self.side}_joint", 1.57)])
        return [f"turn {self.side} tap", f"rotate the {self.side} tap",
                f"grasp the {self.side} tap and turn it"]

    def low_dim_state(self) -> np.ndarray:
        """Positions of the tap and its two levers, then the levers' hinge angles."""
        angles = [self.sim.joint_qpos(f"tap_{side}_joint") for side in TAP_SIDES]
        return np.concatenate([super().low_dim_state(), angles])

    def expert(self):
        handle = self.sim.site_pos(f"tap_{self.side}_handle")
        # fingers close across the lever (along the tap's y); the left lever turns
        # counter-clockwise, the right one clockwise; start where the wrist can make the turn
        sign = 1.0 if self.side == "left" else -1.0
        start = self.nearest_yaw(self.yaw + sign * TURN / 2) - sign * TURN / 2
        end = start + sign * TURN
        above = handle + np.array([0.0, 0.0, 0.1])
        yield self.action(above, self.down(start), True, False)           # approach
        yield self.action(handle, self.down(start), False, True)          # grasp the lever
        yield self.action(handle, self.down(end), False, True)            # turn it
        yield self.action(above, self.down(end), True, True)              # let go, retreat
