"""Report of `scripts/batch_sweep.sh`: per batch-size / learning-rate setting, the samples
trained in the wall-clock budget, the final training loss and the rollout success on unseen
scenes (mean ± 95% CI over evaluation seeds, and over training seeds when there are several),
plus a plot of the training loss against wall-clock minutes.

    python -m mn_models.sweep_report runs/sweep     # -> runs/sweep/sweep.{json,md,png}
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from mn_models.eval.stats import format_ci, mean_ci

RUN = re.compile(r"ee_b(?P<bs>\d+)_lr(?P<lr>[^_]+)_s(?P<seed>\d+)$")


def _metrics(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def collect(root: Path) -> list[dict]:
    rows = []
    for run in sorted(root.iterdir()):
        m = RUN.match(run.name)
        res = run / "eval_ee" / "results.json"
        if not m or not res.is_file():
            continue
        metrics = _metrics(run)
        r = json.loads(res.read_text())
        per_seed = [v["success_rate"] for v in r["per_seed"].values()]
        tail = [x["loss"] for x in metrics[-max(1, len(metrics) // 10):]]
        rows.append({"run": run.name, "batch_size": int(m["bs"]), "lr": float(m["lr"]),
                     "seed": int(m["seed"]), "steps": len(metrics),
                     "samples": len(metrics) * int(m["bs"]),
                     "train_s": metrics[-1]["elapsed_s"] if metrics else 0.0,
                     "final_loss": float(np.mean(tail)) if tail else float("nan"),
                     "success_rate": float(r["success_rate"]), "success_per_eval_seed": per_seed,
                     "curve": [(x["elapsed_s"] / 60.0, x["loss"]) for x in metrics]})
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    for key in sorted({(r["batch_size"], r["lr"]) for r in rows}):
        rs = [r for r in rows if (r["batch_size"], r["lr"]) == key]
        # several training seeds: CI over them; one: CI over the evaluation seeds
        vals = ([r["success_rate"] for r in rs] if len(rs) > 1
                else rs[0]["success_per_eval_seed"])
        mean, ci = mean_ci(vals)
        out.append({"batch_size": key[0], "lr": key[1], "training_seeds": len(rs),
                    "ci_over": "training seeds" if len(rs) > 1 else "evaluation seeds",
                    "success_rate": mean, "success_rate_ci95": ci,
                    "samples": float(np.mean([r["samples"] for r in rs])),
                    "steps": float(np.mean([r["steps"] for r in rs])),
                    "train_s": float(np.mean([r["train_s"] for r in rs])),
                    "final_loss": float(np.mean([r["final_loss"] for r in rs]))})
    return out


def markdown(summary: list[dict]) -> str:
    lines = ["| batch | lr | steps | samples | train min | final loss | success (unseen scenes) |",
             "|---:|---:|---:|---:|---:|---:|---|"]
    for s in summary:
        lines.append(f"| {s['batch_size']} | {s['lr']:g} | {s['steps']:.0f} | {s['samples']:.0f} "
                     f"| {s['train_s'] / 60:.1f} | {s['final_loss']:.3f} | "
                     f"{format_ci(s['success_rate'], s['success_rate_ci95'])} "
                     f"({s['training_seeds']} training seed(s), CI over {s['ci_over']}) |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], summary: list[dict], path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for r in rows:
        if not r["curve"]:
            continue
        t, loss = np.array(r["curve"]).T
        k = max(1, len(loss) // 60)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        a.plot(t[k - 1:], smooth,
               label=f"batch {r['batch_size']}, lr {r['lr']:g}, seed {r['seed']}")
    a.set_xlabel("training wall-clock (min, 2 threads)")
    a.set_ylabel("training loss (moving average)")
    a.set_yscale("log")
    a.legend(fontsize=8)
    names = [f"b{s['batch_size']}\nlr {s['lr']:g}" for s in summary]
    b.bar(range(len(summary)), [100 * s["success_rate"] for s in summary],
          yerr=[100 * s["success_rate_ci95"] for s in summary], capsize=4)
    b.set_xticks(range(len(summary)), names, fontsize=8)
    b.set_ylabel("rollout success on unseen scenes (%)")
    b.set_title("same wall-clock budget per setting")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0] if argv else "runs/sweep")
    rows = collect(root)
    if not rows:
        print(f"no evaluated sweep runs under {root}", file=sys.stderr)
        return 1
    summary = summarize(rows)
    (root / "sweep.json").write_text(json.dumps(
        {"settings": summary, "runs": [{k: v for k, v in r.items() if k != "curve"}
                                       for r in rows]}, indent=2))
    md = markdown(summary)
    (root / "sweep.md").write_text(md)
    plot(rows, summary, root / "sweep.png")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
