"""observer node: recognizes the instruction being demonstrated in an image stream.

Frames from ``image_topic`` (rgb8) are buffered; every ``recognize_every`` new frames (once at
least ``min_frames`` are buffered) the recognizer of an au / mn checkpoint samples its clip
across the buffer and scores the checkpoint's instruction vocabulary. It publishes the best
instruction (``observer/instruction``), the top-k scores (``observer/scores``, JSON) and z_u
(u without an alignment head, labelled so) on the shared ``embedding`` topic. A pause longer
than ``clip_gap_s`` in the stream, or the ``~/reset`` service, starts a new clip. Frames with
another encoding or size than the buffer's are logged and dropped.

    python -m mn_ros.observer_node --ros-args -r __ns:=/mn -p checkpoint:=runs/mn
"""
from __future__ import annotations

import sys
from collections import deque

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, String
from std_srvs.srv import Trigger

from mn_ros import conversions as cv
from mn_ros import topics as T
from mn_ros.node_common import (COMMAND_QOS, SENSOR_QOS, ManagedNode, declare,
                                declare_checkpoint, log_loaded, run_node)


class ObserverNode(ManagedNode):
    def __init__(self):
        super().__init__("observer")
        p = lambda *a, **k: declare(self, *a, **k)   # noqa: E731
        self.checkpoint, self.threads = declare_checkpoint(self, "recognizer", "au, mn or probe")
        self.image_topic = p("image_topic", T.VIDEO, "rgb8 image stream to watch",
                             read_only=True)
        self.top_k = p("top_k", 3, "scores published per recognition", low=1, high=100)
        self.min_frames = p("min_frames", 0, "frames needed before the first recognition "
                            "(0 = the recognizer's clip length)", low=0, high=10000)
        self.every = p("recognize_every", 8, "recognize after this many new frames", low=1,
                       high=10000)
        self.max_frames = p("max_frames", 600, "frames kept (oldest dropped)", low=1, high=100000)
        self.gap = p("clip_gap_s", 1.0, "a pause in the stream (header stamps) longer than this "
                     "starts a new clip", low=0.0, high=3600.0)
        self.runner = None
        self.frames: deque = deque(maxlen=self.max_frames)
        self.last_stamp, self.new_frames = None, 0
        self.pub_label = self.create_publisher(String, T.RECOGNIZED, COMMAND_QOS)
        self.pub_scores = self.create_publisher(String, T.SCORES, COMMAND_QOS)
        self.pub_emb = self.create_publisher(Float32MultiArray, T.EMBEDDING, COMMAND_QOS)
        self.create_subscription(Image, self.image_topic, self._on_image, SENSOR_QOS)
        self.create_service(Trigger, "~/reset", self._on_reset)

    def on_configure(self) -> None:
        from mn_ros.inference import RecognizerRunner
        runner = RecognizerRunner(self.checkpoint, threads=self.threads)
        self.min_frames = self.min_frames or runner.num_frames
        log_loaded(self, runner, "video feature", "u", f"candidates: {runner.instructions}")
        self.runner = runner

    def _on_reset(self, request, response):
        self.frames.clear()
        self.last_stamp, self.new_frames = None, 0
        response.success, response.message = True, "buffer cleared"
        return response

    def _on_image(self, msg: Image) -> None:
        if not self.accept(f"frame on {self.image_topic}"):
            return
        stamp = cv.stamp_to_ns(msg.header.stamp) or self.now_ns()
        shape = self.frames[-1].shape[:2] if self.frames else None
        try:
            frame = cv.msg_to_image(msg, ("rgb8",), copy=True)
        except cv.ConversionError as e:
            self.get_logger().warning(f"frame dropped: {e}")
            return
        if self.last_stamp is not None and not 0 <= stamp - self.last_stamp <= self.gap * 1e9:
            self.get_logger().info(f"new clip (after {len(self.frames)} frames)")
            self.frames.clear()
            self.new_frames, shape = 0, None
        if shape is not None and frame.shape[:2] != shape:
            self.get_logger().warning(f"frame dropped: it is {frame.shape[1]}x{frame.shape[0]} "
                                      f"but this clip's frames are {shape[1]}x{shape[0]}")
            return
        self.frames.append(frame)
        self.last_stamp = stamp
        self.new_frames += 1
        if len(self.frames) >= self.min_frames and self.new_frames >= self.every:
            self.new_frames = 0
            self.recognize(stamp)

    def recognize(self, stamp: int) -> None:
        r = self.runner.recognize(np.stack(self.frames), self.top_k)   # (T, H, W, 3)
        self.pub_label.publish(String(data=r.instruction))
        self.pub_scores.publish(cv.json_msg({
            "instruction": r.instruction, "frames": r.frames, "stamp_ns": stamp, "kind": r.kind,
            "top_k": [{"instruction": i, "score": round(s, 6)} for i, s in r.top_k]}))
        self.pub_emb.publish(cv.embedding_to_msg(r.embedding, r.kind,
                                                 self.get_fully_qualified_name()))
        self.get_logger().info(f"recognized {r.instruction!r} ({r.top_k[0][1]:.3f}) over "
                               f"{r.frames} frames")


def main(args=None) -> None:
    sys.exit(run_node(ObserverNode, args))


if __name__ == "__main__":
    main()
