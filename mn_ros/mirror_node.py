"""mirror node: the mirror-neuron signal, cosine(z_u, z_e) between what is seen and what is done.

It listens to the shared ``embedding`` topic, keeps the latest observed-action embedding z_u
(observer) and executed-action embedding z_e (policy), and whenever either changes publishes
their cosine similarity (``mirror/similarity``, Float32) and whether execution matches the
observed action (``mirror/match``, Bool: similarity >= ``threshold``). Raw features (u, e:
checkpoints without an alignment head) live in different spaces and are ignored with a warning.

    python -m mn_ros.mirror_node --ros-args -r __ns:=/mn -p threshold:=0.5
"""
from __future__ import annotations

import sys

from std_msgs.msg import Bool, Float32, Float32MultiArray

from mn_ros import conversions as cv
from mn_ros import topics as T
from mn_ros.node_common import COMMAND_QOS, ManagedNode, declare, run_node


class MirrorNode(ManagedNode):
    def __init__(self):
        super().__init__("mirror")
        self.threshold = declare(self, "threshold", 0.5, "cosine similarity at or above which "
                                 "execution matches the observed action", low=-1.0, high=1.0)
        self.max_age = declare(self, "max_age_s", 30.0, "ignore an embedding older than this "
                               "when the other one arrives (0 = never)", low=0.0, high=86400.0)
        self.latest: dict[str, tuple[object, int]] = {}   # kind -> (vector, receive ns)
        self.warned: set[str] = set()
        self.pub_sim = self.create_publisher(Float32, T.SIMILARITY, COMMAND_QOS)
        self.pub_match = self.create_publisher(Bool, T.MATCH, COMMAND_QOS)
        self.create_subscription(Float32MultiArray, T.EMBEDDING, self._on_embedding, COMMAND_QOS)

    def _on_embedding(self, msg: Float32MultiArray) -> None:
        if not self.accept("embedding"):
            return
        try:
            kind, source, z = cv.msg_to_embedding(msg)
        except cv.ConversionError as e:
            self.get_logger().warning(f"embedding dropped: {e}")
            return
        if kind not in cv.ALIGNED_KINDS:
            if source not in self.warned:
                self.warned.add(source)
                self.get_logger().warning(f"{source} publishes {kind!r}, a raw feature outside "
                                          "the shared space: use a checkpoint with an alignment "
                                          "head (kind mn or probe)")
            return
        now = self.now_ns()
        self.latest[kind] = (z, now)
        other = self.latest.get("z_e" if kind == "z_u" else "z_u")
        if other is None or (self.max_age > 0 and now - other[1] > self.max_age * 1e9):
            return
        try:
            s = cv.cosine(z, other[0])
        except cv.ConversionError as e:
            self.get_logger().warning(f"cannot compare z_u and z_e: {e}")
            return
        self.pub_sim.publish(Float32(data=s))
        self.pub_match.publish(Bool(data=s >= self.threshold))


def main(args=None) -> None:
    sys.exit(run_node(MirrorNode, args))


if __name__ == "__main__":
    main()
