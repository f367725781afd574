"""Read a demonstration as RGB frames with their times: an mp4 (any video PyAV opens), an
episode folder (`mn collect`), or a ROS 2 bag (rosbags; folder with metadata.yaml, or its
.mcap/.db3 file). ROS-free: the player node publishes what this returns.

    demo = load_demo("data/open_drawer/all_variations/episodes/episode0")
    demo.frames   # (T, H, W, 3) uint8;  demo.times  # (T,) seconds from the first frame
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mn_ros.conversions import compressed_msg_to_rgb, image_msg_to_rgb

DEFAULT_RATE = 20.0          # Hz, for sources without timing (keyframe-only episodes)


@dataclass
class Demo:
    frames: np.ndarray       # (T, H, W, 3) uint8
    times: np.ndarray        # (T,) seconds, non-decreasing, times[0] == 0
    kind: str                # "video" | "episode" | "bag"
    description: str         # what it is (for logs)

    @property
    def rate(self) -> float:
        """Mean frame rate (Hz)."""
        span = float(self.times[-1]) if len(self.times) > 1 else 0.0
        return (len(self.times) - 1) / span if span > 0 else DEFAULT_RATE


def load_demo(source, camera: str = "", bag_topic: str = "") -> Demo:
    """Frames and times of ``source``; raises FileNotFoundError / ValueError saying why not.
    ``camera`` of an episode folder: default its video camera (observer, else front), the
    one the observer was trained on."""
    p = Path(source).expanduser()
    if not str(source).strip():
        raise ValueError("no demonstration given: pass an mp4, an episode folder or a bag")
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist (expected an mp4, an episode folder or a "
                                "ROS 2 bag)")
    if p.is_file() and p.suffix in (".mcap", ".db3"):
        p = p.parent
    if p.is_dir() and (p / "metadata.yaml").is_file():
        return _load_bag(p, bag_topic)
    if p.is_dir():
        return _load_episode(p, camera)
    return _load_video(p)


def _timed(frames: list, times, kind: str, what: str) -> Demo:
    if not frames:
        raise ValueError(f"{what} holds no frames")
    t = np.asarray(times, dtype=np.float64)
    return Demo(np.stack(frames), t - t[0], kind, what)


def _load_video(path: Path) -> Demo:
    import av
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            frames, times = [], []
            for f in c.decode(stream):
                frames.append(f.to_ndarray(format="rgb24"))
                times.append(float(f.time) if f.time is not None else len(times) / DEFAULT_RATE)
    except (av.error.FFmpegError, IndexError) as e:
        raise ValueError(f"{path} is not a readable video ({e}); pass an mp4, an episode "
                         "folder or a ROS 2 bag") from e
    return _timed(frames, times, "video", f"video {path}")


def _load_episode(path: Path, camera: str) -> Demo:
    from mn_sim.dataset.reader import Episode
    ep = Episode(path)
    camera = camera or ep.video_camera
    if camera not in ep.cameras:
        raise ValueError(f"episode {path} has no {camera!r} camera (it has {ep.cameras})")
    rate = float(ep.frame_rate or DEFAULT_RATE)
    frames = [ep.rgb(camera, i) for i in range(len(ep))]
    return _timed(frames, np.arange(len(frames)) / rate, "episode",
                  f"episode {path} ({ep.descriptions[0] if ep.descriptions else ep.task})")


def _load_bag(path: Path, topic: str) -> Demo:
    from rosbags.highlevel import AnyReader
    with AnyReader([path]) as reader:
        images = [c for c in reader.connections     # any camera: raw or jpeg/png compressed
                  if c.msgtype in ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")]
        if topic:
            images = [c for c in images if c.topic in (topic, "/" + topic.lstrip("/"))
                      or c.topic.endswith("/" + topic.strip("/"))]
        else:   # prefer a video stream
            images.sort(key=lambda c: not c.topic.endswith("/video"))
            images = images[:1]
        if not images:
            have = sorted({f"{c.topic} ({c.msgtype})" for c in reader.connections})
            raise ValueError(f"bag {path} has no sensor_msgs/msg/Image or CompressedImage topic "
                             f"{topic or ''} (it has {have})")
        frames, times = [], []
        for conn, t, raw in reader.messages(connections=images[:1]):
            msg = reader.deserialize(raw, conn.msgtype)
            frames.append(compressed_msg_to_rgb(msg) if conn.msgtype.endswith("CompressedImage")
                          else image_msg_to_rgb(msg))   # (H, W, 3) RGB from any colour encoding
            times.append(t * 1e-9)
    return _timed(frames, times, "bag", f"bag {path} topic {images[0].topic}")
