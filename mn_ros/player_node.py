"""player node: publishes a demonstration (mp4, episode folder or ROS 2 bag) as rgb8 images.

Frames go out on ``topic`` (default ``video``, reliable image QoS) at the source's own timing
(or ``rate_hz``), each stamped with its time in the video (playback start + the frame's time:
a player slowed down by a busy machine does not stretch the stamps). Bags of any camera
encoding (raw or jpeg/png compressed) are played as rgb8. It first waits for
``wait_for_subscribers`` subscribers (at most ``wait_timeout_s``), then plays once (or loops)
and exits. `mn play <source>` runs it.

    python -m mn_ros.player_node --ros-args -r __ns:=/mn -p source:=demo.mp4
"""
from __future__ import annotations


from sensor_msgs.msg import Image

from mn_ros import conversions as cv
from mn_ros.node_common import IMAGE_QOS, ManagedNode, declare, node_main


class PlayerNode(ManagedNode):
    """A managed node: configure reads the demonstration, activation plays it."""
    def __init__(self):
        super().__init__("player")
        p = lambda *a, **k: declare(self, *a, **k)   # noqa: E731
        self.source = p("source", "", "an mp4, an episode folder or a ROS 2 bag folder",
                        read_only=True)
        self.topic = p("topic", "video", "image topic to publish on", read_only=True)
        self.rate = p("rate_hz", 0.0, "frame rate (0 = the source's own timing)", low=0.0,
                      high=1000.0)
        self.camera = p("camera", "", "camera of an episode folder (default: its video "
                        "camera, observer else front: what the observer was trained on)")
        self.bag_topic = p("bag_topic", "", "image topic in a bag (default: its video topic, "
                           "else its first image topic)")
        self.loop = p("loop", False, "play again from the start when done")
        self.wait_subs = p("wait_for_subscribers", 1, "subscribers to wait for before playing",
                           low=0, high=100)
        self.wait_timeout = p("wait_timeout_s", 10.0, "longest wait for them (then play anyway)",
                              low=0.0, high=3600.0)
        self.settle = p("settle_s", 0.5, "wait this long after they are matched: a subscriber "
                        "may see the player later than the player sees it, and best-effort "
                        "frames sent before that are lost", low=0.0, high=60.0)
        self.pub = self.create_lifecycle_publisher(Image, self.topic, IMAGE_QOS)
        self.demo, self.index, self.t0, self.finished = None, 0, None, None
        self.timer = None

    def load(self) -> None:
        from mn_ros.demo_source import load_demo
        demo = load_demo(self.source, camera=self.camera, bag_topic=self.bag_topic)
        if self.rate > 0:
            demo.times = [i / self.rate for i in range(len(demo.frames))]
        self.get_logger().info(f"{demo.description}: {len(demo.frames)} frames at "
                               f"{demo.rate:.1f} Hz on {self.pub.topic_name}")
        self.demo = demo

    def started(self) -> None:
        self.index, self.t0, self.finished, self.waited = 0, None, None, self.now_ns()
        self.timer = self.create_timer(0.002, self._tick)

    def stopped(self) -> None:
        self.unload()

    def unload(self) -> None:
        if self.timer is not None:
            self.destroy_timer(self.timer)
            self.timer = None

    def _tick(self) -> None:
        now = self.now_ns()
        if self.t0 is None:   # waiting for subscribers
            if self.pub.get_subscription_count() < self.wait_subs and \
                    now - self.waited < self.wait_timeout * 1e9:
                return
            self.t0 = now + int(self.settle * 1e9)
        # publish every frame that is due (catches up if a tick came late)
        while self.index < len(self.demo.frames) and \
                now - self.t0 >= self.demo.times[self.index] * 1e9:
            stamp = self.t0 + round(self.demo.times[self.index] * 1e9)   # the video's own time
            self.pub.publish(cv.image_to_msg(self.demo.frames[self.index], "rgb8", stamp,
                                             f"{self.camera or 'video'}_optical"))
            self.index += 1
        if self.index < len(self.demo.frames):
            return
        if self.loop:
            self.index, self.t0 = 0, now + int(1e9 / max(self.demo.rate, 1e-3))
        elif self.finished is None:
            self.get_logger().info(f"played {self.index} frames")
            self.finished = now
        elif now - self.finished > 300_000_000:   # let the last frames leave, then exit
            self.timer.cancel()
            self.exit_code = 0


def main(args=None) -> None:
    node_main(PlayerNode, args)


if __name__ == "__main__":
    main()
