"""put_groceries_in_cupboard: nine groceries stand on the table beside an open cupboard; put the
named one in the cupboard (RLBench: 9 variations, one per grocery, all nine spawned in every
episode; success = that grocery is inside the cupboard's bottom compartment and nothing is
grasped).

The cupboard stands on the robot's left or right, turned to face the robot's base (RLBench
turns the whole task about the vertical by up to 1 rad); its shelf is lifted on a stand above
the groceries' height, so a grocery taken from above is carried level into it. The groceries
are scattered over the rest of the table at any yaw, at least 10 cm apart as in RLBench,
within the Panda's top-down reach and where the front and shoulder cameras see them; the named
one's neighbours are kept out of the way of the hand that takes it and out of the cameras'
sight of it. The front camera sees the cupboard from behind: a grocery put away is seen going
in from the shoulder cameras.

Physical shortcut: a can touches the world as an octagonal prism whose flat faces lie at the
can's radius, drawn as a cylinder 4 % wider (the prism's corners stand out of it by under
1.5 mm). On a true MuJoCo cylinder the Panda's finger pads wedge the curved wall between them
and stay stuck when the gripper opens; across two flat faces they let go as they do on a box.
"""
import numpy as np

from mn_sim.conditions import DetectedCondition, NothingGrasped
from mn_sim.geometry import yaw_quat_wxyz
from mn_sim.props.cupboard import (CUPBOARD_DEPTH, CUPBOARD_FLOOR, CUPBOARD_HEIGHT,
                                   CUPBOARD_WIDTH, add_cupboard,
                                   cupboard_inner_half)
from mn_sim.props.groceries import CAN_SIDES, GROCERIES, GROCERY_NAMES, add_grocery
from mn_sim.scene import CAMERA_FOVY, CAMERA_POSES, ROBOT_BASE
from mn_sim.tasks.base import Task

X_RANGE = (-0.15, 0.25)            # where groceries stand (x)
Y_NEAR, Y_FAR = 0.12, 0.42         # y range: from Y_NEAR on the cupboard's side to Y_FAR beyond
REACH = 0.74                       # grocery centres within this of the robot's base (top-down)
CUPBOARD_CLEAR = 0.27              # grocery centres stay this far from the cupboard's centre
MIN_DIST = 0.10                    # RLBench: min_distance=0.1 between spawned groceries
VIEW_CAMERAS = ("front", "left_shoulder", "right_shoulder")
VIEW_MARGIN = 0.85                 # groceries stand inside the middle 85 % of those images
BESIDE = 0.42                      # the named grocery stands before the cupboard or this far aside
GAP = 0.012                        # least gap between two groceries' bounding circles
# the open hand seen from above, about the tool point: half length along the finger axis and
# half width across it, for the hand's body and for the fingers
HAND_HALF, HAND_HALF_W, HAND_BOTTOM = 0.108, 0.036, 0.037   # hand body from 3.7 cm above tcp
FINGER_HALF, FINGER_HALF_W, FINGER_TIP = 0.07, 0.015, 0.009  # fingertips 9 mm below tcp
GRASP_DEPTH = {"tuna": 0.018, "mustard": 0.014}   # tool point below the main shape's top
DEFAULT_DEPTH = 0.02
FRONT = 0.30                       # the hand lines up this far before the compartment's centre
DROP = 0.012                       # a grocery is let go this high above the shelf



class PutGroceriesInCupboard(Task):
    state_bodies = tuple(g.body for g in GROCERIES) + ("cupboard",)

    def init_task(self, scene) -> None:
        add_cupboard(scene)
        for g in GROCERIES:
            add_grocery(scene, g)

    def variation_count(self) -> int:
        return len(GROCERIES)

    # ------------------------------------------------------------------ layout
    def _hand_conflict(self, k: int, p, yaw: float, q, j: int) -> bool:
        """Would grocery j standing at q be in the way of the hand taking grocery k at p?"""
        gk, gj = GROCERIES[k], GROCERIES[j]
        tcp = 2 * gk.half_height - GRASP_DEPTH.get(gk.body, DEFAULT_DEPTH)   # above the table
        axis = np.array([-np.sin(yaw), np.cos(yaw)])      # finger axis (top_down_quat's y)
        rel = np.asarray(q) - np.asarray(p)
        u, v = abs(rel @ axis), abs(rel @ np.array([axis[1], -axis[0]]))
        r = gj.radius + 0.008
        if gj.height > tcp + HAND_BOTTOM - 0.01 and u < HAND_HALF + r and v < HAND_HALF_W + r:
            return True
        return (gj.height > tcp - FINGER_TIP - 0.01 and u < FINGER_HALF + r
                and v < FINGER_HALF_W + r)

    def _hand_hits_cupboard(self, p, yaw: float, centre) -> bool:
        """Would the open hand over a grocery at p reach into the cupboard's footprint?"""
        axis = np.array([-np.sin(yaw), np.cos(yaw)])
        across = np.array([axis[1], -axis[0]])
        c, s = np.cos(self.cupboard_yaw), np.sin(self.cupboard_yaw)
        half = np.array([CUPBOARD_DEPTH / 2, CUPBOARD_WIDTH / 2]) + 0.03
        for a in (-HAND_HALF, HAND_HALF):
            for b in (-HAND_HALF_W, HAND_HALF_W):
                rel = np.asarray(p) + a * axis + b * across - centre
                if abs(rel @ [c, s]) < half[0] and abs(rel @ [-s, c]) < half[1]:
                    return True
        return False

    def _in_view(self, p, z: float, cupboard_centre) -> bool:
        """Is a grocery's centre (p at height z) inside the front and shoulder cameras' images
        and not behind the cupboard from any of them?"""
        point = np.array([p[0], p[1], z])
        c, s = np.cos(self.cupboard_yaw), np.sin(self.cupboard_yaw)
        half = np.array([CUPBOARD_DEPTH / 2, CUPBOARD_WIDTH / 2])
        for cam in VIEW_CAMERAS:
            pos, look = (np.asarray(v, float) for v in CAMERA_POSES[cam])
            fwd = (look - pos) / np.linalg.norm(look - pos)
            right = np.cross(fwd, [0.0, 0.0, 1.0])
            right /= np.linalg.norm(right)
            up = np.cross(right, fwd)
            rel = point - pos
            depth = rel @ fwd
            lim = VIEW_MARGIN * np.tan(np.deg2rad(CAMERA_FOVY[cam]) / 2) * depth
            if abs(rel @ right) > lim or abs(rel @ up) > lim:
                return False
            for t in np.linspace(0.3, 0.95, 14):        # the sight line passes the cupboard?
                q = pos + t * rel
                d = q[:2] - cupboard_centre
                if (abs(d @ [c, s]) < half[0] and abs(d @ [-s, c]) < half[1] and
                        q[2] < self.table_z + CUPBOARD_HEIGHT):
                    return False
        return True

    def _hides(self, k: int, p, j: int, q) -> bool:
        """Would grocery j at q hide the middle of grocery k at p from one of the cameras?"""
        gk, gj = GROCERIES[k], GROCERIES[j]
        aim = np.array([p[0], p[1], self.table_z + 0.6 * gk.height])
        for cam in VIEW_CAMERAS:
            pos = np.asarray(CAMERA_POSES[cam][0], float)
            d = aim[:2] - pos[:2]
            t = float(np.clip((np.asarray(q) - pos[:2]) @ d / (d @ d), 0.0, 1.0))
            near = pos[:2] + t * d
            z = pos[2] + t * (aim[2] - pos[2])   # the sight line's height there
            if t < 1.0 and np.linalg.norm(np.asarray(q) - near) < gj.radius + 0.5 * gk.radius \
                    and z < self.table_z + gj.height:
                return True
        return False

    def _beside_cupboard(self, p, centre) -> bool:
        """Is p beside the cupboard (or less than 8 cm before its front) rather than before
        it? (The hand carrying the grocery from there would swing its 20 cm across the
        cupboard's front corner.)"""
        c, s = np.cos(self.cupboard_yaw), np.sin(self.cupboard_yaw)
        rel = np.asarray(p) - centre
        return rel @ [c, s] > -CUPBOARD_DEPTH / 2 - 0.08 and abs(rel @ [-s, c]) < BESIDE

    def _layout(self, target: int, side: float, centre, tries: int = 300):
        """Positions and yaws of the nine groceries (target first) and the grasp yaw."""
        n = len(GROCERIES)
        y_lo, y_hi = (-Y_FAR, Y_NEAR) if side > 0 else (-Y_NEAR, Y_FAR)
        for _ in range(tries):
            pts, yaws = [None] * n, [0.0] * n
            order = [target] + [i for i in range(n) if i != target]
            grasp_yaw = 0.0
            ok = True
            for i in order:
                g = GROCERIES[i]
                for _ in range(200):
                    p = np.array([self.rng.uniform(*X_RANGE), self.rng.uniform(y_lo, y_hi)])
                    yaw = self.rng.uniform(-np.pi, np.pi)   # RLBench spawns at any yaw
                    if np.linalg.norm(p - centre) < CUPBOARD_CLEAR or \
                            np.linalg.norm(p - ROBOT_BASE[:2]) > REACH or \
                            not self._in_view(p, self.table_z + g.half_height, centre):
                        continue
                    if any(pts[j] is not None and np.linalg.norm(p - pts[j]) <
                           max(MIN_DIST, g.radius + GROCERIES[j].radius + GAP) for j in range(n)):
                        continue
                    if i != target and (self._hand_conflict(target, pts[target], grasp_yaw, p, i)
                                        or self._hides(target, pts[target], i, p)):
                        continue
                    if i == target:
                        # a box is taken across its narrow side, a can across two opposite
                        # faces of its octagonal contact prism (the pair nearest the
                        # cupboard's yaw, so it turns least on the way)
                        if g.kind == "box":
                            grasp_yaw = yaw
                        else:
                            grasp_yaw = self.cupboard_yaw + self.nearest_yaw(
                                yaw - self.cupboard_yaw, 2 * np.pi / CAN_SIDES)
                        grasp_yaw = self.nearest_yaw(grasp_yaw)
                        if self._hand_hits_cupboard(p, grasp_yaw, centre) or \
                                self._beside_cupboard(p, centre):
                            continue
                    pts[i], yaws[i] = p, yaw
                    break
                else:
                    ok = False
                    break
            if ok:
                return pts, yaws, grasp_yaw
        raise RuntimeError("put_groceries_in_cupboard: could not lay out the groceries")

    def init_episode(self, variation: int) -> list[str]:
        # the cupboard stands on the robot's left: from the observer camera, behind the robot's
        # right shoulder, its open side faces the camera and shows what goes in (on the right,
        # the camera sees its back and it hides the groceries)
        side = 1.0
        cx, cy = self.rng.uniform(0.12, 0.2), side * self.rng.uniform(0.3, 0.36)
        # open side turned towards the robot's base, give or take 8 degrees
        self.cupboard_yaw = (np.arctan2(cy - ROBOT_BASE[1], cx - ROBOT_BASE[0])
                             + self.rng.uniform(-0.14, 0.14))
        self.sim.set_body_pose("cupboard", (cx, cy, self.table_z),
                               yaw_quat_wxyz(self.cupboard_yaw))
        self.target = int(variation)
        pts, yaws, self.grasp_yaw = self._layout(self.target, side, np.array([cx, cy]))
        for g, p, yaw in zip(GROCERIES, pts, yaws):
            self.sim.set_free_pose(g.body, (*p, self.table_z + g.half_height + 0.001),
                                   yaw_quat_wxyz(yaw))
        self.sim.forward()
        item = GROCERIES[self.target]
        self.register_success_conditions([
            DetectedCondition(item.body, "cupboard_bottom_shelf", cupboard_inner_half()),
            NothingGrasped()])
        name = GROCERY_NAMES[self.target]
        return [f"put the {name} in the cupboard",
                f"pick up the {name} and place it in the cupboard",
                f"move the {name} to the bottom shelf",
                f"put away the {name} in the cupboard"]

    # ------------------------------------------------------------------ expert
    def expert(self):
        sim = self.sim
        g = GROCERIES[self.target]
        p = sim.body_pos(g.body)
        top = p[2] + g.half_height
        grasp = np.array([p[0], p[1], top - GRASP_DEPTH.get(g.body, DEFAULT_DEPTH)])
        q = self.down(self.grasp_yaw)
        above = grasp.copy()
        above[2] = max(grasp[2] + 0.08, self.table_z + 0.14)   # hand above every grocery
        yield self.action(above, q, True, False)
        yield self.action(grasp, q, False, True)                      # take it
        # how far the grocery's bottom hangs below the tool point, measured now it is held
        hang = sim.tcp_pose()[2] - (sim.body_pos(g.body)[2] - g.half_height)
        carry = self.table_z + CUPBOARD_FLOOR + DROP + hang           # bottom just over the shelf
        lift = sim.tcp_pose()[:3]
        lift[2] = carry
        yield self.action(lift, q, False, True)                       # straight up
        # finger axis across the cupboard (the hand is 20 cm long that way)
        y = self.cupboard_yaw + self.nearest_yaw(self.grasp_yaw - self.cupboard_yaw)
        qc = self.down(y)
        into = np.array([np.cos(self.cupboard_yaw), np.sin(self.cupboard_yaw), 0.0])
        inside = sim.site_pos("cupboard_bottom_shelf")
        inside[2] = carry
        front = inside - FRONT * into
        yield self.action(front, qc, False, False)                    # before the cupboard
        yield self.action(inside, qc, True, True)                     # in, let go
        yield self.action(front, qc, True, True)                      # back out
