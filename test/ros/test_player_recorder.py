"""Demonstrations in and out of ROS: demo sources (mp4, episode folder, bag), `mn play`, and
the recorder writing an mcap bag that plays back the same frames."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ros_helpers import ROOT, Client, NodeProcess, new_domain_id, ros_env

FIXTURES = ROOT / "test" / "fixtures"


def frames(n: int = 12, size: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [np.clip(rng.normal(40 + 15 * i, 5, (size, size, 3)), 0, 255).astype(np.uint8)
            for i in range(n)]


def play(c, env, *args) -> subprocess.CompletedProcess:
    """`mn play ...` in a subprocess while the client keeps spinning (its queue is short)."""
    p = subprocess.Popen([sys.executable, "-m", "mn_ros.cli", "play", *args], cwd=ROOT, env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    c.spin_until(lambda: p.poll() is not None, 120, "mn play to finish")
    out, err = p.communicate()
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def test_demo_sources_video_and_episode(tmp_path):
    from mn_ros.demo_source import load_demo
    from mn_sim.dataset.writer import write_episode, write_video
    write_video(tmp_path / "demo.mp4", frames(), fps=10)
    d = load_demo(tmp_path / "demo.mp4")
    assert d.kind == "video" and d.frames.shape == (12, 32, 32, 3)
    assert d.rate == pytest.approx(10, rel=0.01) and d.times[0] == 0
    assert np.abs(d.frames.astype(int) - np.stack(frames())).mean() < 6   # lossy codec
    sys.path.insert(0, str(FIXTURES))
    try:
        import fake_demo_env
        demo = fake_demo_env.make_demo("fake_reach", 0, seed=1, frame_rate=20.0, image_size=16)
    finally:
        sys.path.remove(str(FIXTURES))
    ep = write_episode(demo, tmp_path / "episodes", 0, masks=False, video=False)
    d = load_demo(ep)
    assert d.kind == "episode" and len(d.frames) == len(demo.observations)
    # by default the camera the observer trains on (observer; front where there is none)
    np.testing.assert_array_equal(d.frames[3], demo.observations[3].cameras["observer"].rgb)
    assert d.rate == pytest.approx(20.0)
    front = load_demo(ep, camera="front")
    np.testing.assert_array_equal(front.frames[3], demo.observations[3].cameras["front"].rgb)
    with pytest.raises(ValueError, match="has no 'overhead' camera"):
        load_demo(ep, camera="overhead")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_demo(tmp_path / "nope.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="is not a readable video"):
        load_demo(tmp_path / "junk.mp4")


@pytest.mark.ros
@pytest.mark.slow
def test_play_an_mp4_record_it_to_a_bag_and_play_the_bag(tmp_path):
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from mn_ros.demo_source import load_demo
    from mn_ros.node_common import LATCHED_QOS, SENSOR_QOS
    from mn_sim.dataset.writer import write_video
    write_video(tmp_path / "demo.mp4", frames(), fps=20)
    domain = new_domain_id()
    env = ros_env(domain, tmp_path / "roslog")
    bags = tmp_path / "bags"
    recorder = NodeProcess("mn_ros.recorder_node", "p", env, tmp_path / "recorder.log",
                           {"bag": str(bags), "topics": ["video", "task_status"],
                            "split_episodes": True})
    c = Client(domain, "p")
    try:
        c.listen(Image, "video", SENSOR_QOS)
        status = c.node.create_publisher(String, "task_status", LATCHED_QOS)
        status.publish(String(data=json.dumps({"episode": 0, "step": 0})))   # as the sim does
        recorder.wait_log(r"recording into \S+/episode0_", 60)
        # the player waits for 2 subscribers: this client and the recorder
        out = play(c, env, str(tmp_path / "demo.mp4"), "--ns", "p", "--wait", "2")
        assert out.returncode == 0, out.stdout + out.stderr
        assert "12 frames at 20.0 Hz on /p/video" in out.stderr
        c.spin_until(lambda: len(c.inbox["video"]) == 12, 10, "12 frames")
        recorder.wait_log(r"recording /p/video")
        status.publish(String(data=json.dumps({"episode": 1, "step": 0})))   # the next episode
        bag = recorder.wait_log(r"wrote (\S+/episode0_\S+) \(13 messages\)", 20).group(1)
        assert recorder.stop() == 0, recorder.log()
        recorder.wait_log(r"wrote \S+/episode1_\S+ \(1 messages\)", 1)
        assert Path(bag).parent == bags and not list(bags.glob(".*")), "no temporary left"
        recorded = load_demo(bag)
        assert recorded.kind == "bag"
        np.testing.assert_array_equal(recorded.frames, load_demo(tmp_path / "demo.mp4").frames)
        # play the bag back (its own timing) to this client
        c.inbox["video"].clear()
        out = play(c, env, bag, "--ns", "p")
        assert out.returncode == 0, out.stderr
        c.spin_until(lambda: len(c.inbox["video"]) == 12, 10, "12 frames from the bag")
        bad = play(c, env, str(tmp_path / "x"), "--ns", "p")
        assert bad.returncode == 2 and "does not exist" in bad.stderr
    finally:
        c.close()
        recorder.stop()
