"""`mn eval au|ee|probe|tsne`: evaluate checkpoints; tables (markdown), JSON and PNG files go to
--out (default <checkpoint's run>/eval_<kind>/); --json prints one JSON object on stdout.

    mn eval au --checkpoint runs/au [runs/au_seed1 ...] --data runs/data [--split val]
    mn eval ee --checkpoint runs/ee --tasks open_drawer --episodes 25 --seeds 0,1,2
    mn eval probe --probe runs/probe --data runs/data [--au runs/au --ee runs/ee] [--shuffle]
    mn eval probe --series runs/mn --data runs/data          # Recall@1 vs step (Fig. 3 left)
    mn eval probe --probe runs/probe --data runs/data --success-split    # Fig. 3 right
    mn eval tsne --checkpoint runs/mn --data runs/data --out runs/mn/tsne.png    # Fig. 6
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mn_ros.commands.argtypes import SEED_MAX, float_in, int_in, int_list, task_list

HELP = "evaluate checkpoints: recognition (au), rollouts (ee), alignment (probe), t-SNE"


def _common(p: argparse.ArgumentParser, data: bool = True) -> None:
    if data:
        p.add_argument("--data", required=True, help="dataset root (written by mn collect)")
        p.add_argument("--split", default="val", choices=["val", "train", "all"],
                       help="episodes to use: held-out (val, default) as the checkpoint's run "
                            "split them, train, or all")
    p.add_argument("--tasks", default="", type=task_list,
                   help="comma-separated tasks (default: the checkpoint's)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--threads", type=int_in(0), default=0, help="torch threads (0 = default)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    p = sub.add_parser("au", help="top-1 instruction recognition per task (Table 1)")
    p.add_argument("--checkpoint", nargs="+", required=True,
                   help="au/mn/probe checkpoint or run folder; several (seeds) give mean ± CI")
    p.add_argument("--out", help="output folder (default <run>/eval_au)")
    _common(p)

    p = sub.add_parser("ee", help="policy rollouts in mn_sim, success per task (Table 2)")
    p.add_argument("--checkpoint", required=True, help="ee/mn checkpoint or run folder")
    p.add_argument("--episodes", type=int_in(1), default=25, help="episodes per task and seed")
    p.add_argument("--max-steps", type=int_in(1), default=25, help="actions per episode")
    p.add_argument("--seed", type=int_in(0, SEED_MAX), default=0, help="evaluation seed")
    p.add_argument("--seeds", type=int_list(0, SEED_MAX), default="",
                   help="several evaluation seeds, e.g. 0,1,2 (mean ± 95%% CI); overrides --seed")
    p.add_argument("--workers", type=int_in(0), default=2,
                   help="processes (1 torch thread each; 0 or 1 = in this process)")
    p.add_argument("--image-size", type=int_in(8, 4096), default=128, help="camera resolution")
    p.add_argument("--videos", nargs="?", const="all", default="first",
                   choices=("none", "first", "all"),
                   help="rollout mp4s for people (observer camera, 256 px, instruction and "
                        "outcome drawn on): 'first' episode per task (default), 'all' "
                        "(--videos alone), 'none'")
    p.add_argument("--no-video", action="store_true", help="same as --videos none")
    p.add_argument("--variations", default="", metavar="SPEC",
                   help="variations played round-robin: '0,1' for every task, or per task "
                        "'push_buttons=0 open_drawer=0,1' (default: all of each task)")
    p.add_argument("--monitor", action="store_true",
                   help="the success monitor: the checkpoint's recognizer watches each rollout "
                        "(observer camera); AUROC of the mirror cosine for success vs the "
                        "policy's own confidence (needs an mn or probe checkpoint)")
    p.add_argument("--out", help="output folder (default <run>/eval_ee)")
    _common(p, data=False)

    p = sub.add_parser("probe", help="alignment Recall@1 on held-out pairs (Fig. 3)")
    p.add_argument("--probe", help="probe or mn checkpoint (the alignment layers)")
    p.add_argument("--au", help="recognizer checkpoint (default: the probe's own copy)")
    p.add_argument("--ee", help="policy checkpoint (default: the probe's own copy)")
    p.add_argument("--shuffle", action="store_true",
                   help="permute u and e rows independently (control: must be at chance)")
    p.add_argument("--series", metavar="RUN_DIR",
                   help="evaluate every checkpoint of an mn/probe run; plot recall vs step")
    p.add_argument("--success-split", action="store_true",
                   help="recall on success vs failure episodes (equal sample sizes)")
    p.add_argument("--success-source", default="rollout", choices=["rollout", "flags"],
                   help="success labels: roll the policy out from each held-out episode's "
                        "seed (default), or the episodes' stored success flags")
    p.add_argument("--max-steps", type=int_in(1), default=25,
                   help="rollout length (success split)")
    p.add_argument("--workers", type=int_in(0), default=2,
                   help="rollout processes (success split; 0 or 1 = in this process)")
    p.add_argument("--image-size", type=int_in(8, 4096), default=128,
                   help="rollout camera resolution")
    p.add_argument("--seed", type=int_in(0, SEED_MAX), default=0,
                   help="seed of permutations / subsampling")
    p.add_argument("--out", help="output folder (default <run>/eval_probe)")
    _common(p)

    p = sub.add_parser("tsne", help="t-SNE of z_u and z_e in the shared space (Fig. 6)")
    p.add_argument("--checkpoint", required=True, help="mn or probe checkpoint")
    p.add_argument("--au", help="recognizer checkpoint (default: the checkpoint's own)")
    p.add_argument("--ee", help="policy checkpoint (default: the checkpoint's own)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--perplexity", type=float_in(0.0, lo_open=True), default=30.0,
                   help="t-SNE perplexity (> 0; below the number of points)")
    p.add_argument("--iterations", type=int_in(250), default=1000,
                   help="t-SNE iterations (>= 250, scikit-learn's minimum)")
    p.add_argument("--max-points", type=int_in(2), default=400,
                   help="points per modality at most (subsampled)")
    p.add_argument("--seed", type=int_in(0, SEED_MAX), default=0)
    _common(p)


def _tasks(args) -> list[str] | None:
    return [t.strip() for t in args.tasks.split(",") if t.strip()] or None


def _emit(args, payload: dict, text: str) -> None:
    if args.json:
        print(json.dumps(payload))
    else:
        print(text)


def run(args: argparse.Namespace) -> int:
    from mn_models.eval.rollout import headless
    headless()   # before anything imports mujoco
    from mn_models.checkpoint import CheckpointError
    from mn_models.eval.common import EvalError, set_threads
    set_threads(args.threads)
    try:
        return {"au": _run_au, "ee": _run_ee, "probe": _run_probe, "tsne": _run_tsne}[
            args.kind](args)
    except (CheckpointError, EvalError, FileNotFoundError, ValueError, KeyError) as e:
        print(f"mn eval {args.kind}: {e}", file=sys.stderr)
        return 2


def _run_au(args) -> int:
    from mn_models.eval import recognition as R
    from mn_models.eval.report import output_dir
    results = []
    for c in args.checkpoint:
        results.append(R.evaluate_recognition(c, args.data, args.split, _tasks(args)))
        print(f"[mn eval au] {results[-1]['label']}: {100 * results[-1]['accuracy']:.1f}%",
              file=sys.stderr)
    s = R.summarize(results)
    out = output_dir(args.out, results[0]["checkpoint"], "au")
    _report(args, out, s, R.markdown(s), "accuracy", len(results), "top-1 accuracy (%)",
            "Action recognition", "results")
    return 0


def _run_ee(args) -> int:
    from mn_models.eval import rollout as RO
    from mn_models.eval.common import EvalError
    from mn_models.eval.report import output_dir
    try:
        seeds = ([int(s) for s in args.seeds.split(",") if s.strip()] if args.seeds
                 else [args.seed])
    except ValueError as e:
        raise EvalError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from e
    from mn_models import checkpoint as ck
    out = output_dir(args.out, ck.open_checkpoint(args.checkpoint, need=("policy",)).path, "ee")
    res = RO.evaluate_policy(args.checkpoint, _tasks(args), args.episodes, args.max_steps, seeds,
                             args.workers, args.image_size,
                             video="none" if args.no_video else args.videos,
                             progress=True, variations=args.variations, video_dir=out,
                             monitor=args.monitor)
    md = RO.markdown(res)
    extra = {"seeds": seeds}
    if args.monitor:
        from mn_models.eval.monitor import markdown as monitor_md
        from mn_models.plots import plot_roc
        md += "\n" + monitor_md(res["monitor"])
        plot_roc(res["monitor"], out / "monitor_roc.png")
        extra["monitor_auroc"] = {k: v["auroc"] for k, v in res["monitor"]["auroc"].items()}
    _report(args, out, res, md, "success_rate", len(seeds), "success rate (%)",
            "Policy rollouts", "results and videos", extra=extra)
    return 0


def _report(args, out, summary: dict, md: str, key: str, n_seeds: int, ylabel: str,
            title: str, what: str, extra: dict | None = None) -> None:
    """Write results.json / results.md / per_task.png to ``out`` and print the headline
    (``key`` and per_task; with more than one seed also ``key``_ci95 and the seeds)."""
    from mn_models.eval.report import atomic_write, write_json
    from mn_models.plots import plot_per_task
    write_json(out / "results.json", summary)
    atomic_write(out / "results.md", md)
    several = n_seeds > 1
    ci = {**summary["per_task_ci95"], "Avg.": summary[f"{key}_ci95"]} if several else None
    plot_per_task(summary["per_task"], out / "per_task.png", ylabel, ci, title)
    payload = {key: summary[key], "per_task": summary["per_task"]}
    if several:
        payload.update({f"{key}_ci95": summary[f"{key}_ci95"], "seeds": n_seeds, **(extra or {})})
    _emit(args, payload, md + f"\n{what} in {out}")


def _run_probe(args) -> int:
    from mn_models.eval import probe as P
    from mn_models.eval.common import EvalError
    from mn_models.eval.report import atomic_write, output_dir, write_json
    from mn_models.plots import plot_recall_series, plot_success_split
    if args.series:
        res = P.evaluate_series(args.series, args.data, args.au, args.ee, args.split,
                                _tasks(args))
        out = output_dir(args.out, Path(args.series), "probe")
        plot_recall_series(res["series"], out / "recall_vs_step.png")
        payload = {"recall_at_1": res["recall_at_1"], "chance": res["chance"],
                   "series": [{k: s[k] for k in ("step", "recall_at_1", "chance")}
                              for s in res["series"]]}
    else:
        if not args.probe:
            raise EvalError("give --probe CKPT (a probe or mn checkpoint) or --series RUN_DIR")
        m = P.load_models(args.probe, args.au, args.ee)
        d = P.load_pairs_data(m, args.data, args.split, _tasks(args))
        feats = P.paired_features(m.recognizer, m.policy, d, m.tokenizer)
        res = P.alignment_scores(m.alignment, feats, m.strategy, shuffle=args.shuffle,
                                 seed=args.seed)
        tf = P.paired_features(m.recognizer, m.policy, d, m.tokenizer, feature="teacher_forced")
        res["teacher_forced"] = P.alignment_scores(m.alignment, tf, m.strategy,
                                                   shuffle=args.shuffle, seed=args.seed)
        res.update({"feature": "runtime", "checkpoint": m.label, "split": args.split,
                    "episodes": len(d)})
        out = output_dir(args.out, _ckpt_path(args.probe), "probe")
        payload = {"recall_at_1": res["recall_at_1"], "chance": res["chance"],
                   "teacher_forced": res["teacher_forced"]["recall_at_1"]}
        if args.shuffle:
            payload["aligned_recall_at_1"] = res["aligned_recall_at_1"]
        if args.success_split:
            labels = P.success_labels(d, args.ee or args.probe, args.success_source,
                                      args.max_steps, args.workers, args.image_size)
            ss = P.success_split_scores(m.alignment, feats, labels, m.strategy, seed=args.seed)
            ss["source"] = args.success_source
            res["success_split"] = ss
            plot_success_split(ss, out / "success_split.png")
            payload["success_split"] = {k: ss[k]["recall_at_1"] for k in ("success", "failure")}
            payload["success_split"]["samples_per_subset"] = ss["samples_per_subset"]
    md = P.markdown(res)
    name = "series" if args.series else "shuffled" if args.shuffle else "results"
    write_json(out / f"{name}.json", res)
    atomic_write(out / f"{name}.md", md)
    _emit(args, payload, md + f"\nresults in {out}")
    return 0


def _ckpt_path(path) -> Path:
    from mn_models.checkpoint import open_checkpoint
    return open_checkpoint(path).path


def _run_tsne(args) -> int:
    from mn_models.eval import probe as P
    from mn_models.eval.report import write_json
    from mn_models.plots import plot_tsne
    res = P.evaluate_tsne(args.checkpoint, args.data, args.au, args.ee, args.split,
                          _tasks(args), args.perplexity, args.max_points, args.seed,
                          args.iterations)
    png = Path(args.out)
    if png.suffix.lower() != ".png":
        png = png.with_suffix(".png")
    plot_tsne(res["y"], res["instruction_id"], res["modality"], res["instructions"], png,
              title=f"Shared space of {res['checkpoint']} (t-SNE)")
    points = {"y": res["y"].tolist(), "instruction_id": res["instruction_id"].tolist(),
              "modality": res["modality"].tolist(), "instructions": res["instructions"],
              "kl": res["kl"], "recall_at_1": res["recall_at_1"]}
    write_json(png.with_suffix(".json"), points)
    payload = {"png": str(png), "points": len(res["y"]), "kl": res["kl"],
               "recall_at_1": res["recall_at_1"]}
    _emit(args, payload, f"t-SNE of {len(res['y'])} points (KL {res['kl']:.3f}) -> {png}")
    return 0
