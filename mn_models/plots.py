"""Figures of the evaluations (matplotlib, Agg backend; PNG files written atomically).

    plot_recall_series(series, path)        Fig. 3 left: alignment Recall@1 vs training step
    plot_success_split(split, path)         Fig. 3 right: success vs failure subsets
    plot_tsne(y, instruction_id, modality, instructions, path)    Fig. 6
    plot_per_task(per_task, path, ylabel)   bars per task (Tables 1 and 2 at a glance)
    plot_roc(monitor_summary, path)         the success monitor's ROC curves
    plot_curves(panels, path)               lines with CI bands (au vs mn over training steps)
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path) -> Path:
    from mn_models.eval.report import atomic_write
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return atomic_write(path, buf.getvalue())


def plot_recall_series(series: Sequence[dict], path, title: str = "Alignment during training"):
    """series: [{"step", "recall_at_1", "chance"}, ...]."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    steps = [s["step"] for s in series]
    ax.plot(steps, [100 * s["recall_at_1"] for s in series], "o-", label="Recall@1")
    ax.plot(steps, [100 * s["chance"] for s in series], "--", color="gray", label="chance")
    ax.set(xlabel="training step", ylabel="Recall@1 (%)", title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_success_split(split: dict, path, title: str = "Alignment vs task success"):
    """split: success_split_scores() output."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 3.5))
    names = ["success", "failure"]
    vals = [100 * (split[k]["recall_at_1"] or 0.0) for k in names]
    chance = [100 * (split[k]["chance"] or 0.0) for k in names]
    ax.bar(names, vals, color=["tab:green", "tab:red"])
    ax.scatter(names, chance, marker="_", s=600, color="black", label="chance", zorder=3)
    ax.set(ylabel="Recall@1 (%)", ylim=(0, 100),
           title=f"{title}\n({split['samples_per_subset']} samples each)")
    ax.legend()
    return _save(fig, path)


def plot_tsne(y: np.ndarray, instruction_id: np.ndarray, modality: np.ndarray,
              instructions: Sequence[str], path, title: str = "Shared space (t-SNE)",
              groups: Sequence[str] | None = None):
    """Colour = instruction (or, with ``groups`` — one label per instruction, e.g. its task —
    the group), marker = modality (o: z_u of videos, ^: z_e of the policy)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5))
    if groups is not None:          # recolour by group: instruction ids -> group ids
        names = sorted(set(groups))
        instruction_id = np.array([names.index(groups[int(i)]) for i in instruction_id])
        instructions = names
    present = sorted(set(int(i) for i in instruction_id))
    cmap = plt.get_cmap("tab20" if len(present) > 10 else "tab10")
    markers = {"u": ("o", "recognizer z_u"), "e": ("^", "policy z_e")}
    for k, iid in enumerate(present):
        for mod, (mk, _) in markers.items():
            sel = (instruction_id == iid) & (modality == mod)
            if sel.any():
                ax.scatter(y[sel, 0], y[sel, 1], marker=mk, color=cmap(k % cmap.N), s=28,
                           alpha=0.85, edgecolors="none")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker="s", ls="", color=cmap(k % cmap.N),
                      label=instructions[iid] if iid < len(instructions) else str(iid))
               for k, iid in enumerate(present)]
    handles += [Line2D([], [], marker=mk, ls="", color="black", label=name)
                for mk, name in markers.values()]
    ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set(title=title, xticks=[], yticks=[])
    return _save(fig, path)


def plot_per_task(per_task: dict, path, ylabel: str, ci: dict | None = None, title: str = ""):
    """Bar per task and the average, with 95% CI half-widths as error bars when `ci` is given
    ({task: half, "Avg.": half})."""
    plt = _pyplot()
    names = list(per_task) + ["Avg."]
    vals = [100 * v for v in per_task.values()]
    vals.append(float(np.mean(vals)) if vals else 0.0)
    err = None
    if ci:
        err = [100 * ci.get(t, 0.0) for t in per_task] + [100 * ci.get("Avg.", 0.0)]
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(names) + 1), 3.5))
    ax.bar(names, vals, yerr=err, capsize=3, color=["tab:blue"] * (len(names) - 1) + ["tab:gray"])
    ax.set(ylabel=ylabel, ylim=(0, 100), title=title)
    ax.tick_params(axis="x", rotation=45)
    return _save(fig, path)


def plot_roc(summary: dict, path, title: str = "Success monitor: ROC over rollouts"):
    """ROC curves of every score in a monitor summary (mn_models/eval/monitor.summarize)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    for k, roc in summary.get("roc", {}).items():
        a = summary["auroc"][k]
        ax.plot(roc["fpr"], roc["tpr"], label=f"{k} (AUROC {a['auroc']:.2f})",
                lw=2 if k.startswith("cos") else 1, ls="-" if k.startswith("cos") else "--")
    ax.plot([0, 1], [0, 1], ":", color="gray", label="chance")
    ax.set(xlabel="false positive rate (failures called successes)",
           ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_compare(rows: dict, path, ylabel: str, labels: tuple[str, str], title: str = ""):
    """Two bars per task (baseline, ours), mean over seeds with 95 % CI whiskers; rows as
    mn_models/eval/study._compare gives them ({task: {"base_mean_ci", "ours_mean_ci"}})."""
    plt = _pyplot()
    names = list(rows)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(names) + 2), 3.8))
    for i, (key, lab) in enumerate((("base_mean_ci", labels[0]), ("ours_mean_ci", labels[1]))):
        m = np.array([100 * rows[n][key][0] for n in names])
        h = np.array([100 * rows[n][key][1] for n in names])
        ax.bar(x + (i - 0.5) * 0.4, m, 0.4, yerr=h if h.any() else None, capsize=2, label=lab)
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    ax.set(ylabel=ylabel, ylim=(0, 105), title=title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_curves(panels: Sequence[dict], path, title: str = ""):
    """Side-by-side panels of lines with shaded 95 % CI bands. Each panel:
    {"title", "xlabel", "ylabel", "lines": {label: {"x": [...], "y": [...], "ci": [...],
    "kw": {...}}}} (ci: half-widths, omitted or 0 for none; kw: matplotlib line keywords)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for label, line in panel["lines"].items():
            x, y = np.asarray(line["x"], float), np.asarray(line["y"], float)
            kw = {"marker": "o" if len(x) < 30 else None, "ms": 3, **line.get("kw", {})}
            drawn = ax.plot(x, y, label=label, **kw)[0]
            ci = np.asarray(line.get("ci") or np.zeros_like(y), float)
            if ci.any():
                ax.fill_between(x, y - ci, y + ci, alpha=0.2, color=drawn.get_color())
        ax.set(title=panel.get("title", ""), xlabel=panel.get("xlabel", ""),
               ylabel=panel.get("ylabel", ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
