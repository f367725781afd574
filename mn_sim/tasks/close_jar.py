"""close_jar: put the lid on the jar of the named colour (RLBench: 20 variations, one per
colour; success when the lid sits on that jar's neck and nothing is grasped)."""
import numpy as np

from mn_sim.conditions import DetectedCondition, NothingGrasped
from mn_sim.geometry import yaw_of, yaw_quat_wxyz
from mn_sim.props.jars import LID_REST_Z, LID_TOP_H, add_jar, add_jar_lid
from mn_sim.tasks.base import COLORS, Task

JARS = ("jar0", "jar1")
TWIST = np.pi / 3   # the expert screws the lid this far once it sits on the neck
FINGERTIP = 0.009   # the Panda's fingertips reach this far past the tool point


class CloseJar(Task):
    state_bodies = ("jar0", "jar1", "jar_lid")

    def init_task(self, scene) -> None:
        for j in JARS:
            add_jar(scene, j)
        add_jar_lid(scene, "jar_lid")

    def variation_count(self) -> int:
        return len(COLORS)

    def init_episode(self, variation: int) -> list[str]:
        pts = self.sample_xy(3, (0.0, 0.3), (-0.25, 0.25), min_dist=0.13)
        for j, (x, y) in zip(JARS, pts[:2]):
            q = yaw_quat_wxyz(self.rng.uniform(-np.pi, np.pi))
            self.sim.set_free_pose(j, (x, y, self.table_z), q)
        q = yaw_quat_wxyz(self.rng.uniform(-np.pi, np.pi))
        self.sim.set_free_pose("jar_lid", (*pts[2], self.table_z + LID_REST_Z), q)
        self.target = JARS[variation % 2]
        other = JARS[1 - variation % 2]
        name, rgb = COLORS[variation]
        choices = [i for i in range(len(COLORS)) if i != variation]
        _, distractor = COLORS[int(self.rng.choice(choices))]
        for jar, c in ((self.target, rgb), (other, distractor)):
            for part in ("body", "neck"):
                self.sim.set_rgba(f"{jar}_{part}", (*c, 1.0))
        self.register_success_conditions([
            NothingGrasped(),
            DetectedCondition("jar_lid", f"{self.target}_lid_seat", (0.012, 0.012, 0.008))])
        return [f"close the {name} jar", f"screw on the {name} jar lid",
                "grasping the lid, lift it from the table and use it to seal "
                f"the {name} jar",
                f"pick up the lid from the table and put it on the {name} jar"]

    def expert(self):
        sim = self.sim
        lid = sim.body_pos("jar_lid")
        up = np.array([0.0, 0.0, 1.0])
        # fingers on a pair of the cap's flats; screwing turns the wrist by -TWIST (clockwise
        # seen from above), so start near +TWIST/2
        m = sim.body_mat("jar_lid")
        lid_yaw = yaw_of(m)
        yaw = TWIST / 2 + self.nearest_yaw(lid_yaw - TWIST / 2, np.pi / 4)
        # fingertips level with the cap's lower edge: the pads hold its flat sides, clear of the
        # skirt below and of the cap's top edge
        grasp = lid + np.array([0.0, 0.0, FINGERTIP - LID_TOP_H / 2])
        yield self.action(grasp + 0.1 * up, self.down(yaw), True, False)   # above the lid
        yield self.action(grasp, self.down(yaw), False, True)              # grasp its rim
        tcp = sim.tcp_pose()
        yield self.action(tcp[:3] + 0.12 * up, tcp[3:], False, True)        # lift
        # where the lid sits in the hand, measured now that it hangs there
        offset = self.held_offset("jar_lid")
        seat = sim.site_pos(f"{self.target}_lid_seat")

        def tcp_for(lid_pos, y):
            q = self.down(y)
            return self.tool_position(lid_pos, q, offset), q

        p, q = tcp_for(seat + 0.07 * up, yaw)
        yield self.action(p, q, False, False)                              # above the jar
        p, q = tcp_for(seat + 0.003 * up, yaw)
        yield self.action(p, q, False, True)                               # onto the neck
        p, q = tcp_for(seat + 0.003 * up, yaw - TWIST)
        yield self.action(p, q, True, True)                                # screw, let go
        yield self.action(p + 0.1 * up, q, True, True)                     # retreat
