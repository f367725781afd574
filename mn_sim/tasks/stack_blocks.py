"""stack_blocks: stack 2, 3 or 4 blocks of the named colour on the green target area, among
distractor blocks (RLBench: 60 variations = 20 colours x 2/3/4 blocks; success when that many
blocks of the colour are inside the region above the target and nothing is grasped)."""
import numpy as np

from mn_sim.conditions import DetectedSeveralCondition, NothingGrasped
from mn_sim.geometry import quat_to_mat, yaw_of, yaw_quat_wxyz
from mn_sim.props.blocks import BLOCK_HALF, add_block
from mn_sim.tasks.base import COLORS, Task

MAX_STACKED_BLOCKS = 3   # 2, 3 or 4 blocks per colour
N_TARGETS, N_DISTRACTORS = 4, 4
TARGETS = tuple(f"stack_blocks_target{i}" for i in range(N_TARGETS))
DISTRACTORS = tuple(f"stack_blocks_distractor{i}" for i in range(N_DISTRACTORS))
PLANE = "stack_blocks_target_plane"
PLANE_HALF, PLANE_T = 0.05, 0.001      # green square on the table (half size, half thickness)
REGION_HALF = (BLOCK_HALF, BLOCK_HALF, 0.15)   # success region above the plane
X_RANGE, Y_RANGE = (-0.05, 0.3), (-0.3, 0.3)
BLOCK_GAP, PLANE_GAP = 0.11, 0.16      # least centre distances: block-block, block-plane


class StackBlocks(Task):
    state_bodies = TARGETS + DISTRACTORS + (PLANE,)

    def init_task(self, scene) -> None:
        for name in TARGETS + DISTRACTORS:
            add_block(scene, name)
        plane = scene.body(PLANE)
        scene.box(plane, (PLANE_HALF, PLANE_HALF, PLANE_T), (0.0, 0.6, 0.1, 1.0),
                  pos=(0, 0, PLANE_T), name=PLANE)
        scene.site(plane, "stack_blocks_success", pos=(0, 0, 2 * PLANE_T + REGION_HALF[2]))

    def variation_count(self) -> int:
        return len(COLORS) * MAX_STACKED_BLOCKS

    def _layout(self, tries: int = 200) -> np.ndarray:
        """Plane first, then the blocks, one at a time (row 0 = plane)."""
        n = 1 + N_TARGETS + N_DISTRACTORS
        for _ in range(tries):
            pts: list[np.ndarray] = []
            for i in range(n):
                for _ in range(100):
                    p = np.array([self.rng.uniform(*X_RANGE), self.rng.uniform(*Y_RANGE)])
                    gaps = [PLANE_GAP if j == 0 else BLOCK_GAP for j in range(len(pts))]
                    if all(np.linalg.norm(p - q) >= g for q, g in zip(pts, gaps)):
                        pts.append(p)
                        break
                else:
                    break
            if len(pts) == n:
                return np.stack(pts)
        raise RuntimeError("stack_blocks: could not lay out the blocks")

    def init_episode(self, variation: int) -> list[str]:
        color_index = variation // MAX_STACKED_BLOCKS
        self.blocks_to_stack = 2 + variation % MAX_STACKED_BLOCKS
        color_name, rgb = COLORS[color_index]
        for b in TARGETS:
            self.sim.set_rgba(b, (*rgb, 1.0))
        # as RLBench: two other colours are drawn and the distractors all take the first
        others = [i for i in range(len(COLORS)) if i != color_index]
        choice = self.rng.choice(others, size=2, replace=False)
        for i, b in enumerate(DISTRACTORS):
            self.sim.set_rgba(b, (*COLORS[int(choice[i // 4])][1], 1.0))
        pts = self._layout()
        self.plane_yaw = self.rng.uniform(-np.pi / 4, np.pi / 4)
        self.sim.set_body_pose(PLANE, (*pts[0], self.table_z),
                               yaw_quat_wxyz(self.plane_yaw))
        for b, p in zip(TARGETS + DISTRACTORS, pts[1:]):
            q = yaw_quat_wxyz(self.rng.uniform(-np.pi / 4, np.pi / 4))
            self.sim.set_free_pose(b, (*p, self.table_z + BLOCK_HALF), q)
        self.sim.forward()
        self.register_success_conditions([
            DetectedSeveralCondition(TARGETS, "stack_blocks_success", REGION_HALF,
                                     self.blocks_to_stack),
            NothingGrasped()])
        n = self.blocks_to_stack
        return [f"stack {n} {color_name} blocks",
                f"place {n} of the {color_name} cubes on top of each other",
                f"pick up and set down {n} {color_name} blocks on top of each other",
                f"build a tall tower out of {n} {color_name} cubes",
                f"arrange {n} {color_name} blocks in a vertical stack on the table top",
                f"set {n} {color_name} cubes on top of each other"]

    def expert(self):
        sim = self.sim
        up = np.array([0.0, 0.0, 1.0])
        base = sim.body_pos(PLANE)
        top = base[2] + 2 * PLANE_T          # top of the stack so far
        for k in range(self.blocks_to_stack):
            block = TARGETS[k]
            pos = sim.body_pos(block)
            g = self.nearest_yaw(yaw_of(sim.body_mat(block)), np.pi / 2)
            carry_z = max(top, self.table_z + 2 * BLOCK_HALF) + 2 * BLOCK_HALF + 0.06
            yield self.action(pos + 0.1 * up, self.down(g), True, False)     # above the block
            yield self.action(pos, self.down(g), False, True)                # grasp
            # how the block sits in the hand, measured now that it is held
            tcp = sim.tcp_pose()
            R = quat_to_mat(tcp[3:])
            offset = self.held_offset(block)
            rel_yaw = self.nearest_yaw(yaw_of(sim.body_mat(block)) - yaw_of(R),
                                       np.pi / 2)
            lift = tcp[:3].copy()
            lift[2] = carry_z
            yield self.action(lift, tcp[3:], False, True)                    # lift
            # line the block up with the target square
            q = self.down(self.nearest_yaw(self.plane_yaw - rel_yaw, np.pi / 2))
            goal = np.array([base[0], base[1], top + BLOCK_HALF + 0.003])
            place = self.tool_position(goal, q, offset)
            above = place.copy()
            above[2] = carry_z
            yield self.action(above, q, False, False)                        # above the stack
            yield self.action(place, q, True, True)                          # set it down
            yield self.action(place + 0.08 * up, q, True, True)              # retreat
            top = sim.body_pos(block)[2] + BLOCK_HALF
