"""place_cups: hang 1, 2 or 3 of the three mugs on the table on the spokes of a mug tree
(RLBench: 3 variations; success when that many mugs are detected at the tree's spokes and
nothing is grasped).

The mug tree is a post with three spokes that climb outwards at different heights, as in
RLBench. The mugs hang by their handles, as on a real mug tree and as RLBench's fourth
description says ("slide its handle onto a spoke"): the handle is a closed loop, the spoke
threads it, and a released mug swings down until it hangs from the spoke, held there by
gravity and friction. The Panda does this reliably with a top-down grasp: it takes the mug by
its rim a quarter turn round from the handle (one finger inside the mug, one outside), turns it
so that the handle's opening lines up with a spoke and the hand sits on the spoke's far side,
slides the handle onto the spoke from beyond its tip, and lets go. Hanging a mug upside down
over an upright pole would need the mug turned over in the hand, which a parallel gripper
working from above cannot do.

Success, as RLBench's detectors at the spokes: a mug counts as placed when its origin lies in
the zone around one of the spokes and it touches that spoke (a mug lying on the foot or the
table does not count); at least 1, 2 or 3 mugs must be placed, and nothing grasped. RLBench
requires the first n of its mugs by index; the mugs here differ only in colour and none is
named in the instruction, so any n of them count.

Scene: the tree's spokes point towards the robot, left and right, at three heights. Three
mugs (white, blue, orange) stand upright round the tree with random headings, at least 15 cm
apart and 27 cm from the post, where the arm reaches them and all three fixed cameras see them
whole; the tree stands in front of the robot, turned up to +-30 degrees (RLBench turns the
whole task up to +-90; with spokes a quarter turn apart that would point a spoke away from the
robot, and a tree pose that puts a spoke's end beyond the arm's reach at the height mugs are
carried is drawn again). The expert fills the lowest spoke first and carries every mug
above the tree, so it never sweeps a mug through the tree or the mugs already hanging there
(seven keyframes per mug: above the rim, grip, lift, over the spoke's end, down beyond its
tip, slide on and let go, withdraw).

Physical shortcut: the spokes resist rolling (MuJoCo's rolling friction, condim 6, 1 cm), a
stand-in for the rub of a handle turning on a wooden peg. Without it a released mug swings on
its spoke like a frictionless pendulum for many seconds; with it the mug settles within a
fraction of a second, a little short of hanging straight down.
"""
import numpy as np

from mn_sim.conditions import Condition, NothingGrasped
from mn_sim.geometry import quat_to_mat, rot_z, wxyz_to_xyzw, yaw_of, yaw_quat_wxyz
from mn_sim.props.mugs import (HOLE_CENTRE, MUG_COLORS, MUG_H, MUG_R, MUG_WALL, SPOKE_ANGLES,
                               SPOKE_HEIGHTS, TREE_TOP, ZONE_HALF, add_mug, add_mug_tree,
                               spoke_direction)
from mn_sim.scene import CAMERA_FOVY, CAMERA_POSES, ROBOT_BASE, TABLE_Z, look_at_quat
from mn_sim.tasks.base import Task

MUGS = ("mug0", "mug1", "mug2")
TREE = "mug_tree"
GRIP_DEPTH = 0.012      # the tool point sits this far below the rim
THREAD_U = 0.09         # the handle is let go this far along the spoke (from the post's axis)
PRE_U = 0.17            # ... after sliding in from here (beyond the spoke's tip)
DROP = 0.010            # the handle's opening is held this far below the spoke's axis
MUG_X, MUG_Y = (-0.12, 0.28), (-0.38, 0.38)   # where mugs stand on the table
MUG_GAP = 0.15          # least distance between two mugs
TREE_GAP = 0.27         # least distance of a mug on the table from the tree's post
MAX_REACH = 0.66        # mugs stand at most this far (xy) from the robot's base
MAX_CARRY_REACH = 0.68  # the hand reaches this far (xy) from the base at the carrying height
WRIST_MAX = 2.6         # joint 7 (range +-2.9 rad) is kept inside this
CLEAR = 0.02            # a carried mug's bottom passes this far above the tree


class MugOnSpoke(Condition):
    """Mug hangs on spoke k: its origin is inside the spoke's zone and it touches the spoke."""

    def __init__(self, mug: str, k: int):
        self.mug, self.k = mug, k

    def condition_met(self, sim) -> bool:
        sid = sim.model.site(f"{TREE}_zone{self.k}").id
        R = sim.data.site_xmat[sid].reshape(3, 3)
        local = R.T @ (sim.body_pos(self.mug) - sim.data.site_xpos[sid])
        if np.any(np.abs(local) > ZONE_HALF):
            return False
        spoke = sim.model.body(TREE).id
        mug = sim.model.body(self.mug).id
        geom = sim.model.geom(f"{TREE}_spoke{self.k}").id
        return any(geom in pair for pair in sim.contacts_between({mug}, {spoke}))


class MugsOnTree(Condition):
    """At least `needed` of the mugs hang on the tree's spokes."""

    def __init__(self, mugs, needed: int):
        self.needed = needed
        self.checks = [[MugOnSpoke(m, k) for k in range(len(SPOKE_ANGLES))] for m in mugs]

    def condition_met(self, sim) -> bool:
        return sum(any(c.condition_met(sim) for c in cs) for cs in self.checks) >= self.needed



def _wrap(a: float) -> float:
    return (a + np.pi) % (2 * np.pi) - np.pi


def _bearing(p) -> float:
    """Direction of a point seen from the robot's base (about joint 1's angle)."""
    return float(np.arctan2(p[1], p[0] - ROBOT_BASE[0]))


def _in_view(p, margin: float = 0.04) -> bool:
    """A mug standing at p (xy) lies wholly inside the front and both shoulder cameras' images
    (pinhole projection of its bounding box, `margin` of the half-width kept clear)."""
    corners = [(p[0] + dx, p[1] + dy, TABLE_Z + dz) for dx in (-MUG_R, MUG_R)
               for dy in (-MUG_R, MUG_R) for dz in (0.0, MUG_H)]
    for cam in ("front", "left_shoulder", "right_shoulder"):
        pos, target = (np.asarray(v, float) for v in CAMERA_POSES[cam])
        R = quat_to_mat(wxyz_to_xyzw(look_at_quat(pos, target)))   # columns: right, up, back
        half = np.tan(np.deg2rad(CAMERA_FOVY[cam]) / 2) * (1.0 - margin)
        for c in corners:
            x, y, z = R.T @ (np.asarray(c) - pos)
            if z >= 0 or abs(x / -z) > half or abs(y / -z) > half:
                return False
    return True


class PlaceCups(Task):
    state_bodies = MUGS + (TREE,)

    def init_task(self, scene) -> None:
        for i, (name, rgba) in enumerate(zip(MUGS, MUG_COLORS)):
            add_mug(scene, name, rgba, pos=(0.0, 0.3 * (i - 1), self.table_z + MUG_H / 2))
        add_mug_tree(scene, TREE, pos=(0.3, 0.0, self.table_z))

    def variation_count(self) -> int:
        return 3

    def init_episode(self, variation: int) -> list[str]:
        self.n = variation + 1
        for _ in range(100):
            tree = np.array([self.rng.uniform(0.08, 0.18), self.rng.uniform(-0.06, 0.06)])
            self.tree_yaw = self.rng.uniform(-np.pi / 6, np.pi / 6)
            if self._spokes_reachable(tree):
                break
        self.sim.set_body_pose(TREE, (*tree, self.table_z),
                               yaw_quat_wxyz(self.tree_yaw))
        for m, p in zip(MUGS, self._layout(tree)):
            q = yaw_quat_wxyz(self.rng.uniform(-np.pi, np.pi))
            self.sim.set_free_pose(m, (*p, self.table_z + MUG_H / 2), q)
        self.sim.forward()
        self.register_success_conditions([NothingGrasped(), MugsOnTree(MUGS, self.n)])
        if variation == 0:
            return ["place 1 cup on the cup holder",
                    "pick up one cup and put it on the mug tree",
                    "move 1 mug from the table to the cup holder",
                    "pick up one cup and slide its handle onto a spoke on the mug holder"]
        n = self.n
        return [f"place {n} cups on the cup holder",
                f"pick up {n} cups and place them on the holder",
                f"move {n} cups from the table to the mug tree",
                f"pick up {n} mugs and slide their handles onto the cup holder spokes"]

    def _spokes_reachable(self, tree) -> bool:
        """Every spoke can take a mug on one side or the other with the hand, carrying it
        above the tree, within the arm's reach (a spoke pointing away from the robot may not)."""
        base = np.asarray(ROBOT_BASE[:2])
        for k, h in enumerate(SPOKE_HEIGHTS):
            a = SPOKE_ANGLES[k] + self.tree_yaw
            pre = np.array([*tree, h]) + PRE_U * spoke_direction(k, self.tree_yaw)
            tools = [pre[:2] + (rot_z(a - sigma * np.pi / 2) @ (
                [0.0, sigma * (MUG_R - MUG_WALL / 2), 0.0] - HOLE_CENTRE))[:2]
                for sigma in (1.0, -1.0)]
            if min(np.linalg.norm(t - base) for t in tools) > MAX_CARRY_REACH:
                return False
        return True

    def _layout(self, tree, tries: int = 200) -> list[np.ndarray]:
        """Mug positions on the table, one at a time: clear of the tree and of each other,
        within the arm's reach (RLBench's SpawnBoundary with min_distance)."""
        base = np.asarray(ROBOT_BASE[:2])
        for _ in range(tries):
            pts: list[np.ndarray] = []
            for _ in range(len(MUGS)):
                for _ in range(200):
                    p = np.array([self.rng.uniform(*MUG_X), self.rng.uniform(*MUG_Y)])
                    if np.linalg.norm(p - tree) >= TREE_GAP and \
                       np.linalg.norm(p - base) <= MAX_REACH and _in_view(p) and \
                       all(np.linalg.norm(p - q) >= MUG_GAP for q in pts):
                        pts.append(p)
                        break
                else:
                    break
            if len(pts) == len(MUGS):
                return pts
        raise RuntimeError("place_cups: could not lay out the mugs")

    # ------------------------------------------------------------------ expert
    def _plan_mug(self, mug: str, k: int):
        """How to take `mug` for spoke k: (grasp point, grasp yaw, yaw on the spoke, sigma).
        sigma = +-1 picks the rim point a quarter turn either way from the handle, i.e. on which
        side of the spoke the mug will hang; each can be gripped with the hand either way round.
        The first choice (least turning first) whose poses the arm reaches is taken."""
        sim = self.sim
        R = sim.body_mat(mug)
        psi = yaw_of(R)
        centre = sim.body_pos(mug)
        a = SPOKE_ANGLES[k] + self.tree_yaw
        root = sim.site_pos(f"{TREE}_spoke{k}_root")
        d = spoke_direction(k, self.tree_yaw)
        safe_z = self.table_z + TREE_TOP + CLEAR + MUG_H - GRIP_DEPTH
        tcp = sim.tcp_pose()
        yaw_now = yaw_of(quat_to_mat(tcp[3:]))
        w_now = float(sim.data.qpos[sim.arm_qadr[6]])
        options = []
        for sigma in (1.0, -1.0):
            g_local = np.array([0.0, sigma * (MUG_R - MUG_WALL / 2), MUG_H / 2 - GRIP_DEPTH])
            grasp = centre + R @ g_local
            psi_place = a - sigma * np.pi / 2           # mug yaw on the spoke
            dpsi = _wrap(psi_place - psi)
            # nominal tool points for the placement (mug upright in the hand)
            off = rot_z(psi_place) @ (g_local - HOLE_CENTRE)
            pre, thread = (root + u * d - [0, 0, DROP] + off for u in (PRE_U, THREAD_U))
            for flip in (0.0, np.pi):
                yaw_g = _wrap(psi + sigma * np.pi / 2 - np.pi / 2 + flip)
                yaw_p = yaw_g + dpsi
                checks = [(grasp, yaw_g), ([grasp[0], grasp[1], safe_z], yaw_g),
                          ([pre[0], pre[1], safe_z], yaw_p), (pre, yaw_p), (thread, yaw_p)]
                # keep the wrist (joint 7, range +-2.9 rad) well inside its range all along:
                # from where it is now, turning the shortest way to the grasp, then with the mug
                w_g = w_now - _wrap(yaw_g - yaw_now) + _bearing(grasp) - _bearing(tcp)
                w_p = w_g - dpsi + _bearing(pre) - _bearing(grasp)
                wrist = max(abs(w_g), abs(w_p))
                cost = abs(dpsi) + max(0.0, wrist - 2.0) * 10.0
                options.append((cost, sigma, yaw_g, yaw_p, grasp, checks, wrist < WRIST_MAX))
        options.sort(key=lambda o: o[0])
        allowed = {sim.model.body(mug).id}
        # first a choice the arm reaches exactly (not at a joint limit) without winding the
        # wrist to its stop on the way, then any it reaches
        for strict, wrist_ok in ((True, True), (False, True), (True, False), (False, False)):
            for _, sigma, yaw_g, yaw_p, grasp, checks, w_ok in options:
                if wrist_ok and not w_ok:
                    continue
                ok = True
                for i, (p, y) in enumerate(checks):
                    q, ep, er = sim.ik_with_restarts(np.asarray(p), self.down(y))
                    ok = (ep < 0.002 and er < np.deg2rad(1.0)) if strict else sim._ik_ok(ep, er)
                    # the hand must not meet the tree (or another mug) where it grips or places
                    ok = ok and (i == 1 or not sim.path_collision([q, q], allowed))
                    if not ok:
                        break
                if ok:
                    return grasp, yaw_g, yaw_p, sigma
        _, sigma, yaw_g, yaw_p, grasp, *_ = options[0]
        return grasp, yaw_g, yaw_p, sigma

    def _assign(self) -> list[tuple[str, int]]:
        """Which mug goes to which spoke: the spokes from the lowest up, each taking the
        nearest mug still on the table."""
        sim = self.sim
        left, out = list(MUGS), []
        for k in range(self.n):
            tip = sim.site_pos(f"{TREE}_spoke{k}_root")[:2] + \
                PRE_U * spoke_direction(k, self.tree_yaw)[:2]
            m = min(left, key=lambda m: np.linalg.norm(sim.body_pos(m)[:2] - tip))
            out.append((m, k))
            left.remove(m)
        return out

    def expert(self):
        sim = self.sim
        # every move from one place to another happens at this height, where a carried mug's
        # bottom clears the top of the tree; the hand goes up and down vertically
        safe_z = self.table_z + TREE_TOP + CLEAR + MUG_H - GRIP_DEPTH
        for mug, k in self._assign():
            grasp, yaw_g, yaw_p, sigma = self._plan_mug(mug, k)
            q_g = self.down(yaw_g)
            yield self.action([grasp[0], grasp[1], safe_z], q_g, True, False)   # above the rim
            yield self.action(grasp, q_g, False, True)                       # grip the rim
            root = sim.site_pos(f"{TREE}_spoke{k}_root")
            d = spoke_direction(k, self.tree_yaw)
            pre_hole = root + PRE_U * d - [0, 0, DROP]
            tcp = sim.tcp_pose()
            yield self.action([tcp[0], tcp[1], safe_z], tcp[3:], False, True)   # lift
            # where the handle's opening sits in the hand, measured now that the mug hangs there
            tcp = sim.tcp_pose()
            Rt = quat_to_mat(tcp[3:])
            Rm = sim.body_mat(mug)
            hole_rel = Rt.T @ (sim.body_pos(mug) + Rm @ HOLE_CENTRE - tcp[:3])
            rel_yaw = _wrap(yaw_of(Rm) - yaw_of(Rt))
            a = SPOKE_ANGLES[k] + self.tree_yaw
            psi_place = a - sigma * np.pi / 2
            yaw = yaw_p + _wrap(psi_place - rel_yaw - yaw_p)   # the hand's yaw for psi_place
            q = self.down(yaw)
            to_hole = quat_to_mat(q) @ hole_rel                # tool point -> opening, placed
            p = pre_hole - to_hole
            yield self.action([p[0], p[1], safe_z], q, False, False)        # over the spoke's end
            yield self.action(p, q, False, True)                             # down, beyond its tip
            thread = root + THREAD_U * d - [0, 0, DROP]
            yield self.action(thread - to_hole, q, True, True)               # slide on, let go
            tcp = sim.tcp_pose()
            yield self.action([tcp[0], tcp[1], safe_z], tcp[3:], True, True)    # withdraw
