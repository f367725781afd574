"""light_bulb_in: take the light bulb from the stand of the named colour and screw it into the
lamp (RLBench: 20 variations, one per colour; two bulbs on coloured stands, the other stand a
random distractor colour). Success, as RLBench checks it: that bulb sits in the lamp's socket
(its base's bottom inside a small box at the fully screwed-in depth) and nothing is grasped;
plus the socket's thread has been turned at least ~340 deg. The bulb's glass turns yellow while
it sits screwed in, as in RLBench.

Physical shortcut: MuJoCo cannot collide a helical thread, so the socket's thread is a turning
collar inside the lamp's socket cup, on a vertical hinge and a vertical slide that a joint
equality constraint couples like a screw (16 mm down per full clockwise turn; friction on the
hinge makes it self-locking, so pushing down does not turn it). The bulb is a free body held
only by the fingers' friction; it stands on the collar's floor, and two pins on its base catch
four lugs on the collar, so the collar turns only when the gripper's wrist turns the bulb
(turning it back unscrews it), and the bulb goes down into the socket only as the collar
screws down under it. A full turn seats it; the expert gives it with three twists of the wrist
(two, then it lets go, grasps again and gives the rest).
"""
import numpy as np

from mn_sim.conditions import DetectedCondition, JointCondition, NothingGrasped
from mn_sim.geometry import quat_to_mat, yaw_of, yaw_quat_wxyz
from mn_sim.props.bulbs import (GLASS_RGBA, GLASS_Z, HOLDER_H, HOLDER_R, LIT_RGBA, add_bulb,
                                add_bulb_holder, holder_geoms)
from mn_sim.props.lamps import LAMP_OVERTURN, LAMP_PITCH, LAMP_TURN, LUG_COUNT, SHADE_R, add_lamp
from mn_sim.scene import CAMERA_POSES, HOME_QPOS, ROBOT_BASE
from mn_sim.tasks.base import COLORS, Task

BULBS = ("bulb0", "bulb1")
HOLDERS = ("bulb_holder0", "bulb_holder1")
SEATED_HALF = (0.006, 0.006, 0.003)   # the socket's detection box (half sizes, m)
TURN_NEEDED = LAMP_TURN - 0.35        # the collar must have turned this far (rad)
TURN_GOAL = LAMP_TURN + 0.12          # the expert screws this far
LUG_PITCH = 2 * np.pi / LUG_COUNT
PIN_CONTACT = 0.2                     # a pin touches a lug this far (rad) from its centre line
Q7_LO, Q7_HI = -2.55, 2.55            # wrist angles the expert's twists span
MAX_REACH = 0.74                      # horizontal distance from the robot's base (m)
VIEWS = ("front", "left_shoulder", "right_shoulder")   # the stands must be seen from these



class LightBulbIn(Task):
    state_bodies = ("bulb0", "bulb1", "bulb_holder0", "bulb_holder1", "lamp")

    def init_task(self, scene) -> None:
        for b, h in zip(BULBS, HOLDERS):
            add_bulb_holder(scene, h)
            add_bulb(scene, b)
        add_lamp(scene, "lamp")

    def variation_count(self) -> int:
        return len(COLORS)

    def _place(self):
        for _ in range(1000):
            lamp = np.array([self.rng.uniform(0.05, 0.3), self.rng.uniform(-0.2, 0.2)])
            hold = np.stack([self.rng.uniform(-0.05, 0.3, 2), self.rng.uniform(-0.3, 0.3, 2)], 1)
            # within the Panda's reach for a top-down grasp and a lift
            if np.any(np.linalg.norm(np.vstack([hold, lamp]) - ROBOT_BASE[:2], axis=1) > MAX_REACH):
                continue
            if np.linalg.norm(hold[0] - hold[1]) < 0.12:
                continue
            if np.any(np.linalg.norm(hold - lamp, axis=1) < 0.17):
                continue
            if any(self._hidden(c, h, lamp) for c in VIEWS for h in hold):
                continue
            return lamp, hold
        raise RuntimeError("light_bulb_in: could not place the lamp and the stands")

    @staticmethod
    def _hidden(camera, holder, lamp) -> bool:
        """The lamp (its shade) stands between a camera and a stand, seen from above."""
        cam = np.asarray(CAMERA_POSES[camera][0][:2])
        d = holder - cam
        t = np.clip(np.dot(lamp - cam, d) / np.dot(d, d), 0.0, 1.0)
        return t < 1.0 and np.linalg.norm(cam + t * d - lamp) < SHADE_R + HOLDER_R + 0.01

    def init_episode(self, variation: int) -> list[str]:
        sim = self.sim
        lamp, hold = self._place()
        self.lamp_yaw = self.rng.uniform(-np.pi / 4, np.pi / 4)
        sim.set_body_pose("lamp", (*lamp, self.table_z),
                          yaw_quat_wxyz(self.lamp_yaw))
        for b, h, (x, y) in zip(BULBS, HOLDERS, hold):
            sim.set_body_pose(h, (x, y, self.table_z))
            q = yaw_quat_wxyz(self.rng.uniform(-np.pi, np.pi))
            sim.set_free_pose(b, (x, y, self.table_z + HOLDER_H + 0.0005), q)
            sim.set_rgba(f"{b}_glass", GLASS_RGBA)
        self.target = BULBS[variation % 2]
        name, rgb = COLORS[variation]
        choices = [i for i in range(len(COLORS)) if i != variation]
        _, distractor = COLORS[int(self.rng.choice(choices))]
        for h, c in ((HOLDERS[variation % 2], rgb), (HOLDERS[1 - variation % 2], distractor)):
            for g in holder_geoms(h):
                sim.set_rgba(g, (*c, 1.0))
        sim.forward()
        self.register_success_conditions([
            DetectedCondition(self.target, "lamp_socket", SEATED_HALF),
            JointCondition("lamp_collar_turn", TURN_NEEDED, direction=-1),
            NothingGrasped()])
        return [f"screw in the {name} light bulb",
                f"screw the light bulb from the {name} holder into the lamp",
                f"pick up the light bulb from the {name} stand, lift it up to just above the "
                "lamp, then screw it down into the lamp in a clockwise fashion",
                f"put the light bulb from the {name} casing into the lamp"]

    def low_dim_state(self) -> np.ndarray:
        """Positions of the bulbs, their stands and the lamp, then the collar's turn (rad)."""
        return np.concatenate([super().low_dim_state(), [self.sim.joint_qpos("lamp_collar_turn")]])

    def monitor(self) -> None:
        super().monitor()
        # RLBench lights the bulb (yellow glass) while it sits in the socket
        for b in BULBS:
            lit = DetectedCondition(b, "lamp_socket", SEATED_HALF).condition_met(self.sim)
            self.sim.set_rgba(f"{b}_glass", LIT_RGBA if lit else GLASS_RGBA)

    # ------------------------------------------------------------------ expert
    def _top_yaw(self, pos) -> tuple[float, float]:
        """Hand yaws at `pos` where the wrist (joint7) sits at Q7_LO and at Q7_HI, following
        the arm's usual posture (IK continued from the home posture in small yaw steps)."""
        sim = self.sim
        out = []
        for goal, sign in ((Q7_LO, 1.0), (Q7_HI, -1.0)):
            q, _, _ = sim.solve_ik(pos, self.down(0.0), q_seed=np.asarray(HOME_QPOS))
            yaw = 0.0
            for _ in range(40):   # q7 ~ q7(yaw 0) - yaw
                miss = sign * (q[6] - goal)
                if miss < 0.01:
                    break
                yaw += sign * min(miss, 0.4)
                q, _, _ = sim.solve_ik(pos, self.down(yaw), q_seed=q)
            out.append(yaw)
        return out[0], out[1]

    def _gap(self) -> float:
        """How far (rad) the bulb turns clockwise before its pins push the collar's lugs."""
        bulb = yaw_of(self.sim.body_mat(self.target))
        lugs = self.lamp_yaw + self.sim.joint_qpos("lamp_collar_turn")
        gap = (bulb - lugs - PIN_CONTACT) % LUG_PITCH
        return 0.0 if gap > LUG_PITCH - 0.25 else gap   # (pressing a lug already)

    def expert(self):
        sim = self.sim
        up = np.array([0.0, 0.0, 1.0])
        top_site = sim.site_pos("lamp_socket_top")
        glass = sim.body_pos(self.target) + GLASS_Z * up
        top, bottom = self._top_yaw(top_site + (GLASS_Z + 0.001) * up)
        top -= 0.15   # room for how the bulb settles in the fingers
        # grasp at a yaw that, carried to `top`, leaves the pins just past the lugs
        beta = yaw_of(sim.body_mat(self.target))
        want = self.lamp_yaw + PIN_CONTACT + 0.12          # pins' angle at insertion (mod)
        g = top - 0.1 - want + beta
        # ... within a quarter turn of top - pi/2: the wrist is comfortable at the stand, and
        # every rotation on the way (home -> g -> top) is well under half a turn, so the
        # straight-line paths turn the hand the intended way
        g += LUG_PITCH * np.round((top - np.pi / 2 - g) / LUG_PITCH)
        yield self.action(glass + 0.1 * up, self.down(g), True, False)    # above the bulb
        yield self.action(glass, self.down(g), False, True)               # grasp the glass
        yield self.action(glass + 0.2 * up, self.down(g), False, True)    # lift it off

        def hold():
            tcp = sim.tcp_pose()
            R = quat_to_mat(tcp[3:])
            off = self.held_offset(self.target)
            rel = yaw_of(sim.body_mat(self.target)) - yaw_of(R @ np.diag([1.0, -1.0, -1.0]))
            return off, rel

        def tcp_for(bulb_pos, hand_yaw, off):
            q = self.down(hand_yaw)
            return self.tool_position(bulb_pos, q, off), q

        off, rel = hold()
        # hand yaw at insertion: pins just past a lug, wrist near Q7_LO
        h = want - rel
        h = top - ((top - h) % LUG_PITCH)
        p, q = tcp_for(top_site + 0.03 * up, h, off)
        yield self.action(p, q, False, False)                              # above the socket
        p, q = tcp_for(top_site + 0.001 * up, h, off)
        yield self.action(p, q, False, True)                               # onto the collar

        def twist(from_yaw, angle, release):
            """Turn the held bulb clockwise by `angle`, following the thread down."""
            off, _ = hold()
            turned = -sim.joint_qpos("lamp_collar_turn") + max(angle - self._gap(), 0.0)
            depth = LAMP_PITCH * min(turned, LAMP_TURN + LAMP_OVERTURN) - 0.0005
            p, q = tcp_for(top_site - depth * up, from_yaw - angle, off)
            return self.action(p, q, release, True)

        span = (h - bottom) / 2
        yield twist(h, span, False)                                        # first twist
        yield twist(h - span, span, True)                                  # second, let go
        # grasp again where the first twist ended, and turn the rest of the way
        glass = sim.body_pos(self.target) + GLASS_Z * up
        r = h - span
        yield self.action(glass, self.down(r), False, True)                # grasp again
        rest = TURN_GOAL + sim.joint_qpos("lamp_collar_turn") + self._gap()
        yield twist(r, min(rest, r - bottom), True)                        # last twist, let go
