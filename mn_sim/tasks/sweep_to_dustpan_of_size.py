"""sweep_to_dustpan_of_size: pick up the broom and sweep the dirt into the tall or the short
dustpan (RLBench: 2 variations; success = every crumb of dirt is inside the named dustpan).

Five light crumbs of dirt lie in a small pile; a tall dustpan (upright pole) faces the pile
from one side and a short hand dustpan from the other, their mouths towards it. A push broom
lies flat in front of the pile (between it and the robot), its handle towards the robot. As
in RLBench the arrangement is fixed relative to itself (the tall dustpan always on the +y
side of the pile) and is placed and turned as a whole per episode; the crumbs are also
shuffled within the pile and the broom within its spot. The broom is a free body held by
friction; the crumbs are free bodies pushed by its head, up the dustpan's shallow ramp.

Physical shortcut: the bristles are one rigid strip (they do not bend), so the expert sweeps
with them hovering a few millimetres above the table (5 mm, rising to 8 mm over the dustpan's
2 mm floor) instead of pressing them onto it; the dirt is five rigid 1.6 cm crumbs rather than
fine particles, and the dustpans are fixed to the table.
"""
import numpy as np

from mn_sim.conditions import DetectedCondition
from mn_sim.geometry import mat_to_quat, quat_to_mat, rot_z, yaw_of, yaw_quat_wxyz
from mn_sim.props.brushes import HANDLE_END, HANDLE_HALF, HEAD_HALF_DEPTH, add_broom
from mn_sim.props.dirt import DIRT_HALF, add_dirt
from mn_sim.props.dustpans import MOUTH_X, RAMP_LEN, SUCCESS_HALF, add_dustpan
from mn_sim.tasks.base import Task

DIRT_NUM = 5
SIZES = ("tall", "short")
SIDE = {"tall": 1.0, "short": -1.0}     # which side of the pile (layout +y / -y)
MOUTH_DIST = 0.13        # from the pile's centre to each dustpan's mouth
BROOM_BACK = 0.12        # the broom head's centre lies this far in front of the pile (layout -x)
GRIP_FROM_END = 0.02     # the handle is grasped this far from its end
LIFT = 0.10
START_GAP = 0.012        # between the head and the rearmost crumb when the sweep starts
INTO_PAN = 0.045         # the head's centre ends this far past the ramp, over the floor
CLEAR_START, CLEAR_END = 0.005, 0.008   # bristles above the table at the start / end of the sweep



class SweepToDustpanOfSize(Task):
    state_bodies = ("broom",) + tuple(f"dirt{i}" for i in range(DIRT_NUM)) + \
        ("dustpan_tall", "dustpan_short")

    def init_task(self, scene) -> None:
        for size in SIZES:
            add_dustpan(scene, f"dustpan_{size}", size)
        add_broom(scene, "broom")
        for i in range(DIRT_NUM):
            add_dirt(scene, f"dirt{i}")

    def variation_count(self) -> int:
        return 2

    def init_episode(self, variation: int) -> list[str]:
        size = SIZES[variation]
        self.size = size
        self.center = np.array([self.rng.uniform(0.13, 0.22), self.rng.uniform(-0.04, 0.04)])
        self.yaw = self.rng.uniform(-np.pi / 12, np.pi / 12)
        R = rot_z(self.yaw)[:2, :2]
        v = R[:, 1]                             # layout y (across, towards the dustpans)
        for s in SIZES:
            e = SIDE[s] * v                      # from the pile towards this dustpan
            pos = self.center + (MOUTH_DIST - MOUTH_X) * e
            self.sim.set_body_pose(f"dustpan_{s}", (*pos, self.table_z),
                                   yaw_quat_wxyz(np.arctan2(e[1], e[0])))
        local = self.sample_xy(DIRT_NUM, (-0.05, 0.05), (-0.025, 0.025), 0.022)
        for i, p in enumerate(local):
            xy = self.center + R @ p
            self.sim.set_free_pose(f"dirt{i}", (*xy, self.table_z + DIRT_HALF[2]),
                                   yaw_quat_wxyz(self.rng.uniform(-np.pi, np.pi)))
        head = self.center + R @ np.array([-BROOM_BACK + self.rng.uniform(-0.01, 0.01),
                                           self.rng.uniform(-0.03, 0.03)])
        self.sim.set_free_pose("broom", (*head, self.table_z),
                               yaw_quat_wxyz(self.yaw + self.rng.uniform(-0.2, 0.2)))
        self.sim.forward()
        self.register_success_conditions([
            DetectedCondition(f"dirt{i}", f"dustpan_{size}_success", SUCCESS_HALF)
            for i in range(DIRT_NUM)])
        return [f"sweep dirt to the {size} dustpan",
                f"sweep the dirt up into the {size} dustpan",
                f"use the broom to brush the dirt into the {size} dustpan",
                f"clean up the dirt with the {size} pan"]

    def _tool_for_broom(self, rel_R, rel_t, head_xy, heading, clearance):
        """Tool pose (pos, xyzw) that puts the held broom flat with its head at head_xy,
        pushing along `heading`, bristles `clearance` above the table."""
        Rb = rot_z(heading)
        Rt = Rb @ rel_R.T
        pb = np.array([*head_xy, self.table_z + clearance])
        return pb - Rt @ rel_t, mat_to_quat(Rt)

    def expert(self):
        sim, z0 = self.sim, self.table_z
        # grasp the handle near its end, fingers across it
        Rb, pb = sim.body_mat("broom"), sim.body_pos("broom")
        grip = pb + Rb @ np.array([HANDLE_END + GRIP_FROM_END, 0.0, HANDLE_HALF[2]])
        q_grip = self.down(self.nearest_yaw(yaw_of(Rb)))
        yield self.action((*grip[:2], z0 + LIFT), q_grip, True, False)
        yield self.action((*grip[:2], z0 + HANDLE_HALF[2]), q_grip, False, True)
        yield self.action((*grip[:2], z0 + LIFT), q_grip, False, True)

        # the broom in the tool frame, now that it is held
        tcp = sim.tcp_pose()
        Rt = quat_to_mat(tcp[3:])
        rel_R = Rt.T @ sim.body_mat("broom")
        rel_t = self.held_offset("broom")

        pan = f"dustpan_{self.size}"
        Rp = sim.body_mat(pan)
        e = Rp[:2, 0] / np.linalg.norm(Rp[:2, 0])          # sweep direction: into the pan
        pan_xy = sim.body_pos(pan)[:2]
        mouth = pan_xy + MOUTH_X * e
        heading = np.arctan2(e[1], e[0])
        dirt = np.array([sim.body_pos(f"dirt{i}")[:2] for i in range(DIRT_NUM)])
        rear = np.min((dirt - mouth) @ e)                   # rearmost crumb, along e from the mouth
        back = rear - np.hypot(DIRT_HALF[0], DIRT_HALF[1]) - HEAD_HALF_DEPTH - START_GAP
        start = mouth + back * e
        end = mouth + (RAMP_LEN + INTO_PAN) * e
        p, q = self._tool_for_broom(rel_R, rel_t, start, heading, CLEAR_START)
        yield self.action(p + [0, 0, LIFT], q, False, True)
        yield self.action(p, q, False, True)
        p, q = self._tool_for_broom(rel_R, rel_t, end, heading, CLEAR_END)
        yield self.action(p, q, False, True)
