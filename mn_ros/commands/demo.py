"""`mn demo`: the main job, the whole story on the simulated Panda (MuJoCo) and ROS 2.

1. demonstrations of a few tasks are collected (reused when they exist: runs/demo/data);
2. a tiny mn checkpoint (recognizer + policy + alignment, config/train/tiny_mn.yaml) is
   trained (reused when done, resumed when interrupted: runs/demo/mn);
3. the mirror profile comes up as `mn bringup mirror` starts it (its own ROS_DOMAIN_ID); a
   held-out demonstration (val split: never trained on) is played to the observer, the policy
   is given what the observer recognized and carries it out in the sim, reset to the shown
   task and variation with a fresh seed; the mirror node reports cosine(z_u, z_e);
4. a summary is printed and written (runs/demo/summary.json) with an mp4 of the execution
   (runs/demo/execution.mp4); every node process is stopped.

    mn demo                                         # everything: ~9 min after set-up the first
                                                    # time, ~35 s when data and model exist
    mn demo --skip-training --checkpoint runs/mn    # an existing mn checkpoint
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from mn_ros import topics as T

HELP = ("the main job: collect demos, train a tiny mn checkpoint, show a held-out demo to the "
        "ROS 2 graph and let the policy do what the observer recognized")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mn_ros.demo_story import (DEFAULT_EPISODES, DEFAULT_TASKS, DEFAULT_TRAIN_STEPS,
                                   DEFAULT_VARIATIONS)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS),
                        help="comma-separated tasks to demonstrate and train on "
                             f"(default {','.join(DEFAULT_TASKS)}; see `mn tasks`)")
    parser.add_argument("--episodes-per-task", type=int, default=DEFAULT_EPISODES, metavar="N",
                        help=f"demonstrations per task (default {DEFAULT_EPISODES}; a fifth "
                             "are held out)")
    parser.add_argument("--train-steps", type=int, default=DEFAULT_TRAIN_STEPS, metavar="N",
                        help=f"training steps of the tiny mn checkpoint (default "
                             f"{DEFAULT_TRAIN_STEPS})")
    parser.add_argument("--skip-training", action="store_true",
                        help="do not train: use --checkpoint")
    parser.add_argument("--checkpoint", default="",
                        help="mn checkpoint or run folder to use with --skip-training")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of collection, training, the shown episode and the "
                             "execution scene")
    from mn_ros.commands.collect import _int_list
    parser.add_argument("--variations", default=",".join(map(str, DEFAULT_VARIATIONS)),
                        metavar="LIST", type=_int_list,
                        help="variations demonstrated, e.g. 0,1, or 'all' (default 0: with 12 "
                             "demonstrations per task a tiny recognizer tells the tasks apart "
                             "reliably, the three drawers less so)")
    parser.add_argument("--show-task", default="",
                        help="task of the held-out demonstration shown (default: the first "
                             "of --tasks)")
    parser.add_argument("--train-override", action="append", default=[], metavar="KEY=VALUE",
                        help="override config/train/tiny_mn.yaml (repeatable), e.g. threads=2")
    parser.add_argument("--workers", type=int, default=2, help="collection processes")
    parser.add_argument("--frame-rate", type=float, default=20.0, metavar="HZ",
                        help="frames per simulated second of the demonstrations (default 20, "
                             "as RLBench; lower is quicker to collect)")
    parser.add_argument("--domain-id", type=int, default=None,
                        help="ROS_DOMAIN_ID of the demo's graph (default: one of 20..99 "
                             "picked from the process id)")
    parser.add_argument("--namespace", default=T.DEFAULT_NAMESPACE,
                        help=f"ROS namespace (default {T.DEFAULT_NAMESPACE})")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="the mirror node's match threshold on cosine(z_u, z_e)")


def pick_domain(requested: int | None) -> int:
    if requested is not None:
        if not 0 <= requested <= 232:
            raise ValueError(f"--domain-id must be in 0..232; got {requested}")
        return requested
    d = 20 + os.getpid() % 80
    return d + 1 if str(d) == os.environ.get("ROS_DOMAIN_ID") else d


def _terminate(signum, frame):
    raise KeyboardInterrupt   # so the graph is stopped by the finally clauses


def run(args: argparse.Namespace) -> int:
    from mn_models.eval.rollout import headless
    headless()   # before anything imports mujoco
    from mn_ros import demo_story as S
    from mn_ros.demo_director import GraphError, GraphSettings, run_graph
    signal.signal(signal.SIGTERM, _terminate)
    t0 = time.monotonic()
    try:
        cfg = S.StoryConfig(out=args.out, tasks=args.tasks,
                            episodes_per_task=args.episodes_per_task,
                            train_steps=args.train_steps, seed=args.seed, workers=args.workers,
                            frame_rate=args.frame_rate,
                            skip_training=args.skip_training, checkpoint=args.checkpoint,
                            show_task=args.show_task, variations=args.variations,
                            train_overrides=args.train_override)
        domain = pick_domain(args.domain_id)
    except (S.StoryError, ValueError) as e:
        print(f"mn demo: {e}", file=sys.stderr)
        return 2
    seconds = {}
    try:
        S.say(f"1/4 demonstrations: {cfg.episodes_per_task} per task of {', '.join(cfg.tasks)} "
              f"(variations {cfg.variations or 'all'}, {cfg.frame_rate:g} Hz) -> {cfg.data_dir}")
        data = S.ensure_demos(cfg)
        seconds["collect"] = time.monotonic() - t0
        S.say("2/4 checkpoint")
        t = time.monotonic()
        ckpt = S.ensure_checkpoint(cfg)
        seconds["train"] = time.monotonic() - t
        shown = S.pick_held_out(cfg.data_dir, cfg.tasks, ckpt.train_config, cfg.show_task,
                                cfg.seed, min_frames=ckpt.clip_frames)
        exec_seed = S.execution_seed(cfg.seed, shown)
        S.say(f"3/4 ROS graph: showing held-out {shown.task} {os.path.basename(shown.path)} "
              f"({shown.instruction!r}) with checkpoint {ckpt.path} (step {ckpt.step})")
        t = time.monotonic()
        result = run_graph(GraphSettings(checkpoint=ckpt.path, shown=shown, exec_seed=exec_seed,
                                         domain_id=domain, log_path=cfg.out / "graph.log",
                                         namespace=args.namespace.strip("/") or "mn",
                                         threshold=args.threshold))
        seconds["graph"] = time.monotonic() - t
        S.say("4/4 summary")
        video = None
        if result.frames:
            from mn_sim.annotate import annotate_episode
            st = result.status
            result.frames = annotate_episode(result.frames, result.instruction,
                                             bool(st.get("success")) if st.get("done") else None,
                                             st.get("failure_reason", ""), result.video_fps)
            video = S.write_video(cfg.video_path, result.frames, result.video_fps)
        seconds["total"] = time.monotonic() - t0
        summary = S.build_summary(cfg, data, ckpt, shown, exec_seed, result, video, seconds,
                                  domain, args.namespace, args.threshold)
        S.write_summary(cfg.summary_path, summary)
    except (S.StoryError, GraphError) as e:
        print(f"mn demo: {e}", file=sys.stderr)
        return 1
    print(S.format_summary(summary))
    return 0 if not result.stray else 1
