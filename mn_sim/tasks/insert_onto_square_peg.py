"""insert_onto_square_peg: pick up the square ring and put it on the spoke of the named colour
(RLBench: 20 variations, one per colour; a base with three square spokes, one of that colour
drawn at random and two of two other colours; success = the ring sits around that spoke, low on
it (its centre within 8 mm of the spoke's axis and in the spoke's lower half, RLBench's four
detectors around the spoke), and nothing is grasped).

The ring's square hole leaves 4.5 mm on each side of a spoke. The fingers take the ring by one
side, one finger in the hole, so the expert lowers the ring until its lower edge is 8 mm over
the spoke's top, lets go, and the ring slides down the spoke under gravity."""
import numpy as np

from mn_sim.conditions import DetectedCondition, NothingGrasped
from mn_sim.geometry import quat_to_mat, rot_z, yaw_of, yaw_quat_wxyz
from mn_sim.props.pegs import (N_SPOKES, PLATE_HALF, RING_HALF_H, RING_HOLE_HALF, RING_WALL,
                               SPOKE_H, SPOKE_TOP, add_spoke_base, add_square_ring, spoke_y)
from mn_sim.scene import ROBOT_BASE
from mn_sim.tasks.base import COLORS, Task

BASE, RING = "spokes", "square_ring"
GRIP_OUT = 0.004     # tool point outside the middle of the gripped side (room for the inner finger)
GRIP_DZ = 0.006      # tool point above the ring's centre: fingertips 12 mm above its lower edge
ENGAGE = 0.008       # how far the ring is slid over the spoke's top before it is let go
RING_CLEAR = 0.12    # ring centre at least this far from the base's footprint
MAX_LOW_REACH = 0.72  # ring centre at most this far (xy) from the robot's base
SUCCESS_HALF = (0.008, 0.008, SPOKE_H / 4)   # about a spoke's lower half (site `_low`)




class InsertOntoSquarePeg(Task):
    state_bodies = (RING, BASE)

    def init_task(self, scene) -> None:
        add_spoke_base(scene, BASE)
        add_square_ring(scene, RING)

    def variation_count(self) -> int:
        return len(COLORS)

    def _footprint_dist(self, p, centre, yaw) -> float:
        local = rot_z(yaw)[:2, :2].T @ (np.asarray(p) - centre)
        return float(np.linalg.norm(np.maximum(np.abs(local) - np.asarray(PLATE_HALF[:2]), 0.0)))

    def init_episode(self, variation: int) -> list[str]:
        color_name, rgb = COLORS[variation]
        for _ in range(200):
            centre = np.array([self.rng.uniform(0.1, 0.25), self.rng.uniform(-0.15, 0.15)])
            self.base_yaw = self.rng.uniform(-np.pi / 4, np.pi / 4)
            ring = np.array([self.rng.uniform(-0.03, 0.32), self.rng.uniform(-0.28, 0.28)])
            if self._footprint_dist(ring, centre, self.base_yaw) >= RING_CLEAR and \
                    np.linalg.norm(ring - np.asarray(ROBOT_BASE[:2])) <= MAX_LOW_REACH:
                break
        self.sim.set_body_pose(BASE, (*centre, self.table_z), yaw_quat_wxyz(self.base_yaw))
        self.sim.set_free_pose(RING, (*ring, self.table_z + RING_HALF_H),
                               yaw_quat_wxyz(self.rng.uniform(-np.pi / 4, np.pi / 4)))
        # the named colour on one spoke drawn at random, two other colours on the others
        self.target = int(self.rng.integers(N_SPOKES))
        others = [i for i in range(len(COLORS)) if i != variation]
        picks = iter(self.rng.choice(others, size=N_SPOKES - 1, replace=False))
        for k in range(N_SPOKES):
            c = rgb if k == self.target else COLORS[int(next(picks))][1]
            self.sim.set_rgba(f"{BASE}_spoke{k}", (*c, 1.0))
        self.sim.forward()
        self.register_success_conditions([
            DetectedCondition(RING, f"{BASE}_spoke{self.target}_low", SUCCESS_HALF),
            NothingGrasped()])
        return [f"put the ring on the {color_name} spoke",
                f"slide the ring onto the {color_name} colored spoke",
                f"place the ring onto the {color_name} spoke"]

    def expert(self):
        sim = self.sim
        up = np.array([0.0, 0.0, 1.0])
        ring = sim.body_pos(RING)
        # fingers closing across one side of the frame: the side nearer the robot of the two
        # that lie across the wrist's comfortable yaw
        g = self.nearest_yaw(yaw_of(sim.body_mat(RING)), np.pi / 2)
        n = np.array([-np.sin(g), np.cos(g), 0.0])
        base_xy = np.asarray(ROBOT_BASE[:2])
        cands = [ring + s * (RING_HOLE_HALF + RING_WALL / 2 + GRIP_OUT) * n for s in (1.0, -1.0)]
        grasp = min(cands, key=lambda p: np.linalg.norm(p[:2] - base_xy)) + GRIP_DZ * up
        yield self.action(grasp + 0.1 * up, self.down(g), True, False)     # above the ring
        yield self.action(grasp, self.down(g), False, True)                # grasp a side
        carry_z = self.table_z + SPOKE_TOP + RING_HALF_H + 0.04
        tcp = sim.tcp_pose()
        lift = tcp[:3].copy()
        lift[2] = carry_z + GRIP_DZ
        yield self.action(lift, tcp[3:], False, True)                      # lift
        # how the ring hangs in the hand, measured now that it is held
        tcp = sim.tcp_pose()
        offset = self.held_offset(RING)
        rel_yaw = self.nearest_yaw(yaw_of(sim.body_mat(RING)) - yaw_of(quat_to_mat(tcp[3:])),
                                   np.pi / 2)
        axis = sim.body_pos(BASE) + rot_z(self.base_yaw) @ np.array([0.0, spoke_y(self.target), 0.0])
        goal = np.array([axis[0], axis[1], self.table_z + SPOKE_TOP + RING_HALF_H])
        # the ring lines up with the spoke at wrist yaws a quarter turn apart; of the two within
        # +-90 degrees, try first the one that holds the ring from the robot's side (shorter reach)
        h0 = self.nearest_yaw(self.base_yaw - rel_yaw, np.pi / 2)
        quats = sorted((self.down(h) for h in (h0, h0 - np.copysign(np.pi / 2, h0))),
                       key=lambda qq: np.linalg.norm(self.tool_position(goal, qq, offset)[:2]
                                                     - base_xy))
        q = next((qq for qq in quats if all(
            sim._ik_ok(*sim.ik_with_restarts(self.tool_position(goal + dz * up, qq, offset),
                                             qq)[1:])
            for dz in (0.025, -ENGAGE))), quats[0])
        above = self.tool_position(goal + 0.025 * up, q, offset)
        yield self.action(above, q, False, False)                          # over the spoke
        on = self.tool_position(goal - ENGAGE * up, q, offset)
        yield self.action(on, q, True, True)                               # onto it, let go
        yield self.action(on + 0.1 * up, q, True, True)                    # retreat
