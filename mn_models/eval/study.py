"""The study's tables and figures from the result files of `scripts/experiment.sh` (issue 12).

    python -m mn_models.eval.study data runs/study/data            # dataset summary (JSON)
    python -m mn_models.eval.study report docs/results/study [--readme README.md]

`report` reads ``seed<S>/recognition_{au,mn}.json``, ``seed<S>/execution_{ee,mn}.json``,
``seed<S>/alignment_mn.json``, ``seed<S>/probe*.json``, ``seed<S>/curve_recognition.json``,
``seed<S>/train_{au,ee,mn}.jsonl``, ``datasize/k<K>_s<S>/*`` and ``size/small_s<S>/*`` under
the results folder, and writes ``tables.json``, ``tables.md`` and the figures
(``recognition_per_task.png``, ``success_per_task.png``, ``recognition_vs_step.png``) there.
Across training seeds every cell is the mean with a 95 % CI (t distribution over seeds); the
paired difference mn - baseline is taken per seed (the same seed, data and number of samples),
then averaged with its CI. With ``--readme`` the blocks between ``<!-- study:NAME -->`` and
``<!-- /study:NAME -->`` in the README are replaced by the tables of the same name, so that
every number in the README is one of these files' (a test checks they agree).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from mn_models.eval.stats import format_ci, format_diff, mean_ci

TABLES = ("headline", "table1", "table2", "table3", "monitor", "alignment", "observation1",
          "observation2", "curve", "datasize", "size")
# Table 3 rows (scripts/experiment.sh ablation ROW SEED) and the paper's AU / EE numbers
ABLATIONS = {
    "pairs_episode": ("positives by episode, τ 0.1", (72.9, 88.1)),
    "pairs_instruction": ("positives by instruction, τ 0.1 (default)", (74.9, 88.8)),
    "pairs_task": ("positives by task, τ 0.1", (71.6, 85.7)),
    "tau_0.02": ("by instruction, τ 0.02", (74.9, 86.7)),
    "tau_0.2": ("by instruction, τ 0.2", (77.1, 87.0)),
    "lambda_0.1": ("λ_align 0.1 (default 0.5)", None),
    "lambda_1.0": ("λ_align 1.0", None),
    "head_mlp": ("MLP heads instead of linear", None),
    "one_lr": ("one learning rate for every group", None),
}
DEFAULT_ABLATION = "pairs_instruction"   # tiny_mn.yaml's own settings (experiment.sh DEFAULT_ROW)


def dataset_summary(data) -> dict:
    """Episodes per task and variation, the held-out split, the collection seeds."""
    from mn_models.data import SPLIT_RULE, split_of
    from mn_models.train_config import TrainConfig
    val_fraction = TrainConfig().val_fraction
    tasks: dict = {}
    for meta in sorted(Path(data).glob("*/all_variations/episodes/episode*/episode.json")):
        m = json.loads(meta.read_text())
        ep = meta.parent
        t = tasks.setdefault(m["task"], {"episodes": 0, "val": 0, "variations": set(),
                                         "frames": 0})
        t["episodes"] += 1
        t["frames"] += int(m.get("num_frames", 0))
        t["variations"].add(int(m["variation"]))
        t["val"] += split_of(m["task"], ep.name, val_fraction) == "val"
    for t in tasks.values():
        t["variations"] = len(t["variations"])
    return {"data": str(data), "tasks": tasks, "episodes": sum(t["episodes"]
                                                              for t in tasks.values()),
            "val_episodes": sum(t["val"] for t in tasks.values()),
            "split": {"rule": SPLIT_RULE, "val_fraction": val_fraction}}


def model_weights(**runs) -> dict:
    """Parameters (and the preset's name) of the model each run trains: ``name=run folder``
    of an au run (its recognizer) or an ee run (its policy)."""
    from mn_models.checkpoint import build_policy, build_recognizer, open_checkpoint
    out = {}
    for name, run in runs.items():
        ck = open_checkpoint(run)
        module = "recognizer" if "recognizer" in ck.meta["modules"] else "policy"
        model = (build_recognizer if module == "recognizer" else build_policy)(ck)
        out[name] = {"module": module, "preset": ck.meta["model_configs"][module].get("name"),
                     "parameters": sum(t.numel() for t in model.parameters()),
                     "step": ck.meta["step"]}
    return out


def _seeds(results: Path) -> list[int]:
    return sorted(int(p.name[4:]) for p in results.glob("seed*") if p.name[4:].isdigit())


def _load(results: Path, seed: int, name: str) -> dict | None:
    p = results / f"seed{seed}" / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _compare(results: Path, base: str, ours: str, key: str) -> dict:
    """Per task and average: base and ours over the seeds that have BOTH (paired), and the
    per-seed difference ours - base."""
    pairs = [(s, _load(results, s, base), _load(results, s, ours)) for s in _seeds(results)]
    pairs = [(s, b, o) for s, b, o in pairs if b is not None and o is not None]
    if not pairs:
        return {"seeds": []}
    tasks = sorted(set(pairs[0][1]["per_task"]) & set(pairs[0][2]["per_task"]))
    rows: dict = {}
    for t in tasks + ["Avg."]:
        get = (lambda r: r[key]) if t == "Avg." else (lambda r, t=t: r["per_task"][t])
        b = [get(x) for _, x, _ in pairs]
        o = [get(y) for _, _, y in pairs]
        d = [y - x for x, y in zip(b, o)]
        rows[t] = {"base": b, "ours": o, "base_mean_ci": mean_ci(b), "ours_mean_ci": mean_ci(o),
                   "diff": d, "diff_mean_ci": mean_ci(d)}
    return {"seeds": [s for s, _, _ in pairs], "rows": rows}


def _table(cmp: dict, base: str, ours: str) -> str:
    if not cmp["seeds"]:
        return "_no seed has both results yet_\n"
    head = (f"| task | {base} | {ours} | {ours} − {base} (paired per seed) |\n"
            "|---|---|---|---|\n")
    lines = []
    for t, r in cmp["rows"].items():
        name = f"**{t}**" if t == "Avg." else t
        diff_m, diff_h = r["diff_mean_ci"]
        diff = format_diff(diff_m, diff_h)
        lines.append(f"| {name} | {format_ci(*r['base_mean_ci'])} | "
                     f"{format_ci(*r['ours_mean_ci'])} | {diff} |")
    return (head + "\n".join(lines) + f"\n\nTraining seeds {cmp['seeds']}; "
            + ("mean ± 95 % CI over seeds (t distribution)." if len(cmp["seeds"]) > 1 else
               "one training seed so far: no CI over seeds yet.") + "\n")


def _monitor(results: Path) -> tuple[dict, str]:
    seeds, rows = [], {}
    for s in _seeds(results):
        r = _load(results, s, "execution_mn")
        if r and "monitor" in r:
            seeds.append(s)
            for k, v in r["monitor"]["auroc"].items():
                rows.setdefault(k, []).append(v)
            rows.setdefault("_recognized", []).append(r["monitor"]["recognized_as_given"])
    if not seeds:
        return {"seeds": []}, "_no monitor results yet_\n"
    names = {"cos_final": "mirror cosine at the episode's end (the mirror node's similarity)",
             "cos_mean": "mirror cosine over the episode (the mirror node's similarity_episode)",
             "conf_heatmap": "baseline: the policy's heatmap confidence",
             "conf_rotation": "baseline: the policy's rotation confidence"}
    lines = ["| score | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± 95 % CI |",
             "|---" * (len(seeds) + 2) + "|"]
    out = {"seeds": seeds, "auroc": {}}
    for k, vals in rows.items():
        if k.startswith("_"):
            continue
        a = [v["auroc"] for v in vals]
        m, h = mean_ci(a)
        out["auroc"][k] = {"per_seed": vals, "mean_ci": [m, h]}
        cells = [f"{v['auroc']:.3f} [{v['ci95'][0]:.2f}, {v['ci95'][1]:.2f}]" for v in vals]
        lines.append(f"| {names.get(k, k)} | " + " | ".join(cells) +
                     f" | {m:.3f}" + (f" ± {h:.3f}" if h else "") + " |")
    rec = rows["_recognized"]
    out["recognized_as_given"] = rec
    txt = "\n".join(lines) + (
        "\n\nAUROC for predicting a rollout's success (per seed with a bootstrap 95 % CI over "
        "its rollouts). The recognizer names the executed rollout as the instruction given in "
        + ", ".join(f"{100 * r['all']:.1f} % of rollouts (successes {100 * r['success']:.1f} %, "
                    f"failures {100 * r['failure']:.1f} %)" for r in rec)
        + " (seed " + ", ".join(map(str, seeds)) + ").\n")
    return out, txt


def _alignment(results: Path) -> tuple[dict, str]:
    rows = []
    out: dict = {}
    for s in _seeds(results):
        for name, label in (("probe", "probe on frozen au + ee"),
                            ("probe_shuffled", "same probe, pairs shuffled"),
                            ("alignment_mn", "mn (joint training)")):
            r = _load(results, s, name)
            if r is None:
                continue
            tf = r.get("teacher_forced", {}).get("recall_at_1") if isinstance(
                r.get("teacher_forced"), dict) else r.get("teacher_forced")
            out.setdefault(name, []).append({"seed": s, "recall_at_1": r["recall_at_1"],
                                             "teacher_forced": tf, "chance": r["chance"]})
            rows.append(f"| {label} | {s} | {r['recall_at_1']:.3f} | "
                        + (f"{tf:.3f}" if isinstance(tf, (int, float)) else "") +
                        f" | {r['chance']:.3f} |")
    if not rows:
        return out, "_no alignment results yet_\n"
    return out, ("| model | seed | Recall@1 (runtime e) | Recall@1 (teacher-forced e) | chance |\n"
                 "|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def _observation1(results: Path) -> tuple[dict, str]:
    """Observation 1 per task: the probe on frozen au/ee against the same probe on shuffled
    pairs (paired per seed) and chance, with mn's own heads beside them (runtime e)."""
    seeds, per = [], []
    for s in _seeds(results):
        pr, sh = _load(results, s, "probe"), _load(results, s, "probe_shuffled")
        if not (pr and sh and "aligned_per_task" in sh and "per_task_chance" in pr):
            continue   # shuffled per-task values exist since the probe kept them apart
        seeds.append(s)
        per.append((pr, sh, _load(results, s, "alignment_mn")))
    if not seeds:
        return {"seeds": []}, "_no per-task probe results yet_\n"
    tasks = sorted(set.intersection(*(set(pr["per_task"]) for pr, _, _ in per)))
    rows: dict = {}
    for t in tasks + ["all"]:
        def get(r, t=t):
            return r["recall_at_1"] if t == "all" else r["per_task"][t]
        probe = [get(pr) for pr, _, _ in per]
        shuf = [get(sh) for _, sh, _ in per]
        rows[t] = {"probe": probe, "shuffled": shuf, "diff": [a - b for a, b in zip(probe, shuf)],
                   "chance": [pr["chance"] if t == "all" else pr["per_task_chance"][t]
                              for pr, _, _ in per],
                   "mn": [get(mn) for _, _, mn in per
                          if mn and (t == "all" or t in mn["per_task"])]}
    lines = ["| task | probe on frozen au + ee | same probe, pairs shuffled | probe − shuffled "
             "(paired per seed) | chance | mn (joint training) |", "|---|---|---|---|---|---|"]
    for t, r in rows.items():
        name = "**all tasks**" if t == "all" else t
        lines.append(f"| {name} | {_ci_cell(r['probe'])} | {_ci_cell(r['shuffled'])} | "
                     f"{format_diff(*mean_ci(r['diff']), scale=1.0, digits=3)} | "
                     f"{_ci_cell(r['chance'])} | {_ci_cell(r['mn'])} |")
    repeats = sorted({sh.get("shuffle_repeats") for _, sh, _ in per} - {None})
    return {"seeds": seeds, "rows": rows}, (
        "\n".join(lines) + f"\n\nRecall@1 of each task's held-out (video, keyframe) pairs "
        f"retrieved among all tasks' (runtime e), training seeds {seeds}; mean ± 95 % CI over "
        f"seeds; the shuffled control is the mean over {'/'.join(map(str, repeats)) or 'its'} "
        "permutations.\n")


def build(results) -> tuple[dict, dict]:
    """(markdown blocks by name, summary) of a results folder; writes nothing."""
    results = Path(results)
    t1 = _compare(results, "recognition_au", "recognition_mn", "accuracy")
    t2 = _compare(results, "execution_ee", "execution_mn", "success_rate")
    mon, mon_md = _monitor(results)
    ali, ali_md = _alignment(results)
    abl, abl_md = _ablations(results)
    ob2, ob2_md = _observation2(results)
    cur, cur_md = _curve(results)
    lng, lng_md = _curve(results, "curve_long_recognition")
    if lng["seeds"]:
        cur_md += ("\n**A longer schedule** (`experiment.sh long S`: au and mn trained again "
                   f"for {max([*lng['au'], *lng['mn']])} steps, the "
                   "cosine schedule spanning the whole run):\n\n" + lng_md)
    ob1, ob1_md = _observation1(results)
    dsz, dsz_md = _datasize(results)
    size, size_md = _size(results)
    md = {"table1": _table(t1, "au", "mn"), "table2": _table(t2, "ee", "mn"),
          "table3": abl_md, "monitor": mon_md, "alignment": ali_md, "observation1": ob1_md,
          "observation2": ob2_md, "curve": cur_md, "datasize": dsz_md, "size": size_md}
    summary = {"table1": t1, "table2": t2, "table3": abl, "monitor": mon, "alignment": ali,
               "observation1": ob1, "observation2": ob2, "curve": cur, "curve_long": lng,
               "datasize": dsz, "size": size}
    summary["headline"], md["headline"] = _headline(summary)
    return md, summary


def verdict(values, null: float = 0.0) -> str:
    """What per-seed values say about "greater than ``null``": holds when the 95 % CI over
    seeds lies above it, reversed when below, not shown when it contains it."""
    if len(values) < 2:
        return "one seed: no verdict"
    m, h = mean_ci(values)
    if m - h > null:
        return "holds"
    if m + h < null:
        return "reversed"
    return "not shown (CI contains it)"


def _headline(summary: dict) -> tuple[list, str]:
    """The paper's claims, one row each: the per-seed measure, mean ± 95 % CI, the verdict."""
    rows = []

    def add(claim, measure, values, paper, null=0.0, scale=100.0, digits=1, seeds=None):
        if not values:
            return
        m, h = mean_ci(values)
        cell = f"{m * scale:+.{digits}f}" if null == 0.0 else f"{m * scale:.{digits}f}"
        cell += f" ± {h * scale:.{digits}f}" if h else ""
        rows.append({"claim": claim, "measure": measure, "values": list(values),
                     "mean_ci": [m, h], "seeds": seeds, "verdict": verdict(values, null),
                     "paper": paper})
        rows[-1]["cell"] = cell

    for key, claim, measure, paper in (
            ("table1", "(3) joint training improves recognition",
             "mn − au, top-1 points, paired per seed", "+3.3 (71.6 → 74.9)"),
            ("table2", "(3) joint training improves execution",
             "mn − ee, success points, paired per seed", "+3.5 (85.3 → 88.8)")):
        t = summary[key]
        if t.get("seeds"):
            add(claim, measure, t["rows"]["Avg."]["diff"], paper, seeds=t["seeds"])
    ali = summary["alignment"]
    probe = {r["seed"]: r["recall_at_1"] for r in ali.get("probe", [])}
    shuf = {r["seed"]: r["recall_at_1"] for r in ali.get("probe_shuffled", [])}
    both = sorted(set(probe) & set(shuf))
    add("(1) separately trained models are already aligned",
        "probe Recall@1 − the same probe on shuffled pairs (runtime e)",
        [probe[s] - shuf[s] for s in both], "yes (Fig. 3 left)", scale=1.0, digits=3,
        seeds=both)
    ob2 = summary["observation2"]
    add("(2) successful executions align better than failed ones",
        "Recall@1 success − failure, each above its chance",
        [r["diff_above_chance"] for r in ob2.get("per_seed", [])], "yes (Fig. 3 right)",
        scale=1.0, digits=3, seeds=ob2.get("seeds"))
    mon = summary["monitor"]
    if mon.get("seeds"):
        fin = [v["auroc"] for v in mon["auroc"]["cos_final"]["per_seed"]]
        add("beyond the paper: the mirror cosine predicts success",
            "AUROC of the mirror node's cosine (0.5 = chance; goal 0.75)", fin, "—",
            null=0.5, scale=1.0, digits=3, seeds=mon["seeds"])
        base = [v["auroc"] for v in mon["auroc"]["conf_heatmap"]["per_seed"]]
        add("… better than the policy's own confidence",
            "AUROC mirror cosine (episode's end) − AUROC heatmap confidence, per seed",
            [a - b for a, b in zip(fin, base)], "—", scale=1.0, digits=3, seeds=mon["seeds"])
        if "cos_mean" in mon["auroc"]:
            add("the mirror cosine over the whole execution predicts success",
                "AUROC of the mirror node's similarity_episode (z_e averaged; goal 0.75)",
                [v["auroc"] for v in mon["auroc"]["cos_mean"]["per_seed"]], "—",
                null=0.5, scale=1.0, digits=3, seeds=mon["seeds"])
    if not rows:
        return rows, "_no results yet_\n"
    lines = ["| claim | measure | ours: mean ± 95 % CI (seeds) | verdict | paper |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['claim']} | {r['measure']} | {r['cell']} ({r['seeds']}) | "
              f"{r['verdict']} | {r['paper']} |" for r in rows]
    return rows, "\n".join(lines) + (
        "\n\nVerdict: *holds* when the 95 % CI over training seeds (t distribution) lies on the "
        "claimed side (of 0, or of 0.5 for an AUROC), *reversed* when on the other, *not shown* "
        "when it contains it.\n")


def _ci_cell(vals, scale: float = 1.0, digits: int = 3) -> str:
    return format_ci(*mean_ci(vals), scale=scale, digits=digits) if vals else ""


def _observation2(results: Path) -> tuple[dict, str]:
    """Observation 2 per seed: the probe's Recall@1 on successful vs failed rollouts of the
    same policy (equal sample counts), each beside its chance level, and over seeds the
    difference success - failure, raw and above chance."""
    out: dict = {"seeds": [], "per_seed": []}
    rows = []
    for s in _seeds(results):
        r = _load(results, s, "probe_success_split")
        split = (r or {}).get("success_split")
        if not split or split["success"]["recall_at_1"] is None:
            continue
        su, fa = split["success"], split["failure"]
        rec = {"seed": s, "samples": split["samples_per_subset"],
               "episodes": split["episodes"], "success": su["recall_at_1"],
               "success_chance": su["chance"], "failure": fa["recall_at_1"],
               "failure_chance": fa["chance"]}
        rec["diff"] = rec["success"] - rec["failure"]
        rec["diff_above_chance"] = ((rec["success"] - rec["success_chance"])
                                    - (rec["failure"] - rec["failure_chance"]))
        out["seeds"].append(s)
        out["per_seed"].append(rec)
        rows.append(f"| {s} | {split['episodes']['success']} / {split['episodes']['failure']} "
                    f"| {rec['samples']} | {rec['success']:.3f} ({rec['success_chance']:.3f}) "
                    f"| {rec['failure']:.3f} ({rec['failure_chance']:.3f}) "
                    f"| {rec['diff']:+.3f} | {rec['diff_above_chance']:+.3f} |")
    if not rows:
        return out, "_no success/failure split yet_\n"
    for k in ("success", "failure", "diff", "diff_above_chance"):
        out[k + "_mean_ci"] = list(mean_ci([r[k] for r in out["per_seed"]]))
    ps = out["per_seed"]
    rows.append(f"| **mean** | | | {_ci_cell([r['success'] for r in ps])} "
                f"| {_ci_cell([r['failure'] for r in ps])} "
                f"| {_ci_cell([r['diff'] for r in ps])} "
                f"| {_ci_cell([r['diff_above_chance'] for r in ps])} |")
    return out, ("| seed | episodes success / failure | samples each | Recall@1 success "
                 "(chance) | Recall@1 failure (chance) | success − failure | the same, above "
                 "chance |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) +
                 "\n\nmean ± 95 % CI over seeds (t distribution).\n")


def _by_step(per_seed: list[dict]) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for points in per_seed:
        for p in points:
            out.setdefault(int(p["step"]), []).append(float(p["accuracy"]))
    return dict(sorted(out.items()))


def _curve(results: Path, name: str = "curve_recognition") -> tuple[dict, str]:
    """Held-out recognition (top-1) of au and mn at every kept checkpoint, mean over the
    seeds that have the step (``curve_recognition.json`` of `experiment.sh curve S`,
    ``curve_long_recognition.json`` of `experiment.sh long S`)."""
    per = {"au": [], "mn": []}
    seeds = []
    for s in _seeds(results):
        r = _load(results, s, name)
        if r:
            seeds.append(s)
            for m in per:
                per[m].append(r.get(m, []))
    if not seeds:
        return {"seeds": []}, "_no curve yet_\n"
    au, mn = _by_step(per["au"]), _by_step(per["mn"])
    out = {"seeds": seeds, "au": {k: list(mean_ci(v)) + [len(v)] for k, v in au.items()},
           "mn": {k: list(mean_ci(v)) + [len(v)] for k, v in mn.items()},
           "per_seed": {m: dict(zip(seeds, per[m])) for m in per}}
    lines = ["| training step | au | mn | seeds |", "|---|---|---|---|"]
    for step in sorted(set(au) | set(mn)):
        a, m = au.get(step, []), mn.get(step, [])
        lines.append(f"| {step} | {format_ci(*mean_ci(a)) if a else ''} | "
                     f"{format_ci(*mean_ci(m)) if m else ''} | {max(len(a), len(m))} |")
    return out, ("\n".join(lines) + f"\n\nTop-1 (%) on the held-out demonstrations at each "
                 f"kept checkpoint (batch 8), training seeds {seeds}; mean ± 95 % CI over the "
                 "seeds that have the step.\n")


def _train_loss(results: Path, model: str, key: str = "recognizer/loss",
                window: int = 5) -> dict | None:
    """The recognizer's training loss (every 50th logged step) averaged over seeds, smoothed
    over ``window`` points."""
    import numpy as np
    series = []
    for s in _seeds(results):
        p = results / f"seed{s}" / f"train_{model}.jsonl"
        if p.exists():
            rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
            series.append({r["step"]: r[key] for r in rows if key in r})
    if not series:
        return None
    steps = sorted(set.intersection(*(set(x) for x in series)))
    y = np.array([[x[t] for t in steps] for x in series]).mean(0)
    k = min(window, len(y))
    y = np.convolve(y, np.ones(k) / k, mode="valid")
    return {"x": steps[k - 1:], "y": y.tolist(), "ci": None, "seeds": len(series)}


def _ablations(results: Path) -> tuple[dict, str]:
    out: dict = {}
    for row in ABLATIONS:
        for d in sorted((results / "ablation").glob(f"{row}_s*")):
            rec, exe = d / "recognition.json", d / "execution.json"
            r = out.setdefault(row, {"au": [], "ee": [], "seeds": []})
            r["seeds"].append(int(d.name.rsplit("_s", 1)[1]))
            r["au"].append(json.loads(rec.read_text())["accuracy"] if rec.exists() else None)
            r["ee"].append(json.loads(exe.read_text())["success_rate"] if exe.exists() else None)
    if not out:
        return out, "_no ablation results yet_\n"

    def cell(vals):
        v = [x for x in vals if x is not None]
        return format_ci(*mean_ci(v)) + f" (n={len(v)})" if v else ""

    base = out.get(DEFAULT_ABLATION, {"seeds": []})
    for row, r in out.items():   # row - default on the same seeds: the seed's share cancels
        for m in ("au", "ee"):
            mine = {} if row == DEFAULT_ABLATION else dict(zip(r["seeds"], r[m]))
            pairs = [(s, mine[s] - b) for s, b in zip(base["seeds"], base.get(m, []))
                     if s in mine and None not in (mine[s], b)]
            r[f"{m}_diff"], r[f"{m}_diff_seeds"] = [d for _, d in pairs], [s for s, _ in pairs]

    def diff(r, m):
        v = r[f"{m}_diff"]
        return f"{format_diff(*mean_ci(v))} (n={len(v)})" if v else "—"
    lines = ["| row | AU (ours) | EE (ours) | AU − default | EE − default | seeds "
             "| paper AU / EE |", "|---|---|---|---|---|---|---|"]
    for row, (label, paper) in ABLATIONS.items():
        if row in out:
            r = out[row]
            lines.append(f"| {label} | {cell(r['au'])} | {cell(r['ee'])} | {diff(r, 'au')} | "
                         f"{diff(r, 'ee')} | {r['seeds']} | "
                         + (f"{paper[0]} / {paper[1]}" if paper else "—") + " |")
    return out, ("\n".join(lines) + "\n\nAU/EE − default: the row minus the default row "
                 "(tiny_mn.yaml's own settings) trained on the same seed, mean "
                 "± 95 % CI over the seeds both have.\n")


def _datasize(results: Path) -> tuple[dict, str]:
    """Held-out recognition of au and mn trained on the first K training episodes of each task
    (``datasize/k<K>_s<S>/``), beside the full data (Table 1) on the same seeds."""
    runs: dict[int, dict] = {}
    for d in results.glob("datasize/k*_s*"):
        k, s = (int(x) for x in d.name[1:].split("_s"))
        rec = {m: json.loads((d / f"recognition_{m}.json").read_text())["accuracy"]
               for m in ("au", "mn") if (d / f"recognition_{m}.json").exists()}
        if len(rec) == 2:
            runs.setdefault(k, {})[s] = rec
    if not runs:
        return {"rows": {}}, "_no data-size results yet_\n"
    seeds = sorted({s for per in runs.values() for s in per})
    full = {}
    for s in seeds:
        au, mn = _load(results, s, "recognition_au"), _load(results, s, "recognition_mn")
        if au and mn:
            full[s] = {"au": au["accuracy"], "mn": mn["accuracy"]}
    data = json.loads((results / "data.json").read_text()) if (
        results / "data.json").exists() else None
    train = sorted(t["episodes"] - t["val"] for t in data["tasks"].values()) if data else []
    all_label = f"all ({train[0]}–{train[-1]})" if train else "all"
    rows: dict = {}
    for label, per in [*((str(k), runs[k]) for k in sorted(runs)), (all_label, full)]:
        if not per:
            continue
        ss = sorted(per)
        au, mn = [per[s]["au"] for s in ss], [per[s]["mn"] for s in ss]
        rows[label] = {"seeds": ss, "au": au, "mn": mn, "diff": [b - a for a, b in zip(au, mn)]}
    lines = ["| training episodes per task | au | mn | mn − au (paired per seed) | seeds |",
             "|---|---|---|---|---|"]
    lines += [f"| {label} | {format_ci(*mean_ci(r['au']))} | {format_ci(*mean_ci(r['mn']))} | "
              f"{format_diff(*mean_ci(r['diff']))} | {r['seeds']} |" for label, r in rows.items()]
    return {"rows": rows}, ("\n".join(lines) + "\n\nTop-1 (%) on the same held-out "
                            "demonstrations; every run the seed stage's steps and batch (the "
                            "same number of samples, drawn from fewer episodes); mean ± 95 % CI "
                            "over training seeds.\n")


def _train_minutes(path: Path) -> float | None:
    """A kept training curve's wall time (its last row's elapsed_s), in minutes."""
    if not path.exists():
        return None
    rows = path.read_text().splitlines()
    return json.loads(rows[-1])["elapsed_s"] / 60 if rows else None


def _size(results: Path) -> tuple[dict, str]:
    """The small presets (``size/small_s<S>/``) beside the tiny ones of the same seeds (the
    seed stage's au and ee): parameters, training wall time, top-1 and success."""
    seeds = sorted(int(d.name.rsplit("_s", 1)[1]) for d in results.glob("size/small_s*")
                   if (d / "recognition.json").exists() and (d / "execution.json").exists())
    seeds = [s for s in seeds if _load(results, s, "recognition_au")
             and _load(results, s, "execution_ee")]
    if not seeds:
        return {"seeds": []}, "_no model-size results yet_\n"
    out: dict = {"seeds": seeds}
    # parameters are a property of the preset, not the seed: the first weights.json will do
    weights = next((json.loads(w.read_text()) for s in seeds
                    if (w := results / "size" / f"small_s{s}" / "weights.json").exists()), {})
    for preset in ("tiny", "small"):
        r = out[preset] = {"au": [], "ee": [], "au_min": [], "ee_min": [],
                           "au_params": weights.get(f"{preset}_au", {}).get("parameters"),
                           "ee_params": weights.get(f"{preset}_ee", {}).get("parameters")}
        for s in seeds:
            small = results / "size" / f"small_s{s}"
            if preset == "tiny":
                rec, exe = _load(results, s, "recognition_au"), _load(results, s, "execution_ee")
                curves = {m: results / f"seed{s}" / f"train_{m}.jsonl" for m in ("au", "ee")}
            else:
                rec, exe = (json.loads((small / f"{n}.json").read_text())
                            for n in ("recognition", "execution"))
                curves = {m: small / f"train_{m}.jsonl" for m in ("au", "ee")}
            r["au"].append(rec["accuracy"])
            r["ee"].append(exe["success_rate"])
            for m in ("au", "ee"):
                r[f"{m}_min"].append(_train_minutes(curves[m]))
    t, sm = out["tiny"], out["small"]
    out["diff"] = {m: [b - a for a, b in zip(t[m], sm[m])] for m in ("au", "ee")}

    def mins(v):
        v = [x for x in v if x is not None]
        return format_ci(*mean_ci(v), scale=1.0, digits=1) if v else "?"

    def params(n):
        return f"{n / 1e6:.1f}M" if n else "?"
    lines = ["| preset | parameters au / ee | training au / ee (min) | top-1 % (au) | "
             "success % (ee) |", "|---|---|---|---|---|"]
    for name, r in (("tiny", t), ("small", sm)):
        lines.append(f"| {name} | {params(r['au_params'])} / {params(r['ee_params'])} | "
                     f"{mins(r['au_min'])} / {mins(r['ee_min'])} | {format_ci(*mean_ci(r['au']))}"
                     f" | {format_ci(*mean_ci(r['ee']))} |")
    lines.append("| small − tiny (paired per seed) | | | "
                 f"{format_diff(*mean_ci(out['diff']['au']))} | "
                 f"{format_diff(*mean_ci(out['diff']['ee']))} |")
    return out, ("\n".join(lines) + f"\n\nTraining seeds {seeds}: the same data, seed, "
                 "steps and batch for both presets, one thread per training; tiny's times are "
                 "the seed stage's (au, then ee, beside mn), small's the size stage's (au "
                 "beside ee), so they compare as far as the load does. Top-1 on the held-out "
                 "demonstrations, success over the Table 2 rollouts; mean ± 95 % CI over "
                 "seeds.\n")


def report(results, readme=None) -> dict:
    """Write tables.json, tables.md and the figures; replace the README's study blocks."""
    results = Path(results)
    md, summary = build(results)
    t1, t2 = summary["table1"], summary["table2"]
    from mn_models.eval.report import atomic_write, write_json
    write_json(results / "tables.json", summary)
    titles = {"headline": "The paper's claims at this scale",
              "table1": "Table 1: recognition, top-1 (%) on held-out demonstrations",
              "table2": "Table 2: execution, success (%) in mn_sim",
              "table3": "Table 3: ablations of the joint model (reduced budget)",
              "monitor": "The mirror signal as a success monitor",
              "alignment": "Alignment Recall@1 on held-out pairs",
              "observation1": "Observation 1 per task: the probe against shuffled pairs",
              "observation2": "Observation 2: alignment on successful vs failed rollouts",
              "curve": "Recognition over training steps, au vs mn",
              "datasize": "Recognition over data size, au vs mn",
              "size": "Model size: the small presets beside the tiny ones"}
    atomic_write(results / "tables.md",
                 "".join(f"## {titles[k]}\n\n{md[k]}\n" for k in TABLES))
    _figures(results, t1, t2)
    _curve_figure(results, summary["curve"], summary["curve_long"])
    if readme:
        update_readme(readme, md)
    return {"markdown": md, "summary": summary}


def _figures(results: Path, t1: dict, t2: dict) -> None:
    from mn_models.plots import plot_compare, plot_tsne
    tsne = results / "seed0" / "tsne_mn.json"
    if tsne.exists():               # the shared space coloured by task (Fig. 6)
        import numpy as np

        from mn_sim.describe import canonical_instructions
        from mn_sim.tasks.registry import task_names
        p = json.loads(tsne.read_text())
        task_of = {i: t for t, ins in canonical_instructions(task_names()).items() for i in ins}
        plot_tsne(np.asarray(p["y"]), np.asarray(p["instruction_id"]), np.asarray(p["modality"]),
                  p["instructions"], results / "tsne_mn_by_task.png",
                  "Shared space of mn, seed 0 (t-SNE), coloured by task",
                  groups=[task_of.get(i, "?") for i in p["instructions"]])
    for cmp, name, ylabel, labels in (
            (t1, "recognition_per_task.png", "top-1 recognition (%)", ("au", "mn")),
            (t2, "success_per_task.png", "success rate (%)", ("ee", "mn"))):
        if cmp["seeds"]:
            plot_compare(cmp["rows"], results / name, ylabel, labels,
                         f"{labels[0]} vs {labels[1]}, training seeds {cmp['seeds']}")


def _curve_figure(results: Path, cur: dict, long: dict) -> None:
    from mn_models.plots import plot_curves
    panels = []
    for c, what in ((cur, "held-out top-1"), (long, "longer schedule")):
        if c.get("seeds"):
            panels.append(_curve_panel(c, f"{what}, seeds {c['seeds']}"))
    loss = {m: _train_loss(results, m) for m in ("au", "mn")}
    if all(loss.values()):
        n = min(v["seeds"] for v in loss.values())
        panels.append({"title": f"training loss (mean of {n} seeds)",
                       "xlabel": "training step", "ylabel": "loss (moving average)",
                       "lines": loss})
    if panels:
        plot_curves(panels, results / "recognition_vs_step.png", "au vs mn")


def _curve_panel(cur: dict, title: str) -> dict:
    """The mean over seeds, and each seed thin (with 2-3 seeds a t interval is too wide to
    draw usefully; the table gives it)."""
    lines, many = {}, len(cur["seeds"]) > 1
    for m, colour in (("au", "tab:blue"), ("mn", "tab:orange")):
        lines[f"{m}, mean" if many else m] = {
            "x": list(cur[m]), "y": [100 * v[0] for v in cur[m].values()],
            "kw": {"color": colour, "lw": 2}}
        for s, pts in (cur["per_seed"][m].items() if many else ()):
            lines[f"{m}, seed {s}"] = {
                "x": [p["step"] for p in pts], "y": [100 * p["accuracy"] for p in pts],
                "kw": {"color": colour, "lw": 0.8, "alpha": 0.45, "ls": "--", "ms": 2}}
    return {"title": title, "xlabel": "training step", "ylabel": "top-1 recognition (%)",
            "lines": lines}


BLOCK = re.compile(r"(<!-- study:(\w+) -->\n)(.*?)(<!-- /study:\2 -->)", re.S)


def readme_blocks(text: str) -> dict[str, str]:
    return {m.group(2): m.group(3) for m in BLOCK.finditer(text)}


def update_readme(readme, md: dict[str, str]) -> None:
    p = Path(readme)
    text = p.read_text()
    new = BLOCK.sub(lambda m: m.group(1) + (md.get(m.group(2), m.group(3))) + m.group(4), text)
    if new != text:
        from mn_models.eval.report import atomic_write
        atomic_write(p, new)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mn_models.eval.study", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="summarize a dataset (JSON on stdout)")
    d.add_argument("data")
    w = sub.add_parser("weights", help="parameters of each run's model (JSON on stdout)")
    w.add_argument("runs", nargs="+", metavar="NAME=RUN", help="a name and an au or ee run folder")
    r = sub.add_parser("report", help="tables and figures from a results folder")
    r.add_argument("results")
    r.add_argument("--readme", help="README whose study blocks are replaced by the tables")
    a = ap.parse_args(argv)
    if a.cmd == "data":
        print(json.dumps(dataset_summary(a.data), indent=1))
    elif a.cmd == "weights":
        bad = [x for x in a.runs if "=" not in x]
        if bad:
            ap.error(f"weights takes NAME=RUN pairs; got {bad}")
        print(json.dumps(model_weights(**dict(x.split("=", 1) for x in a.runs)), indent=1))
    else:
        print(report(a.results, a.readme)["markdown"]["table1"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
