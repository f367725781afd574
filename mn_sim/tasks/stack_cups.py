"""stack_cups: stack the two other cups into the cup of the named colour (RLBench: 20
variations, one per colour; success when both other cups are detected in or above that cup and
nothing is grasped).

Three identical open-top tapered cups (mn_sim.props.cups) stand on the table: the target cup
in the named colour, the two others each in a colour drawn from the remaining 19 (as RLBench,
the two may share a colour). The expert pinches each other cup's wall at its rim (one finger
inside, one outside), lifts it, holds it over the target cup and lets it drop in; the taper
guides it down until it nests. The cups are 16-sided rather than round and rest in each other
on four stacking lugs (see mn_sim.props.cups); the expert pinches a face between the lugs.
"""
import numpy as np

from mn_sim.conditions import DetectedCondition, NothingGrasped
from mn_sim.geometry import mat_to_quat, quat_to_mat, rot_y, rot_z, yaw_of
from mn_sim.props.cups import (CUP_H, CUP_TAPER, CUP_WALL, GRASP_FACES, NEST_STEP, add_cup,
                               cup_geom_names, cup_outer_radius, face_angle)
from mn_sim.scene import ROBOT_BASE
from mn_sim.tasks.base import COLORS, Task

CUPS = ("cup0", "cup1", "cup2")
TARGET, OTHERS = "cup1", ("cup0", "cup2")
X_RANGE, Y_RANGE = (-0.02, 0.3), (-0.25, 0.25)
CUP_GAP = 0.16                     # least distance between cup centres
# success: a cup's origin (its base centre) within this box about the target's `_inside` site
# (half way up its axis): on the target's axis and from its floor to well above its rim, which
# a cup can only reach nested in the target (or in a cup nested in it)
IN_CUP = (0.02, 0.02, 0.06)
FINGERTIP = 0.009                  # the Panda's fingertips reach this far past the tool point
GRIP_DEPTH = 0.015                 # fingertips this far below the rim when pinching the wall
DROP = 0.025                       # a cup is let go this far above where it will nest
CLEAR = 0.02                       # a carried cup's base passes this far above the stack's rim


class StackCups(Task):
    state_bodies = CUPS

    def init_task(self, scene) -> None:
        for i, c in enumerate(CUPS):
            add_cup(scene, c, pos=(0.1, 0.2 * (i - 1), self.table_z))

    def variation_count(self) -> int:
        return len(COLORS)

    def init_episode(self, variation: int) -> list[str]:
        pts = self.sample_xy(3, X_RANGE, Y_RANGE, min_dist=CUP_GAP)
        # upright and unrotated, as RLBench (its boundary samples them with zero rotation)
        for c, (x, y) in zip(CUPS, pts):
            self.sim.set_free_pose(c, (x, y, self.table_z))
        # as RLBench, the middle cup of the state is the target (its place is random)
        self.target, self.others = TARGET, OTHERS
        name, rgb = COLORS[variation]
        choices = [i for i in range(len(COLORS)) if i != variation]
        colours = {self.target: rgb}
        for c in self.others:
            colours[c] = COLORS[int(self.rng.choice(choices))][1]
        for c, col in colours.items():
            for g in cup_geom_names(c):
                self.sim.set_rgba(g, (*col, 1.0))
        self.sim.forward()
        self.register_success_conditions(
            [DetectedCondition(c, f"{self.target}_inside", IN_CUP) for c in self.others]
            + [NothingGrasped()])
        return [f"stack the other cups on top of the {name} cup",
                "place two of the cups onto the odd cup out",
                f"put the remaining two cups on top of the {name} cup",
                f"pick up and set the cups down into the {name} cup",
                f"create a stack of cups with the {name} cup as its base",
                f"keeping the {name} cup on the table, stack the other two onto it"]

    # ------------------------------------------------------------------ expert
    @staticmethod
    def _pinch_quat(th: float) -> np.ndarray:
        """Gripper pointing down, fingers closing along direction `th` (from a cup's axis to
        its wall), tipped by the wall's taper so the finger pads lie flat on the wall (the cup
        then hangs upright from them)."""
        yaw = Task.nearest_yaw(th - np.pi / 2)
        tip = rot_z(th) @ rot_y(np.arctan(CUP_TAPER)) @ rot_z(-th)
        return mat_to_quat(tip @ quat_to_mat(Task.down(yaw)))

    def _plan_pick(self, cup: str, n: int):
        """Tool poses to take `cup` and drop it onto the stack of `n` cups in the target: pinch
        a face without a lug whose hand line is clear of the other cups and whose poses the
        arm reaches, preferring a small wrist yaw and short reach."""
        sim = self.sim
        up = np.array([0.0, 0.0, 1.0])
        p = sim.body_pos(cup)
        base = sim.body_pos(self.target)
        m = sim.body_mat(cup)
        cup_yaw = yaw_of(m)
        others = [sim.body_pos(c)[:2] for c in CUPS if c != cup]
        tcp_h = CUP_H - GRIP_DEPTH + FINGERTIP          # tool point above the cup's base
        r = cup_outer_radius(tcp_h) - CUP_WALL / 2      # middle of the wall there
        carry_z = base[2] + CUP_H + n * NEST_STEP + CLEAR + tcp_h
        cands = []
        for k in GRASP_FACES:
            th = cup_yaw + face_angle(k)
            u = np.array([np.cos(th), np.sin(th), 0.0])
            grasp = p + r * u + tcp_h * up
            clearance = min(np.linalg.norm(o - (p[:2] + s * u[:2]))
                            for s in np.linspace(-0.07, 0.15, 12) for o in others)
            score = (10 * min(clearance - 0.1, 0.0) - 0.02 * abs(self.nearest_yaw(th - np.pi / 2))
                     - 0.1 * np.linalg.norm(grasp[:2] - ROBOT_BASE[:2]))
            # the cup will hang at the same offset from the tool point over the target
            at_target = base + r * u
            poses = [grasp + 0.1 * up, grasp, np.r_[grasp[:2], carry_z],
                     np.r_[at_target[:2], carry_z],
                     at_target + ((n + 1) * NEST_STEP + DROP + tcp_h) * up]
            cands.append((score, th, poses))
        cands.sort(key=lambda c: -c[0])
        for _, th, poses in cands:
            q = self._pinch_quat(th)
            if all(sim._ik_ok(*sim.ik_with_restarts(x, q)[1:]) for x in poses):
                return q, poses
        return self._pinch_quat(cands[0][1]), cands[0][2]

    def expert(self):
        sim = self.sim
        up = np.array([0.0, 0.0, 1.0])
        base = sim.body_pos(self.target)
        # the nearer cup to the target first
        order = sorted(self.others, key=lambda c: np.linalg.norm(sim.body_pos(c)[:2] - base[:2]))
        for n, cup in enumerate(order):
            q, (above_cup, grasp, lift, _, _) = self._plan_pick(cup, n)
            yield self.action(above_cup, q, True, False)                   # above the wall
            yield self.action(grasp, q, False, True)                       # pinch it
            yield self.action(lift, q, False, True)                        # lift
            # where the cup hangs in the hand, measured now
            tcp = sim.tcp_pose()
            offset = self.held_offset(cup)
            seat = sim.body_pos(self.target) + (n + 1) * NEST_STEP * up
            above = self.tool_position(seat, tcp[3:], offset)
            above[2] = lift[2]
            yield self.action(above, tcp[3:], False, False)                # over the target
            yield self.action(self.tool_position(seat + DROP * up, tcp[3:], offset), tcp[3:],
                              True, True)                                  # drop it in
        tcp = sim.tcp_pose()
        yield self.action(tcp[:3] + 0.1 * up, tcp[3:], True, True)         # back off
