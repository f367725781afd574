"""mirror node: the mirror-neuron signal, cosine(z_u, z_e) between what is seen and what is done.

It listens to the shared ``embedding`` topic, keeps the latest observed-action embedding z_u
(observer) and executed-action embedding z_e (policy), and whenever either changes publishes
their cosine similarity (``mirror/similarity``, Float32) and whether execution matches the
observed action (``mirror/match``, Bool: similarity >= ``threshold``) and the verdict
(``mirror/verdict``, String: ``match`` | ``mismatch`` | ``unknown``). Beside it, the signal over
the whole execution (``mirror/similarity_episode``, Float32): z_u against the policy's z_e
averaged over every decision since the last message on ``instruction`` (each one starts an
execution, even one the policy rejects and so keeps acting on its previous instruction), the
computation the study's success monitor scores (mn_models.runtime.EpisodeMirror; `mn eval ee
--monitor`, ``cos_mean``). When either side abstains
-- the observer recognized ``none`` (``observer/instruction``) or the policy was told ``none``
(``instruction``) -- the verdict is ``unknown`` and ``mirror/match`` is False: nothing known was
seen or done, so there is nothing to match. Raw features (u, e: checkpoints without an
alignment head) live in different spaces and are ignored with a warning.

    python -m mn_ros.mirror_node --ros-args -r __ns:=/mn -p threshold:=0.5
"""
from __future__ import annotations


from std_msgs.msg import Bool, Float32, Float32MultiArray, String

from mn_models.runtime import EpisodeMirror
from mn_ros import conversions as cv
from mn_ros import topics as T
from mn_ros.node_common import COMMAND_QOS, ManagedNode, declare, node_main


class MirrorNode(ManagedNode):
    def __init__(self):
        super().__init__("mirror")
        self.threshold = declare(self, "threshold", 0.5, "cosine similarity at or above which "
                                 "execution matches the observed action", low=-1.0, high=1.0)
        self.max_age = declare(self, "max_age_s", 30.0, "ignore an embedding older than this "
                               "when the other one arrives (0 = never)", low=0.0, high=86400.0)
        self.latest: dict[str, tuple[object, int]] = {}   # kind -> (vector, receive ns)
        self.warned: set[str] = set()
        self.pub_sim = self.create_lifecycle_publisher(Float32, T.SIMILARITY, COMMAND_QOS)
        self.episode = EpisodeMirror()     # z_e since the policy's last instruction
        self.pub_episode = self.create_lifecycle_publisher(Float32, T.SIMILARITY_EPISODE,
                                                           COMMAND_QOS)
        self.pub_match = self.create_lifecycle_publisher(Bool, T.MATCH, COMMAND_QOS)
        self.create_subscription(Float32MultiArray, T.EMBEDDING, self._on_embedding, COMMAND_QOS)
        # abstentions ("none"): the observer's verdict, the instruction the policy carries out
        self.abstains = {"observer": False, "policy": False}
        self.pub_verdict = self.create_lifecycle_publisher(String, T.VERDICT, COMMAND_QOS)
        self.create_subscription(String, T.RECOGNIZED,
                                 lambda m: self._on_side("observer", m), COMMAND_QOS)
        self.create_subscription(String, T.INSTRUCTION,
                                 lambda m: self._on_side("policy", m), COMMAND_QOS)

    def unload(self) -> None:
        self.latest.clear()   # nothing heavy: cleanup forgets the embeddings seen
        self.episode.reset()

    def stopped(self) -> None:
        self.episode.reset()  # instructions sent while inactive are not seen: start afresh

    def _on_embedding(self, msg: Float32MultiArray) -> None:
        if not self.accept("embedding"):
            return
        try:
            kind, source, z = cv.msg_to_embedding(msg)
        except cv.ConversionError as e:
            self.command_rejected("embedding", str(e), f"embedding dropped: {e}")
            return
        if kind not in cv.ALIGNED_KINDS:
            if source not in self.warned:
                self.warned.add(source)
                self.get_logger().warning(f"{source} publishes {kind!r}, a raw feature outside "
                                          "the shared space: use a checkpoint with an alignment "
                                          "head (kind mn or probe)")
            return
        if kind == "z_e":
            if self.episode.size not in (None, z.size):
                self.episode.reset()       # another policy (another checkpoint): start again
            try:
                self.episode.add(z)
            except ValueError as e:
                self.command_rejected("embedding", str(e), f"embedding dropped: {e}")
                return
        now = self.now_ns()
        self.latest[kind] = (z, now)
        self._compare(kind, now)

    def _on_side(self, side: str, msg: String) -> None:
        """The observer's recognized instruction / the policy's instruction: 'none' abstains.
        A change re-publishes the verdict for the embeddings held."""
        if not self.accept(f"{side} instruction"):
            return
        if side == "policy":
            self.episode.reset()           # a new execution begins
        abstains = msg.data.strip() == T.NONE
        if abstains != self.abstains[side]:
            self.abstains[side] = abstains
            if "z_u" in self.latest:
                self._compare("z_u", self.now_ns())

    def _compare(self, kind: str, now: int) -> None:
        z = self.latest[kind][0]
        other = self.latest.get("z_e" if kind == "z_u" else "z_u")
        if other is None or (self.max_age > 0 and now - other[1] > self.max_age * 1e9):
            return
        try:
            with self.decision():
                s = cv.cosine(z, other[0])
        except cv.ConversionError as e:
            self.get_logger().warning(f"cannot compare z_u and z_e: {e}")
            return
        unknown = any(self.abstains.values())
        self.pub_sim.publish(Float32(data=s))
        self.pub_match.publish(Bool(data=(not unknown) and s >= self.threshold))
        self.pub_verdict.publish(String(data="unknown" if unknown else
                                        "match" if s >= self.threshold else "mismatch"))
        if self.episode.count:             # both embeddings are held here
            try:
                self.pub_episode.publish(Float32(data=self.episode.similarity(
                    self.latest["z_u"][0])))
            except ValueError as e:
                self.get_logger().warning(f"cannot compare z_u and the episode's z_e: {e}")


def main(args=None) -> None:
    node_main(MirrorNode, args)


if __name__ == "__main__":
    main()
