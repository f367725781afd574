"""`mn export`: rewrite a dataset in another format (mn <-> RLBench/PerAct's).

    mn export --format peract runs/data runs/data_peract --keyframe-source heuristic
    mn export --format mn peract_data/train runs/data_from_peract

Reads every complete episode under SRC (mn's layout or PerAct's pickles) and writes it under
DST with the same task and episode numbers. ``--format peract`` writes what RLBench's dataset
generator writes (mn_sim/dataset/peract_export.py) and needs RLBench's five cameras in SRC
(collect with `mn collect --format peract`, or with the overhead camera). Mask folders are
written when SRC has masks (`mn collect --masks`, or --format peract); without them the export
has none and a warning says so.
"""
from __future__ import annotations

import argparse
import pickle
import sys

HELP = "rewrite a dataset in another format: mn <-> RLBench/PerAct (ARP, RVT-2)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mn_sim.dataset.peract_export import FORMATS
    from mn_sim.dataset.writer import KEYFRAME_SOURCES

    parser.add_argument("src", metavar="SRC", help="dataset root to read (mn or PerAct layout)")
    parser.add_argument("dst", metavar="DST", help="dataset root to write")
    parser.add_argument("--format", choices=FORMATS, required=True,
                        help="peract: RLBench's generator's files (for ARP / PerAct / RVT-2); "
                             "mn: mn's layout (npz + json, what `mn train` reads)")
    parser.add_argument("--keyframe-source", choices=KEYFRAME_SOURCES, default="expert",
                        help="kfs.json: the expert's waypoints where SRC recorded them "
                             "(default; else the heuristic), or PerAct's keypoint discovery "
                             "as ARP computes it")
    parser.add_argument("--tasks", default=None,
                        help="comma-separated task names to export (default: all in SRC)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace episodes that already exist in DST")


def run(args: argparse.Namespace) -> int:
    from mn_sim.dataset.peract_export import export_dataset
    from mn_sim.dataset.reader import CorruptEpisodeError

    tasks = None if args.tasks is None else [t.strip() for t in args.tasks.split(",")
                                             if t.strip()]

    def progress(k, total, path):
        print(f"[mn export] {k}/{total} {path}", file=sys.stderr, flush=True)

    try:
        written = export_dataset(args.src, args.dst, fmt=args.format,
                                 keyframe_source=args.keyframe_source, tasks=tasks,
                                 overwrite=args.overwrite, progress=progress,
                                 warn=lambda m: print(f"mn export: warning: {m}",
                                                      file=sys.stderr, flush=True))
    except (ValueError, FileNotFoundError, FileExistsError, CorruptEpisodeError,
            pickle.UnpicklingError, OSError) as e:
        print(f"mn export: error: {e}", file=sys.stderr)
        return 2
    print(f"exported {len(written)} episode(s) from {args.src} to {args.dst} "
          f"(format {args.format}, keyframes: {args.keyframe_source})")
    return 0
