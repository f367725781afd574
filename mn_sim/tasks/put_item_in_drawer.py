"""put_item_in_drawer: open the bottom, middle or top drawer of a chest, then put the block that
lies beside the chest inside it (RLBench: 3 variations; success = the block is in that drawer).

RLBench's block starts on top of its chest; here it lies on the table beside it, because this
chest's top is beyond a top-down grasp's reach wherever its top drawer can still be pulled."""
import numpy as np

from mn_sim.conditions import DetectedCondition
from mn_sim.geometry import mat_to_quat, quat_to_mat, rot_y, rot_z, yaw_of, yaw_quat_wxyz
from mn_sim.props.drawers import DRAWER_NAMES, add_drawer_cabinet
from mn_sim.props.materials import STIFF_BY_MIX, stiff
from mn_sim.tasks.base import Task

ITEM = 0.02                       # half size of the block (a 4 cm cube)
PULL = 0.20                       # how far the expert pulls the drawer out
IN_DRAWER = (0.10, 0.115, 0.05)   # half extents of a drawer's inside about its floor site



def handle_grasp_quats(cabinet_yaw: float, pitch: float = 0.35) -> list[np.ndarray]:
    """Gripper pointing into the chest (+x of its frame) with the fingers closing across the
    bar: tipped `pitch` rad downwards (which keeps the wrist off its joint limit at the top
    drawer's height), then level; each in its two forms 180 degrees apart about the approach
    axis."""
    a = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    flip = np.diag([-1.0, -1.0, 1.0])
    return [mat_to_quat(rot_z(cabinet_yaw) @ rot_y(t) @ a @ f)
            for t in (pitch, 0.0) for f in (np.eye(3), flip)]


class PutItemInDrawer(Task):
    state_bodies = ("item",) + tuple(f"cabinet_drawer_{d}" for d in DRAWER_NAMES)

    def init_task(self, scene) -> None:
        add_drawer_cabinet(scene)
        item = scene.body("item", free=True)
        stiff(scene.box(item, (ITEM, ITEM, ITEM), (0.85, 0.1, 0.1, 1.0), mass=0.08,
                          name="item"), STIFF_BY_MIX)

    def variation_count(self) -> int:
        return 3

    def init_episode(self, variation: int) -> list[str]:
        cx, cy = self.rng.uniform(0.40, 0.46), self.rng.uniform(-0.15, 0.15)
        self.yaw = self.rng.uniform(-np.pi / 9, np.pi / 9)   # RLBench: +-pi/8
        self.sim.set_body_pose("cabinet", (cx, cy, self.table_z), yaw_quat_wxyz(self.yaw))
        for d in DRAWER_NAMES:
            self.sim.set_joint_qpos(f"cabinet_{d}_joint", 0.0)
        # the block lies on the table beside the chest, on the side with more room
        side = -1.0 if cy > 0 else 1.0
        bx, by = self.rng.uniform(-0.06, 0.08), cy + side * self.rng.uniform(0.3, 0.36)
        self.sim.set_free_pose("item", (bx, by, self.table_z + ITEM + 0.001),
                               yaw_quat_wxyz(self.rng.uniform(-np.pi / 4, np.pi / 4)))
        self.sim.forward()
        self.level = DRAWER_NAMES[variation]
        self.register_success_conditions(
            [DetectedCondition("item", f"cabinet_{self.level}_inside", IN_DRAWER)])
        # first string as in the PerAct/ARP RLBench fork (the data the paper trains on);
        # stepjam/RLBench says "put item in {level} drawer"
        return [f"put the item in the {self.level} drawer",
                f"put the block away in the {self.level} drawer",
                f"open the {self.level} drawer and place the block inside of it",
                f"leave the block in the {self.level} drawer"]

    def pick_grasp(self, positions, quats) -> np.ndarray:
        """The first orientation whose IK converges at every position and whose path from here
        to the first position is free of collisions (as a planner would choose)."""
        sim = self.sim
        for q in quats:
            if not all(sim._ik_ok(*sim.ik_with_restarts(p, q)[1:]) for p in positions):
                continue
            path, _ = sim.plan(positions[0], q)
            if path is not None and not sim.path_collision(path, set()):
                return np.asarray(q)
        return self.pick_reachable(positions, quats)

    def expert(self):
        sim = self.sim
        out = -np.array([np.cos(self.yaw), np.sin(self.yaw), 0.0])   # towards the robot
        handle = sim.site_pos(f"cabinet_{self.level}_handle")
        pull = [handle + 0.08 * out, handle + PULL * out, handle + (PULL + 0.08) * out]
        q = self.pick_grasp(pull, handle_grasp_quats(self.yaw))
        yield self.action(pull[0], q, True, False)                    # before the handle
        yield self.action(handle - 0.005 * out, q, False, True)       # grip the bar
        yield self.action(pull[1], q, False, True)                    # pull the drawer open
        yield self.action(pull[1], q, True, True)                     # let go of the bar
        yield self.action(pull[2], q, True, True)                     # back off
        # rise and turn to point down. The hand is 20 cm across its fingers: pitching it down
        # swings the end that was on top forwards, over the handle, and the other end back.
        up = quat_to_mat(q)[:, 1] @ [0.0, 0.0, 1.0] > 0    # hand y (finger axis) points up
        turn = handle + (PULL + 0.12) * out + [0, 0, 0.15]
        yield self.action(turn, self.down(self.yaw + (np.pi / 2 if up else -np.pi / 2)), True,
                          False)
        R = sim.body_mat("item")
        q = self.down(self.yaw + self.nearest_yaw(yaw_of(R) - self.yaw,
                                                  np.pi / 2))
        p = sim.body_pos("item")
        inside = sim.site_pos(f"cabinet_{self.level}_inside")
        carry = inside[2] + 0.10                   # the block clears the drawer's walls
        yield self.action([p[0], p[1], turn[2]], q, True, False)      # above the block
        yield self.action(p, q, False, True)                           # grasp
        drop = inside + 0.05 * out    # in front of the floor's centre, clear of the chest
        q = self.down(self.yaw)
        # lift, turning the hand square to the chest (it then passes the handles side on)
        yield self.action([p[0], p[1], carry], q, False, True)
        yield self.action([drop[0], drop[1], carry], q, False, False)        # over the drawer
        yield self.action(drop + [0, 0, ITEM + 0.012], q, True, True)        # lower, let go
        yield self.action(drop + [0, 0, 0.12], q, True, True)                # withdraw
