"""put_money_in_safe: put a stack of bank notes on the bottom, middle or top shelf of an open
safe (RLBench: 3 variations; success = the notes are on that shelf and nothing is grasped)."""
import numpy as np

from mn_sim.conditions import DetectedCondition, NothingGrasped
from mn_sim.geometry import yaw_of, yaw_quat_wxyz
from mn_sim.props.materials import STIFF_BY_MIX, stiff
from mn_sim.props.safe import (SAFE_DEPTH, SAFE_DOOR_OPEN, SAFE_GAP, SAFE_WALL, SAFE_WIDTH,
                               SHELF_NAMES, add_safe, safe_shelf_z)
from mn_sim.scene import ROBOT_BASE
from mn_sim.tasks.base import Task

MONEY = (0.075, 0.0325, 0.015)   # half sizes of the note stack: long x, wide y, thick z
GRASP_BACK = 0.058               # grasp this far behind the stack's centre (its rear end)
HAND_CLEAR = 0.042               # tool point stays this far in front of the safe's opening



class PutMoneyInSafe(Task):
    state_bodies = ("dollar_stack", "safe")

    def init_task(self, scene) -> None:
        add_safe(scene)
        S = scene
        m = S.body("dollar_stack", free=True)
        g = stiff(S.box(m, MONEY, (0.33, 0.55, 0.33, 1.0), mass=0.15,
                          friction=(1.0, 0.01, 0.001), name="dollar_stack"), STIFF_BY_MIX)
        g.condim = 4   # torsional friction: held by one end, the stack must not pivot and droop
        # a paper band round the middle (looks only)
        S.box(m, (0.012, MONEY[1] + 0.0008, MONEY[2] + 0.0008), (0.92, 0.9, 0.8, 1.0),
              contype=0, conaffinity=0)

    def variation_count(self) -> int:
        return 3

    def init_episode(self, variation: int) -> list[str]:
        # the safe stands to the robot's left, facing it; the notes lie to its right
        sx, sy = self.rng.uniform(0.28, 0.38), self.rng.uniform(0.14, 0.24)
        # its opening turned roughly towards the robot's base
        self.safe_yaw = (np.arctan2(sy - ROBOT_BASE[1], sx - ROBOT_BASE[0])
                         + self.rng.uniform(-np.pi / 12, np.pi / 12))
        self.sim.set_body_pose("safe", (sx, sy, self.table_z), yaw_quat_wxyz(self.safe_yaw))
        self.sim.set_joint_qpos("safe_door_joint", -SAFE_DOOR_OPEN)
        mx, my = self.rng.uniform(0.0, 0.25), self.rng.uniform(-0.3, -0.1)
        money_yaw = self.rng.uniform(0.0, np.pi / 2)   # RLBench: 0 .. 90 degrees
        self.sim.set_free_pose("dollar_stack", (mx, my, self.table_z + MONEY[2] + 0.001),
                               yaw_quat_wxyz(money_yaw))
        self.sim.forward()
        self.level = SHELF_NAMES[variation]
        inner = (SAFE_DEPTH - SAFE_WALL) / 2, SAFE_WIDTH / 2 - SAFE_WALL, SAFE_GAP / 2
        on_shelf = DetectedCondition("dollar_stack", f"safe_shelf_{self.level}", inner)
        self.register_success_conditions([NothingGrasped(), on_shelf])
        return [f"put the money away in the safe on the {self.level} shelf",
                f"leave the money on the {self.level} shelf on the safe",
                f"place the stack of bank notes on the {self.level} shelf of the safe"]

    def expert(self):
        sim = self.sim
        R = sim.body_mat("dollar_stack")
        money_yaw = yaw_of(R)
        # of the two ends, grasp the one that ends up towards the robot with the least wrist turn
        grasp_yaw = self.safe_yaw + self.nearest_yaw(money_yaw - self.safe_yaw)
        fwd = np.array([np.cos(grasp_yaw), np.sin(grasp_yaw), 0.0])
        c = sim.body_pos("dollar_stack")
        grip = c - GRASP_BACK * fwd
        grip[2] = c[2] + 0.002
        q0 = self.down(grasp_yaw)
        yield self.action(grip + [0, 0, 0.12], q0, True, False)        # above the notes' rear end
        yield self.action(grip, q0, False, True)                        # grasp
        # where the notes go in: pointing into the safe, a little above the shelf
        S = sim.body_mat("safe")
        into = S[:, 0]
        safe = sim.body_pos("safe")
        k = SHELF_NAMES.index(self.level)
        floor = safe[2] + safe_shelf_z(k)
        rest = floor + MONEY[2] + 0.004       # tool height with the notes lying on the shelf
        mouth = safe - (SAFE_DEPTH / 2) * into
        end = mouth - HAND_CLEAR * into
        end[2] = rest + 0.018                 # carried in clear of the shelf's front edge
        q1 = self.down(self.safe_yaw)
        # lift, turning the notes to point the way they will go into the safe, so that they
        # do not sweep across the safe's front on the way there
        yield self.action(grip + [0, 0, 0.10], q1, False, True)
        yield self.action(end - 0.22 * into + [0, 0, 0.06], q1, False, False)   # well clear
        yield self.action(end - 0.13 * into, q1, False, True)                    # line up
        yield self.action(end, q1, False, True)                                  # slide in
        yield self.action(end + [0, 0, rest - end[2]], q1, True, True)           # set down
        yield self.action(end - 0.12 * into, q1, True, True)                     # back out
