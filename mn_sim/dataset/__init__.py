"""Demonstration datasets in the RLBench/PerAct layout: writer, reader, codecs, safe unpickling.

    from mn_sim.dataset import write_episode, load_episode, DemoDataset
    path = write_episode(demo, episodes_dir(root, demo.task), index=0)
    ep = load_episode(path)             # Episode: len(ep), ep[i] -> Observation (lazy images)
    ds = DemoDataset(root)              # all tasks' complete episodes; corrupt ones skipped

Layout and file names: mn_sim/dataset/layout.py. Real PerAct data (pickles) is read through a
restricted unpickler (mn_sim/dataset/safe_pickle.py). RLBench/PerAct's own format (pickles,
PyRep camera matrices) is written by mn_sim/dataset/peract_export.py:

    from mn_sim.dataset import export_dataset, write_peract_episode
"""
from mn_sim.dataset.codec import (DEPTH_SCALE, CorruptFileError, depth_to_rgb,
                                  mask_to_rgb, rgb_to_depth, rgb_to_depth01, rgb_to_mask)
from mn_sim.dataset.camera_convention import opencv_from_pyrep, pyrep_from_opencv
from mn_sim.dataset.layout import (episode_dir, episodes_dir, is_complete,
                                   list_episode_dirs)
from mn_sim.dataset.reader import (CorruptEpisodeError, DemoDataset, Episode,
                                   EpisodeRef, load_episode)
from mn_sim.dataset.safe_pickle import (RestrictedUnpickler, RLBenchDemo,
                                        RLBenchObservation, safe_load, safe_loads)
from mn_sim.dataset.peract_export import (PERACT_CAMERAS, export_dataset,
                                          write_peract_episode)
from mn_sim.dataset.writer import (KEYFRAME_SOURCES, KEYFRAME_VIDEO_FPS, default_keyframes,
                                   write_episode, write_video)

__all__ = [
    "DEPTH_SCALE", "CorruptFileError", "depth_to_rgb", "mask_to_rgb", "rgb_to_depth",
    "rgb_to_depth01", "rgb_to_mask", "episode_dir", "episodes_dir", "is_complete",
    "list_episode_dirs", "CorruptEpisodeError", "DemoDataset", "Episode", "EpisodeRef",
    "load_episode", "RestrictedUnpickler", "RLBenchDemo", "RLBenchObservation", "safe_load",
    "safe_loads", "KEYFRAME_SOURCES", "KEYFRAME_VIDEO_FPS", "default_keyframes",
    "write_episode", "write_video", "opencv_from_pyrep", "pyrep_from_opencv",
    "PERACT_CAMERAS", "export_dataset", "write_peract_episode",
]
