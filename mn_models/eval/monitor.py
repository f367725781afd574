"""The mirror signal as a success monitor (issue 12, beyond the paper).

While the policy of an mn checkpoint (or a probe's) executes an instruction in mn_sim, the
observer camera is recorded as the observer node sees it (``FRAME_RATE`` Hz, the dataset's image
size). At the end of the episode the recognizer of the same checkpoint watches the whole
execution (its clip sampled across every frame, as the observer node does over its buffer):

- ``cos_final``: cosine(z_u of the execution, z_e of the policy's last decision) — what the
  mirror node shows when the episode ends;
- ``cos_mean``: the same with z_e averaged over the episode's decisions
  (mn_models.runtime.EpisodeMirror) — what the mirror node shows on ``mirror/similarity_episode``;
- ``recognized``: the instruction the recognizer names for the execution (top-1 over the
  checkpoint's vocabulary), and whether it is the instruction that was given;
- baselines from the policy alone: ``conf_heatmap`` (mean over decisions of the mean over views
  of the translation heatmap's largest probability) and ``conf_rotation`` (mean over decisions
  of the mean over the three rotation tokens of the largest bin probability).

``summarize`` gives the AUROC of each score for predicting success (scikit-learn), with a
percentile bootstrap 95 % CI over episodes (SciPy), and the recognition rates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mn_models.runtime import EpisodeMirror

FRAME_RATE = 20.0          # observer frames per simulated second (RLBench's and mn collect's)
SCORES = ("cos_final", "cos_mean", "conf_heatmap", "conf_rotation")


@dataclass
class MonitorModels:
    """The observer's recognizer (mn_models.runtime.RecognizerRunner, the observer node's own
    code: frames prepared as the node prepares camera frames, z_u as it publishes it)."""
    runner: object                     # RecognizerRunner without an open-set rule: top-1
    image_size: int                    # frames recorded at this size (the dataset's)

    @classmethod
    def from_checkpoint(cls, ckpt, image_size: int = 128) -> "MonitorModels":
        from mn_models import checkpoint as ck
        from mn_models.eval.common import EvalError
        from mn_models.runtime import RecognizerRunner
        mods = ck.open_checkpoint(ckpt) if not isinstance(ckpt, ck.Checkpoint) else ckpt
        have = set(mods.meta.get("modules", []))
        if not {"recognizer", "alignment"} <= have:
            raise EvalError(f"{mods.path} has modules {sorted(have)}; the success monitor needs "
                            "a recognizer and alignment heads (an mn or probe checkpoint)")
        if not mods.meta.get("instructions"):
            raise EvalError(f"{mods.path} has no instruction vocabulary")
        return cls(RecognizerRunner(mods, threads=0, open_set=False), image_size)

    @property
    def instructions(self) -> list:
        return self.runner.instructions

    def watch(self, frames: np.ndarray) -> tuple[np.ndarray, str]:
        """(z_u (D,) unit norm, top-1 instruction) of a whole execution's frames (T, H, W, 3),
        each frame prepared as the observer node prepares a camera frame."""
        clip = np.stack([self.runner.prepare(f) for f in frames])
        rec = self.runner.recognize(clip, top_k=1)
        return rec.embedding, rec.top_k[0][0]


def decision_confidence(out: dict) -> tuple[float, float]:
    """(heatmap, rotation) confidence of one decision from ``policy.predict``'s output."""
    from mn_models.policy import constants as K
    hm = out[K.HEATMAPS][-1][0]                                     # (V, H, W) logits
    heat = float(hm.flatten(-2).float().softmax(-1).amax(-1).mean())
    rot = float(np.mean([float(out[K.TOKEN_LOGITS][n][0].float().softmax(-1).max())
                         for n in ("rot_x", "rot_y", "rot_z")]))
    return heat, rot


def episode_signals(models: MonitorModels, frames: Sequence[np.ndarray], z_e: Sequence,
                    confidences: Sequence[tuple[float, float]], instruction: str) -> dict:
    """The per-episode record (see the module docstring)."""
    if not frames or not z_e:
        return {"cos_final": float("nan"), "cos_mean": float("nan"),
                "conf_heatmap": float("nan"), "conf_rotation": float("nan"),
                "recognized": "", "recognized_correct": False, "frames": len(frames)}
    z_u, top1 = models.watch(np.stack(frames))
    episode = EpisodeMirror()          # what the mirror node publishes on similarity_episode
    for z in z_e:
        episode.add(z)
    conf = np.asarray(confidences, dtype=float)
    return {"cos_final": float(z_u @ np.asarray(z_e[-1])), "cos_mean": episode.similarity(z_u),
            "conf_heatmap": float(conf[:, 0].mean()), "conf_rotation": float(conf[:, 1].mean()),
            "recognized": top1, "recognized_correct": top1 == instruction,
            "frames": len(frames)}


def auroc_ci(labels: Sequence[bool], scores: Sequence[float], resamples: int = 2000,
             seed: int = 0) -> dict:
    """AUROC of `scores` for `labels` with a percentile bootstrap 95 % CI over episodes
    (resamples that hold one class only are skipped). NaN when one class is missing."""
    from sklearn.metrics import roc_auc_score
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    out = {"auroc": float("nan"), "ci95": [float("nan"), float("nan")], "positives": n_pos,
           "negatives": n_neg}
    if n_pos == 0 or n_neg == 0:
        return out
    out["auroc"] = float(roc_auc_score(y, s))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(resamples):
        i = rng.integers(0, len(y), len(y))
        if y[i].all() or not y[i].any():
            continue
        boots.append(roc_auc_score(y[i], s[i]))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    out["ci95"] = [float(lo), float(hi)]
    return out


def summarize(episodes: Sequence[dict]) -> dict:
    """AUROC (with CI) of every score, the ROC curves and recognition rates of executions."""
    from sklearn.metrics import roc_curve
    eps = [e for e in episodes if "monitor" in e]
    y = [bool(e["success"]) for e in eps]
    out: dict = {"episodes": len(eps), "successes": int(sum(y)), "auroc": {}, "roc": {}}
    for k in SCORES:
        s = [e["monitor"][k] for e in eps]
        out["auroc"][k] = auroc_ci(y, s)
        if 0 < sum(y) < len(y):
            fpr, tpr, _ = roc_curve(y, s)
            out["roc"][k] = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}

    def rate(sub):
        return float(np.mean([e["monitor"]["recognized_correct"] for e in sub])) if sub else None
    out["recognized_as_given"] = {"all": rate(eps),
                                  "success": rate([e for e in eps if e["success"]]),
                                  "failure": rate([e for e in eps if not e["success"]])}
    return out


def markdown(summary: dict) -> str:
    names = {"cos_final": "mirror cosine, last decision (the mirror node's similarity)",
             "cos_mean": "mirror cosine, z_e averaged over the episode (similarity_episode)",
             "conf_heatmap": "baseline: policy heatmap confidence",
             "conf_rotation": "baseline: policy rotation confidence"}
    rows = []
    for k in SCORES:
        a = summary["auroc"][k]
        rows.append(f"| {names[k]} | {a['auroc']:.3f} | [{a['ci95'][0]:.3f}, "
                    f"{a['ci95'][1]:.3f}] |")
    r = summary["recognized_as_given"]
    fmt = lambda v: "n/a" if v is None else f"{100 * v:.1f}"   # noqa: E731
    return ("# Success monitor: AUROC for predicting a rollout's success\n\n"
            f"{summary['episodes']} rollouts, {summary['successes']} successes; 95 % CI: "
            "bootstrap over episodes\n\n| score | AUROC | 95 % CI |\n|---|---|---|\n"
            + "\n".join(rows) + "\n\nThe recognizer names the *executed* rollout as the "
            f"instruction given: {fmt(r['all'])} % of rollouts (successes {fmt(r['success'])} "
            f"%, failures {fmt(r['failure'])} %).\n")
