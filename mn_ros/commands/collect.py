"""`mn collect`: record expert demonstrations in the RLBench/PerAct layout (resumable).

    mn collect --tasks open_drawer,push_buttons --episodes-per-task 10 --out data/train
    mn collect --tasks all --episodes-per-task 100 --out data/train --workers 2 --keyframes-only
    mn collect --tasks open_drawer --episodes-per-task 10 --out data/peract --format peract \
        --keyframe-source heuristic        # what RLBench's generator writes, ARP's keyframes

Killed at any moment and re-run with the same arguments, it skips complete episodes and
records only the missing ones (see mn_sim/collect.py for the seeds and variation plan).
"""
from __future__ import annotations

import argparse
import sys

from mn_ros.commands.argtypes import SEED_MAX, float_in, int_in

HELP = "collect demonstrations in the RLBench/PerAct layout (resumable)"


def _int_list(text: str) -> list[int] | None:
    if text.strip() == "all":
        return None
    want = "expected 'all' or comma-separated integers >= 0 like 0,1,2"
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{want}; got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"{want}; got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mn_sim.collect import DEFAULT_CATALOG, DEFAULT_ENV_FACTORY, PERACT_DATASET_CAMERAS
    from mn_sim.dataset.peract_export import FORMATS
    from mn_sim.dataset.writer import KEYFRAME_SOURCES
    from mn_sim.types import CAMERAS, DATASET_CAMERAS, IMAGE_SIZE, OPTIONAL_CAMERAS

    parser.add_argument("--tasks", required=True,
                        help="comma-separated task names, or 'all' (see `mn tasks`)")
    parser.add_argument("--episodes-per-task", type=int_in(1), required=True, metavar="N",
                        help="successful episodes per task (episode0..episode<N-1>)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="dataset root: DIR/<task>/all_variations/episodes/episode<k>")
    parser.add_argument("--variations", type=_int_list, default=None, metavar="LIST",
                        help="variations to cycle through round-robin, e.g. 0,1 (default: all)")
    parser.add_argument("--seed", type=int_in(0, SEED_MAX), default=0,
                        help="collection seed; episode k of a task uses hash(seed, task, k)")
    parser.add_argument("--workers", type=int_in(0), default=2,
                        help="worker processes, each with its own simulator (0 = in-process)")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--frame-rate", type=float_in(0.0, lo_open=True), default=20.0,
                      metavar="HZ",
                      help="frames recorded per simulated second (default 20, as RLBench)")
    rate.add_argument("--keyframes-only", action="store_true",
                      help="record only the frame at the end of each expert action")
    parser.add_argument("--keyframe-source", choices=KEYFRAME_SOURCES, default="expert",
                        help="kfs.json of dense demos: the frames where the expert's actions "
                             "ended (default), or PerAct's keypoint-discovery heuristic as on "
                             "RLBench data")
    parser.add_argument("--format", choices=FORMATS, default="mn",
                        help="mn: mn's layout (npz + json; what `mn train` reads; default). "
                             "peract: what RLBench's dataset generator writes (low_dim_obs.pkl "
                             "of rlbench's Demo, PyRep camera matrices, the five RLBench "
                             "cameras), for ARP / PerAct / RVT-2 code")
    parser.add_argument("--cameras", default=None,
                        help=f"comma-separated cameras from {CAMERAS + OPTIONAL_CAMERAS} "
                             f"(default: {','.join(DATASET_CAMERAS)}; with --format peract "
                             f"{','.join(PERACT_DATASET_CAMERAS)})")
    parser.add_argument("--image-size", type=int_in(8, 4096), default=IMAGE_SIZE,
                        metavar="PX",
                        help="square image size")
    parser.add_argument("--max-attempts", type=int_in(1), default=10,
                        help="expert attempts (new seed each) before an episode is reported "
                             "as failed")
    masks = parser.add_mutually_exclusive_group()
    masks.add_argument("--masks", dest="masks", action="store_true", default=None,
                       help="render and save segmentation masks ({camera}_mask: per pixel the "
                            "body handle, MuJoCo body id + 1, 0 = background; ~30%% more "
                            "collection time). Default: on with --format peract, off with mn")
    masks.add_argument("--no-masks", dest="masks", action="store_false",
                       help="no segmentation masks (also with --format peract)")
    parser.add_argument("--no-video", action="store_true",
                        help="do not write observer.mp4 (--format peract never writes one)")
    parser.add_argument("--env-factory", default=DEFAULT_ENV_FACTORY, metavar="MODULE:CALLABLE",
                        help="what builds the environment (another backend, or a test fake)")
    parser.add_argument("--catalog", default=DEFAULT_CATALOG, metavar="MODULE",
                        help="module with task_names() and the variation counts")
    parser.add_argument("--log-every", type=float_in(0.0), default=10.0, metavar="S",
                        help="seconds between progress lines when not on a terminal (0: a line "
                             "per episode)")


def run(args: argparse.Namespace) -> int:
    from mn_sim.collect import CollectConfig, collect

    try:
        config = CollectConfig(
            tasks=args.tasks, episodes_per_task=args.episodes_per_task, out=args.out,
            variations=args.variations, seed=args.seed, workers=args.workers,
            frame_rate=None if args.keyframes_only else args.frame_rate,
            cameras=None if args.cameras is None else
            tuple(c.strip() for c in args.cameras.split(",") if c.strip()),
            image_size=args.image_size, max_attempts=args.max_attempts,
            masks=args.masks, video=not args.no_video, keyframes=args.keyframe_source,
            format=args.format,
            env_factory=args.env_factory, catalog=args.catalog, log_every=args.log_every)
        summary = collect(config)
    except (ValueError, RuntimeError, ImportError, OSError) as e:
        print(f"mn collect: error: {e}", file=sys.stderr)
        return 2
    print(summary)
    return 0 if summary.ok else 1
