"""recorder node: writes the graph's topics to ROS 2 bags (mcap) with `rosbags`.

Each topic in ``topics`` is subscribed as soon as it appears in the graph (its type and QoS
come from its publishers) and its serialized messages are written as they arrive, so no message
is decoded. With ``split_episodes`` every sim episode (``task_status`` 'episode') gets its own
bag ``<bag>/episode<k>_<time>``; otherwise one bag per run ``<bag>/mn_<time>``. A bag is written
in a hidden temporary folder and moved to its name when complete (also on Ctrl-C); its
storage file is ``<name>.mcap``. `mn play <bag>` replays its video.

    python -m mn_ros.recorder_node --ros-args -r __ns:=/mn -p bag:=bags
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import time
from pathlib import Path

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from mn_ros import topics as T
from mn_ros.node_common import ManagedNode, declare, node_main


class RecorderNode(ManagedNode):
    """A managed node: configure opens the type store (and the bag without split_episodes),
    messages are written only while active, cleanup / shutdown / Ctrl-C finish the bag (its
    metadata.yaml) and rename it to its final name."""

    def __init__(self):
        super().__init__("recorder")
        p = lambda *a, **k: declare(self, *a, **k)   # noqa: E731
        self.folder = Path(p("bag", "bags", "folder the bags are written into", read_only=True))
        self.topics = [self.resolve_topic_name(t) for t in p(
            "topics", [T.TASK_STATUS, T.VIDEO, T.TARGET_POSE, T.EMBEDDING],
            "topics to record (relative names resolve under the namespace)", read_only=True)]
        self.split = p("split_episodes", True, "one bag per sim episode (needs task_status)")
        self.storage = p("storage", "mcap", "bag storage", choices=("mcap", "sqlite3"))
        self.subscribed: dict[str, str] = {}      # topic -> msgtype ('pkg/msg/Name')
        self.writer, self.tmp, self.final, self.conns = None, None, None, {}
        self.episode = None
        self.counts: dict[str, int] = {}
        self.waiting = 0   # messages dropped before the first episode (split_episodes)
        self.discover_timer = None

    def load(self) -> None:
        from rosbags.typesys import Stores, get_typestore
        self.typestore = get_typestore(Stores.ROS2_KILTED)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.split:
            self._open(f"mn_{time.strftime('%Y%m%d_%H%M%S')}")
        self.discover_timer = self.create_timer(0.5, self._discover)
        self._discover()

    def unload(self) -> None:
        self._close()
        if self.discover_timer is not None:
            self.destroy_timer(self.discover_timer)
            self.discover_timer = None

    # ---------------------------------------------------------------- subscriptions
    def _discover(self) -> None:
        types = dict(self.get_topic_names_and_types())
        for topic in self.topics:
            if topic in self.subscribed or topic not in types:
                continue
            msgtype = types[topic][0]
            pkg, _, name = msgtype.split("/")
            cls = getattr(importlib.import_module(f"{pkg}.msg"), name)
            pubs = self.get_publishers_info_by_topic(topic)
            reliable = pubs and all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE
                                    for i in pubs)
            latched = pubs and all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
                                   for i in pubs)
            qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE if reliable
                             else ReliabilityPolicy.BEST_EFFORT,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                             else DurabilityPolicy.VOLATILE)
            self.create_subscription(cls, topic, lambda raw, t=topic: self._on_raw(t, raw), qos,
                                     raw=True)
            self.subscribed[topic] = msgtype
            self.get_logger().info(f"recording {topic} ({msgtype})")

    def _on_raw(self, topic: str, raw: bytes) -> None:
        if not self.accept(f"message on {topic}"):
            return
        if self.split and topic.endswith("/" + T.TASK_STATUS):
            self._maybe_split(raw)
        if self.writer is None:   # split_episodes and no episode seen yet
            self.waiting += 1
            if self.waiting == 1:
                self.get_logger().warning(f"not recording {topic} yet: waiting for a sim "
                                          f"episode on {T.TASK_STATUS} (split_episodes)")
            return
        if topic not in self.conns:
            self.conns[topic] = self.writer.add_connection(topic, self.subscribed[topic],
                                                           typestore=self.typestore)
        self.writer.write(self.conns[topic], self.now_ns(), raw)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def _maybe_split(self, raw: bytes) -> None:
        from rclpy.serialization import deserialize_message
        from std_msgs.msg import String
        try:
            episode = json.loads(deserialize_message(raw, String).data).get("episode")
        except (ValueError, AttributeError):   # not a JSON object: not a sim status
            return
        if episode is not None and episode != self.episode:
            self.episode = episode
            self._close()
            self._open(f"episode{episode}_{time.strftime('%Y%m%d_%H%M%S')}")

    # ---------------------------------------------------------------- bags
    def _open(self, name: str) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        self.final = self.folder / name
        # written as <bag>/.<name>.tmp-<pid>/<name> (its storage file is named after that last
        # part: <name>.mcap) and moved to <bag>/<name> when complete
        scratch = self.folder / f".{name}.tmp-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        self.tmp = scratch / name
        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        self.writer = Writer(self.tmp, version=9, storage_plugin=plugin)
        self.writer.open()
        self.conns, self.counts = {}, {}
        self.get_logger().info(f"recording into {self.final}")

    def _close(self) -> None:
        if self.writer is None:
            return
        self.writer.close()
        self.writer = None
        os.replace(self.tmp, self.final)
        self.tmp.parent.rmdir()
        total = sum(self.counts.values())
        self.get_logger().info(f"wrote {self.final} ({total} messages)")



def main(args=None) -> None:
    node_main(RecorderNode, args)


if __name__ == "__main__":
    main()
