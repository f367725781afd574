"""observer node: recognizes the instruction being demonstrated in an image stream.

Frames from ``image_topic`` (sensor_msgs/Image in rgb8, bgr8, rgba8, bgra8, mono8 or YUV 4:2:2)
and from ``<image_topic>/compressed`` (sensor_msgs/CompressedImage, jpeg or png), of any size,
are centre-cropped to a square and resized to the recognizer's input (as its training clips
were) and buffered; every ``recognize_every`` new frames (once at least ``min_frames`` are
buffered) the recognizer of an au / mn checkpoint samples its clip across the buffer and scores
the checkpoint's instruction vocabulary. It publishes the best instruction
(``observer/instruction``) -- or ``none`` when the checkpoint's calibrated open-set rule
(``open_set.json``, `mn calibrate`) finds no known instruction in the clip --, the top-k scores
(``observer/scores``, JSON) and z_u (u without an alignment head, labelled so) on the shared
``embedding`` topic. Clips are cut on the frames' header stamps: a jump of more than
``clip_gap_s`` between consecutive stamps, or the ``~/reset`` service, starts a new clip
(frames delivered in bursts stay one clip). Frames of another encoding are dropped with one
log line per reason. Images arrive with ``image_qos`` (reliable by default: large frames lost
one UDP fragment at a time never arrive best-effort).

    python -m mn_ros.observer_node --ros-args -r __ns:=/mn -p checkpoint:=runs/mn
"""
from __future__ import annotations


from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Float32MultiArray, String
from std_srvs.srv import Trigger

from mn_ros import conversions as cv
from mn_ros import topics as T
from mn_models.runtime import ClipBuffer
from mn_ros.node_common import (COMMAND_QOS, IMAGE_QOS, SENSOR_QOS, ManagedNode, declare,
                                declare_checkpoint, log_loaded, node_main)


class ObserverNode(ManagedNode):
    def __init__(self):
        super().__init__("observer")
        p = lambda *a, **k: declare(self, *a, **k)   # noqa: E731
        self.checkpoint, self.threads = declare_checkpoint(self, "recognizer", "au, mn or probe")
        self.image_topic = p("image_topic", T.VIDEO, "image stream to watch (sensor_msgs/Image; "
                             "<topic>/compressed: sensor_msgs/CompressedImage)", read_only=True)
        self.image_qos = p("image_qos", "reliable", "QoS reliability of the image subscriptions: "
                           "reliable (keep last 30; a best-effort camera is not matched, set "
                           "best_effort for it) or best_effort", choices=("reliable",
                                                                         "best_effort"),
                           read_only=True)
        self.compressed = p("compressed", True, "also watch <image_topic>/compressed "
                            "(jpeg/png)", read_only=True)
        self.top_k = p("top_k", 3, "scores published per recognition", low=1, high=100)
        self.min_frames = p("min_frames", 0, "frames needed before the first recognition "
                            "(0 = the recognizer's clip length)", low=0, high=10000)
        self.every = p("recognize_every", 8, "recognize after this many new frames", low=1,
                       high=10000)
        self.max_frames = p("max_frames", 600, "frames kept (oldest dropped)", low=1, high=100000)
        self.gap = p("clip_gap_s", 1.0, "a pause in the stream (header stamps) longer than this "
                     "starts a new clip", low=0.0, high=3600.0)
        self.runner = None
        self.clip = ClipBuffer(self.gap, self.max_frames)
        self.received, self.recognitions, self._drop_reasons = 0, 0, set()
        pub = self.create_lifecycle_publisher   # silent unless active
        self.pub_label = pub(String, T.RECOGNIZED, COMMAND_QOS)
        self.pub_scores = pub(String, T.SCORES, COMMAND_QOS)
        self.pub_emb = pub(Float32MultiArray, T.EMBEDDING, COMMAND_QOS)
        qos = IMAGE_QOS if self.image_qos == "reliable" else SENSOR_QOS
        events = _incompatible_qos_warning(self)
        self.create_subscription(Image, self.image_topic, self._on_image, qos,
                                 event_callbacks=events)
        if self.compressed:
            self.create_subscription(CompressedImage, f"{self.image_topic}/compressed",
                                     self._on_compressed, qos, event_callbacks=events)
        self.create_service(Trigger, "~/reset", self._on_reset)

    def load(self) -> None:
        from mn_models.runtime import RecognizerRunner
        runner = RecognizerRunner(self.checkpoint, threads=self.threads)
        self.min_frames = self.min_frames or runner.num_frames
        self.clip.min_frames, self.clip.every = self.min_frames, self.every
        rule = (f"; open-set rule: {runner.rule.statistic} >= {runner.rule.threshold:.4f}, "
                "else 'none'" if runner.rule is not None else
                "; no open-set rule (open_set.json; `mn calibrate`): it always names one")
        log_loaded(self, runner, "video feature", "u",
                   f"candidates: {runner.instructions}{rule}")
        self.runner = runner

    def unload(self) -> None:
        self.runner = None
        self.clip.clear()

    def _on_reset(self, request, response):
        """Clear the clip; the message says what arrived since the last reset (JSON)."""
        import json
        self.clip.clear()
        response.success = True
        response.message = json.dumps({"cleared": True, "frames_received": self.received,
                                       "recognitions": self.recognitions})
        self.received = self.recognitions = 0
        return response

    def _on_image(self, msg: Image) -> None:
        self._on_frame(msg, cv.image_msg_to_rgb, self.image_topic)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._on_frame(msg, lambda m: cv.compressed_msg_to_rgb(m, self.runner.min_side),
                       f"{self.image_topic}/compressed")

    def _on_frame(self, msg, decode, topic: str) -> None:
        if not self.accept(f"frame on {topic}"):
            return
        stamp = cv.stamp_to_ns(msg.header.stamp) or self.now_ns()   # the frame's own time
        try:
            frame = self.runner.prepare(decode(msg))   # (S, S, 3) at the recognizer's size
        except cv.ConversionError as e:
            self._drop(str(e))
            return
        self.received += 1
        why = self.clip.add(frame, stamp)
        if why:
            self.get_logger().info(why)
        if self.clip.due():
            self.recognize(stamp)

    def _drop(self, why: str) -> None:
        """Count every dropped frame; log each reason once (a camera at 30 Hz would flood)."""
        if why in self._drop_reasons or len(self._drop_reasons) > 100:
            self.frames_dropped += 1
            return
        self._drop_reasons.add(why)
        self.frame_dropped(why + " (logged once)")

    def recognize(self, stamp: int) -> None:
        with self.decision():
            r = self.runner.recognize(self.clip.clip(), self.top_k)   # (T, S, S, 3)
        self.recognitions += 1
        self.pub_label.publish(String(data=r.instruction))
        self.pub_scores.publish(cv.json_msg({
            "instruction": r.instruction, "frames": r.frames, "stamp_ns": stamp, "kind": r.kind,
            "abstained": r.abstained, "open_set": r.open_set,
            "top_k": [{"instruction": i, "score": round(s, 6)} for i, s in r.top_k]}))
        self.pub_emb.publish(cv.embedding_to_msg(r.embedding, r.kind,
                                                 self.get_fully_qualified_name()))
        self.get_logger().info(f"recognized {r.instruction!r} ({r.top_k[0][1]:.3f}) over "
                               f"{r.frames} frames")


def _incompatible_qos_warning(node):
    """Event callbacks that say, once, why a camera publisher was not matched."""
    from rclpy.event_handler import SubscriptionEventCallbacks
    said = []

    def warn(info) -> None:
        if not said:
            said.append(True)
            node.get_logger().warning(
                f"an image publisher has an incompatible QoS (policy {info.last_policy_kind}): "
                f"this observer subscribes {node.image_qos}; a best-effort camera needs "
                "image_qos:=best_effort")
    return SubscriptionEventCallbacks(incompatible_qos=warn)


def main(args=None) -> None:
    node_main(ObserverNode, args)


if __name__ == "__main__":
    main()
