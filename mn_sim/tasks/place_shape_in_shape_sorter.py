"""place_shape_in_shape_sorter: pick up the named shape (cube, cylinder, triangular prism, star or
moon) from among all five and put it into the shape sorter through its own hole (RLBench: 5
variations, one per shape; success = that shape is detected inside the sorter and nothing is
grasped).

The sorter (mn_sim.props.shape_sorter) is a closed box whose lid has one hole per shape, each the
shape's footprint grown by 3.5 mm all round. The sizes are chosen so that a shape passes only
through its own hole, and only turned the right way (within about 6-9 degrees; the moon only
one way round, the cylinder any way). The shapes (mn_sim.props.shapes) are free bodies lying
at random on the table, each turned at random (the moon, which fits its hole one way only,
within 90 degrees of its hole's way, so the wrist never has to turn it by more than that). The
expert pinches the named shape from above, lifts it, turns it to its hole and holds it over the
hole, lowers it until its lower part is through the lid and lets go: it drops inside. As in
RLBench, success is the shape inside the box (its origin in the hollow under the lid, where
RLBench has a proximity sensor), plus nothing held.
"""
import numpy as np

from mn_sim.conditions import DetectedCondition, NothingGrasped
from mn_sim.geometry import quat_to_mat, rot_z, yaw_of, yaw_quat_wxyz
from mn_sim.props.shape_sorter import (HALF_X, HALF_Y, HOLE_YAW, SORTER_H, SORTER_INSIDE,
                                       add_shape_sorter)
from mn_sim.props.shapes import (GRASP_AXIS, GRASP_SYMMETRY, ROT_SYMMETRY, SHAPE_H, SHAPE_NAMES,
                                 add_shape, body_name, convex_pieces)
from mn_sim.scene import ROBOT_BASE
from mn_sim.tasks.base import Task

SORTER = "shape_sorter"
SHAPES = tuple(body_name(s) for s in SHAPE_NAMES)
SORTER_X, SORTER_Y, SORTER_YAW = (-0.04, 0.04), (-0.12, 0.12), np.pi / 8
SHAPE_X, SHAPE_Y = (-0.13, 0.28), (-0.33, 0.33)
REACH = 0.77               # greatest distance of a shape from the robot's base (top-down grasp)
SHAPE_GAP = 0.11           # least distance between shape centres (star tip + open finger)
SORTER_MARGIN = 0.08       # least distance of a shape centre from the sorter's footprint (the
                           # open fingers reach 6.6 cm from the tool point)
PINCH_DEPTH = 0.010        # the tool point goes this far below a shape's top to grasp it
INSERT_DEPTH = 0.020       # how far a shape's bottom goes below the lid's top before release
MOON_TURN = np.pi / 2      # the moon lies at most this far turned from its hole's way
PAD_HALF_WIDTH = 0.0085   # half width of a Panda finger pad (across the closing direction)
CARRY = 0.06               # clearance of a carried shape's bottom over the lid


def _clip(poly, n, d: float) -> np.ndarray:
    """The part of a convex polygon where p . n <= d (Sutherland-Hodgman, one edge)."""
    out = []
    for i in range(len(poly)):
        a, b = poly[i - 1], poly[i]
        da, db = a @ n - d, b @ n - d
        if (da <= 0) != (db <= 0):
            out.append(a + (b - a) * da / (da - db))
        if db <= 0:
            out.append(b)
    return np.array(out).reshape(-1, 2)



def wrap(a: float) -> float:
    return (a + np.pi) % (2 * np.pi) - np.pi


class PlaceShapeInShapeSorter(Task):
    state_bodies = SHAPES + (SORTER,)

    def init_task(self, scene) -> None:
        add_shape_sorter(scene, SORTER)
        for s in SHAPE_NAMES:
            add_shape(scene, s)

    def variation_count(self) -> int:
        return len(SHAPE_NAMES)

    def _shape_spots(self, sorter_xy, sorter_yaw, tries: int = 2000) -> np.ndarray:
        """Shape centres on the table, apart from each other, off the sorter and not behind it
        (between it and the robot, where the front camera cannot see)."""
        R = rot_z(sorter_yaw)[:2, :2]
        pts: list[np.ndarray] = []
        for _ in range(tries):
            p = np.array([self.rng.uniform(*SHAPE_X), self.rng.uniform(*SHAPE_Y)])
            if np.hypot(p[0] - ROBOT_BASE[0], p[1] - ROBOT_BASE[1]) > REACH:
                continue
            lx, ly = R.T @ (p - sorter_xy)
            if np.hypot(max(abs(lx) - HALF_X, 0.0), max(abs(ly) - HALF_Y, 0.0)) < SORTER_MARGIN:
                continue
            if lx < 0 and abs(ly) < HALF_Y + 0.02:      # behind it
                continue
            if all(np.linalg.norm(p - q) >= SHAPE_GAP for q in pts):
                pts.append(p)
                if len(pts) == len(SHAPES):
                    return np.stack(pts)
        raise RuntimeError("place_shape_in_shape_sorter: could not lay out the shapes")

    def init_episode(self, variation: int) -> list[str]:
        for _ in range(50):
            sxy = np.array([self.rng.uniform(*SORTER_X), self.rng.uniform(*SORTER_Y)])
            self.sorter_yaw = self.rng.uniform(-SORTER_YAW, SORTER_YAW)
            try:
                pts = self._shape_spots(sxy, self.sorter_yaw)
                break
            except RuntimeError:
                continue
        else:
            raise RuntimeError("place_shape_in_shape_sorter: could not lay out the scene")
        self.sim.set_body_pose(SORTER, (*sxy, self.table_z),
                               yaw_quat_wxyz(self.sorter_yaw))
        order = self.rng.permutation(len(SHAPES))
        for shape, b, i in zip(SHAPE_NAMES, SHAPES, order):
            yaw = self.rng.uniform(-np.pi, np.pi)
            if shape == "moon":   # horns within MOON_TURN of the way its hole faces
                yaw = self.sorter_yaw + HOLE_YAW[shape] + self.rng.uniform(-MOON_TURN, MOON_TURN)
            self.sim.set_free_pose(b, (*pts[i], self.table_z + SHAPE_H / 2 + 0.0005),
                                   yaw_quat_wxyz(yaw))
        self.sim.forward()
        self.shape = SHAPE_NAMES[variation]
        self.register_success_conditions([
            DetectedCondition(body_name(self.shape), f"{SORTER}_inside", SORTER_INSIDE),
            NothingGrasped()])
        s = self.shape
        return [f"put the {s} in the shape sorter",
                f"pick up the {s} and put it in the sorter",
                f"place the {s} into its slot in the shape sorter",
                f"slot the {s} into the shape sorter"]

    # ------------------------------------------------------------------ expert
    def _grasp_centre(self, s_yaw: float, g: float) -> np.ndarray:
        """Midpoint between the finger pads' contacts on the shape (world xy, relative to its
        origin) for a top-down grasp with yaw g: the shape's extent along the closing direction
        within the strip the pads sweep."""
        t = g + np.pi / 2 - s_yaw                   # closing direction in the shape's frame
        u, w = np.array([np.cos(t), np.sin(t)]), np.array([-np.sin(t), np.cos(t)])
        lo, hi = np.inf, -np.inf
        for piece in convex_pieces(self.shape):
            strip = _clip(_clip(piece, w, PAD_HALF_WIDTH), -w, PAD_HALF_WIDTH)
            if len(strip):
                lo, hi = min(lo, float(np.min(strip @ u))), max(hi, float(np.max(strip @ u)))
        return rot_z(s_yaw)[:2, :2] @ (0.5 * (lo + hi) * u)

    def expert(self):
        sim, shape = self.sim, self.shape
        body = body_name(shape)
        up = np.array([0.0, 0.0, 1.0])
        pos = sim.body_pos(body)
        s_yaw = yaw_of(sim.body_mat(body))
        hole = sim.site_pos(f"{SORTER}_hole_{body}")
        hole_yaw = self.sorter_yaw + HOLE_YAW[shape]
        # the closing direction (gripper yaw + 90 deg) along the shape's grasp axis
        g = s_yaw + GRASP_AXIS[shape] - np.pi / 2
        if ROT_SYMMETRY[shape] >= 2 * np.pi - 1e-9:
            # one way into the hole: of the two grasps 180 deg apart, the one that keeps the
            # wrist nearer its middle now and over the hole
            turn = wrap(hole_yaw - s_yaw)
            cands = [wrap(g), wrap(g + np.pi)]
            g = min(cands, key=lambda c: max(abs(c), abs(wrap(c + turn))))
        else:
            g = self.nearest_yaw(g, GRASP_SYMMETRY[shape])
        grasp = pos.copy()
        grasp[:2] += self._grasp_centre(s_yaw, g)
        grasp[2] += SHAPE_H / 2 - PINCH_DEPTH
        yield self.action(grasp + 0.10 * up, self.down(g), True, False)      # above the shape
        yield self.action(grasp, self.down(g), False, True)                  # pinch it
        carry_tcp_z = self.table_z + SORTER_H + CARRY + SHAPE_H - PINCH_DEPTH
        sym = ROT_SYMMETRY[shape]
        n = int(np.ceil(2 * np.pi / sym))

        def turn_to_hole():
            """Tool yaw that turns the held shape to its hole's yaw, and the shape's place in
            the hand (measured: it may have shifted while the fingers closed or the arm moved)."""
            tcp = sim.tcp_pose()
            Rt = quat_to_mat(tcp[3:])
            rel = yaw_of(sim.body_mat(body)) - yaw_of(Rt)
            gamma = min((wrap(hole_yaw - rel + k * sym) for k in range(-n, n + 1)),
                        key=lambda y: abs(wrap(y - yaw_of(Rt))) + 0.5 * abs(y))
            return self.down(gamma), self.held_offset(body)

        tcp = sim.tcp_pose()
        yield self.action([tcp[0], tcp[1], carry_tcp_z], tcp[3:], False, True)   # lift
        q, offset = turn_to_hole()
        centre_z = self.table_z + SORTER_H - INSERT_DEPTH + SHAPE_H / 2
        above_z = centre_z + INSERT_DEPTH + CARRY
        yield self.action(self.tool_position(np.array([hole[0], hole[1], above_z]), q, offset),
                          q, False, False)                                  # turn, over its hole
        q, offset = turn_to_hole()      # measured again: correct what the turn shifted
        inside = self.tool_position(np.array([hole[0], hole[1], centre_z]), q, offset)
        yield self.action(inside, q, True, True)                             # in, let go
        yield self.action(inside + 0.10 * up, q, True, True)                 # retreat
