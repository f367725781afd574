""""None of these": an open-set rule for the recognizer, calibrated on held-out data.

The recognizer always ranks its instruction vocabulary; the rule decides whether the best one
is really being carried out or the video shows something else (an empty scene, grey or noise
frames, the arm moving at random, a task outside the vocabulary). A clip gets a *known-ness*
score, and the observer abstains (``none``) below a threshold:

    top1     the best cosine(video, instruction text)
    margin   top1 - top2 (how clearly the best beats the runner-up)
    proto    the best cosine between the clip's video embedding u and the mean u of each
             instruction's training videos (prototypes): how much the clip looks like a
             demonstration the recognizer was trained on
    gauss    minus the squared Mahalanobis distance of u to a Gaussian fitted to the training
             videos' u (Lee et al. 2018, one Gaussian; covariance + a ridge chosen on val): how likely
             u is among the training demonstrations, direction *and* size

Calibration (``calibrate``) sees only held-out data: the checkpoint's val-split
demonstrations (known) and non-task videos generated for calibration (unknown; mn_sim.nontask).
It keeps the score with the highest val AUROC (for gauss, with its best ridge) and the
threshold that maximizes TPR - FPR (Youden's J) on val. The rule is stored beside the
checkpoint's weights as ``open_set.json`` (written atomically); evaluation (``evaluate``)
applies it unchanged to test videos. ROS-free; mn_models.runtime applies the rule at run time.

    rule = calibrate(known_val, unknown_val)           # dicts statistic -> (N,) arrays
    save_rule(checkpoint_dir, rule); rule = load_rule(checkpoint_dir)
    rule.accepts(stats)                                # stats from clip_statistics()
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

STATISTICS = ("top1", "margin", "proto", "gauss")
GAUSS_RIDGES = (1e-4, 1e-3, 1e-2, 1e-1)   # x mean variance, added to the covariance
GAUSS_CLIPS_PER_VIDEO = 8                # random clip samplings per training video (fit)
SIDECAR = "open_set.json"
FORMAT = 1
NONE_LABEL = "none"


class OpenSetError(ValueError):
    """A calibration that cannot be made or a sidecar that cannot be used."""


@dataclass
class OpenSetRule:
    statistic: str                    # one of STATISTICS
    threshold: float                  # accept (recognize) when statistic >= threshold
    prototypes: list[list[float]] = field(default_factory=list)   # (K, D) unit rows, proto
    prototype_instructions: list[str] = field(default_factory=list)
    gauss_mean: list[float] = field(default_factory=list)            # (D,)
    gauss_precision: list[list[float]] = field(default_factory=list)  # (D, D)
    calibration: dict = field(default_factory=dict)   # what it was chosen on (val only)
    format: int = FORMAT

    def accepts(self, stats: dict[str, float]) -> bool:
        return bool(stats[self.statistic] >= self.threshold)

    def prototype_matrix(self) -> torch.Tensor | None:
        return torch.tensor(self.prototypes, dtype=torch.float32) if self.prototypes else None

    def reference(self) -> "Reference":
        """What clip_statistics needs of the training videos, as tensors."""
        gauss = None
        if self.gauss_mean:
            gauss = (torch.tensor(self.gauss_mean, dtype=torch.float64),
                     torch.tensor(self.gauss_precision, dtype=torch.float64))
        return Reference(self.prototype_matrix(), gauss)


@dataclass
class Reference:
    """The training videos as the statistics see them: prototypes (P, D) unit rows and the
    Gaussian (mean (D,), precision (D, D)); either may be None."""
    prototypes: torch.Tensor | None = None
    gauss: tuple[torch.Tensor, torch.Tensor] | None = None


def fit_gauss(u: torch.Tensor, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and precision of u (N, D): covariance + ridge x (mean variance) x I, inverted."""
    x = u.double()
    mu = x.mean(0)
    cov = (x - mu).T @ (x - mu) / len(x)
    cov = cov + ridge * float(torch.diagonal(cov).mean()) * torch.eye(x.shape[1], dtype=x.dtype)
    return mu, torch.linalg.inv(cov)


# ------------------------------------------------------------------ scores of one batch of clips
def clip_statistics(scores: torch.Tensor, u: torch.Tensor,
                    ref: Reference | None) -> dict[str, np.ndarray]:
    """scores (B, K) cosine(video, instruction), u (B, D) video features, the training
    reference -> {statistic: (B,) float64}. proto / gauss are NaN without their reference."""
    prototypes = ref.prototypes if ref is not None else None
    s = scores.float()
    top = torch.topk(s, k=min(2, s.shape[1]), dim=1).values           # (B, 2)
    out = {"top1": top[:, 0],
           "margin": top[:, 0] - top[:, 1] if top.shape[1] > 1 else top[:, 0]}
    if prototypes is not None and len(prototypes):
        sims = F.normalize(u.float(), dim=-1) @ prototypes.float().T    # (B, P)
        out["proto"] = sims.max(dim=1).values
    else:
        out["proto"] = torch.full((s.shape[0],), float("nan"))
    if ref is not None and ref.gauss is not None:
        mu, prec = ref.gauss
        d = u.double() - mu
        out["gauss"] = -torch.einsum("bd,de,be->b", d, prec, d)
    else:
        out["gauss"] = torch.full((s.shape[0],), float("nan"))
    return {k: v.detach().double().numpy() for k, v in out.items()}


@torch.no_grad()
def score_clips(recognizer, clips: Iterable[np.ndarray], instructions: Sequence[str],
                ref: Reference | None, batch: int = 16) -> dict[str, np.ndarray]:
    """Statistics of every clip (each (F, S, S, 3) uint8, the recognizer's sampled frames),
    the index of its best instruction ("best") and the raw features ("u", (N, D))."""
    text = F.normalize(recognizer.embed_text(list(instructions)).float(), dim=-1)   # (K, E)
    parts: dict[str, list] = {}
    clips = list(clips)
    for i in range(0, len(clips), batch):
        x = torch.from_numpy(np.stack(clips[i:i + batch]))                   # (B, F, S, S, 3)
        u = recognizer.video_feature(x)                                      # (B, E)
        scores = F.normalize(u.float(), dim=-1) @ text.T                     # (B, K)
        stats = clip_statistics(scores, u, ref)
        stats["best"] = scores.argmax(dim=1).numpy()
        stats["u"] = u.float().numpy()
        for k, v in stats.items():
            parts.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in parts.items()}


@torch.no_grad()
def video_features(recognizer, clips: Sequence[np.ndarray], batch: int = 16) -> torch.Tensor:
    """u (N, D) of clips."""
    return torch.cat([recognizer.video_feature(torch.from_numpy(np.stack(clips[i:i + batch])))
                      .float() for i in range(0, len(clips), batch)])


@torch.no_grad()
def instruction_prototypes(recognizer, clips: Sequence[np.ndarray], instruction_ids: Sequence[int],
                           instructions: Sequence[str], batch: int = 16
                           ) -> tuple[torch.Tensor, list[str]]:
    """The mean unit video feature of each instruction's clips (training videos), renormalized:
    (P, D) and the instructions they belong to (those with at least one clip)."""
    feats = []
    for i in range(0, len(clips), batch):
        x = torch.from_numpy(np.stack(clips[i:i + batch]))
        feats.append(F.normalize(recognizer.video_feature(x).float(), dim=-1))
    u = torch.cat(feats)                                                     # (N, D)
    ids = torch.as_tensor(list(instruction_ids))
    rows, names = [], []
    for k, name in enumerate(instructions):
        mask = ids == k
        if mask.any():
            rows.append(F.normalize(u[mask].mean(0), dim=0))
            names.append(name)
    if not rows:
        raise OpenSetError("no training clips to build prototypes from")
    return torch.stack(rows), names


# ------------------------------------------------------------------ calibration and evaluation
def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """Area under the ROC curve of telling known (positive) from unknown by the score."""
    from sklearn.metrics import roc_auc_score
    known, unknown = np.asarray(known, float), np.asarray(unknown, float)
    if not len(known) or not len(unknown):
        raise OpenSetError(f"AUROC needs both kinds of videos (known {len(known)}, "
                           f"unknown {len(unknown)})")
    y = np.r_[np.ones(len(known)), np.zeros(len(unknown))]
    return float(roc_auc_score(y, np.r_[known, unknown]))


def youden_threshold(known: np.ndarray, unknown: np.ndarray) -> float:
    """The threshold (accept >= t) maximizing TPR - FPR; ties -> the midpoint between the
    neighbouring scores, so an unseen score equal to a calibration score is not on the edge."""
    known, unknown = np.asarray(known, float), np.asarray(unknown, float)
    values = np.unique(np.r_[known, unknown])
    cands = np.r_[values[0] - 1e-6, (values[:-1] + values[1:]) / 2, values[-1] + 1e-6]
    j = [(known >= t).mean() - (unknown >= t).mean() for t in cands]
    return float(cands[int(np.argmax(j))])


def calibrate(known: dict[str, np.ndarray], unknown: dict[str, np.ndarray],
              statistics: Sequence[str] = STATISTICS, details: dict | None = None
              ) -> OpenSetRule:
    """Choose the statistic (highest AUROC) and its threshold (Youden's J) on held-out data:
    ``known`` the val demonstrations' statistics, ``unknown`` the calibration non-task videos'.
    Statistics that are NaN (proto without prototypes) are skipped."""
    per = {}
    for s in statistics:
        k, u = np.asarray(known[s], float), np.asarray(unknown[s], float)
        if np.isnan(k).any() or np.isnan(u).any():
            continue
        per[s] = {"auroc": auroc(k, u), "threshold": youden_threshold(k, u)}
    if not per:
        raise OpenSetError(f"none of the statistics {list(statistics)} can be computed")
    best = max(per, key=lambda s: (per[s]["auroc"], -STATISTICS.index(s)))
    t = per[best]["threshold"]
    k, u = np.asarray(known[best], float), np.asarray(unknown[best], float)
    cal = {"split": "val", "known": int(len(k)), "unknown": int(len(u)),
           "per_statistic": {s: {kk: round(v, 6) for kk, v in d.items()} for s, d in per.items()},
           "val_accept_known": float((k >= t).mean()),
           "val_accept_unknown": float((u >= t).mean()), **(details or {})}
    return OpenSetRule(best, t, calibration=cal)


def evaluate(rule: OpenSetRule, known: dict[str, np.ndarray], unknown: dict[str, np.ndarray],
             unknown_kinds: Sequence[str], known_correct: np.ndarray | None = None) -> dict:
    """The rule on test videos: AUROC of its statistic, the false-recognition rate (unknown
    videos it names an instruction for) overall and per kind, and how many known ones it
    accepts (and of those, how many it names correctly, when ``known_correct`` is given)."""
    s = rule.statistic
    k, u = np.asarray(known[s], float), np.asarray(unknown[s], float)
    kinds = np.asarray(list(unknown_kinds))
    acc_u = u >= rule.threshold
    acc_k = k >= rule.threshold
    out = {"statistic": s, "threshold": rule.threshold, "auroc": auroc(k, u),
           "false_recognition_rate": float(acc_u.mean()),
           "known_accept_rate": float(acc_k.mean()),
           "known": int(len(k)), "unknown": int(len(u)),
           "false_recognition_by_kind": {
               str(kind): {"videos": int((kinds == kind).sum()),
                           "false_recognition_rate": float(acc_u[kinds == kind].mean())}
               for kind in sorted(set(kinds.tolist()))},
           "auroc_by_statistic": {st: auroc(known[st], unknown[st]) for st in STATISTICS
                                  if not (np.isnan(np.asarray(known[st], float)).any()
                                          or np.isnan(np.asarray(unknown[st], float)).any())}}
    if known_correct is not None:
        kc = np.asarray(known_correct, bool)
        out["known_top1"] = float(kc.mean())
        out["known_accepted_and_correct"] = float((kc & acc_k).mean())
    return out


# ------------------------------------------------------------------ the sidecar
def sidecar_path(checkpoint_dir) -> Path:
    return Path(checkpoint_dir) / SIDECAR


def save_rule(checkpoint_dir, rule: OpenSetRule) -> Path:
    """Write ``open_set.json`` into the checkpoint folder atomically (temp file + rename)."""
    from mn_models.eval.report import atomic_write
    if rule.statistic not in STATISTICS:
        raise OpenSetError(f"unknown statistic {rule.statistic!r}")
    data = json.dumps(asdict(rule), indent=1, allow_nan=False)
    return atomic_write(sidecar_path(checkpoint_dir), data + "\n")


def load_rule(checkpoint_dir) -> OpenSetRule | None:
    """The calibrated rule of a checkpoint folder, None when it has none. A sidecar that cannot
    be read raises OpenSetError saying to re-run `mn calibrate`."""
    p = sidecar_path(checkpoint_dir)
    if not p.is_file():
        return None
    try:
        d = json.loads(p.read_text())
        rule = OpenSetRule(**d)
    except (json.JSONDecodeError, TypeError) as e:
        raise OpenSetError(f"{p} cannot be read ({e}); run `mn calibrate` again") from None
    if rule.format != FORMAT or rule.statistic not in STATISTICS or \
            not np.isfinite(rule.threshold):
        raise OpenSetError(f"{p} is not a format-{FORMAT} open-set rule "
                           f"(statistic {rule.statistic!r}); run `mn calibrate` again")
    if (rule.statistic == "proto" and not rule.prototypes) or \
            (rule.statistic == "gauss" and not rule.gauss_precision):
        raise OpenSetError(f"{p} uses the {rule.statistic} statistic but stores no reference "
                           "videos for it; run `mn calibrate` again")
    return rule


# ------------------------------------------------------------------ the commands' work
def _nontask_clips(folder, image_size: int, num_frames: int) -> tuple[list[np.ndarray], list[str]]:
    """Every non-task video of a folder (mn_sim.nontask) as the recognizer's sampled clip."""
    from mn_models.data import _resize_frames, sample_clip_indices
    from mn_sim import nontask
    clips, kinds = [], []
    for item, frames in nontask.load(folder):
        frames = frames[sample_clip_indices(len(frames), num_frames, None)]
        if frames.shape[1] != frames.shape[2]:
            raise OpenSetError(f"{folder}/{item['file']} has non-square frames")
        clips.append(_resize_frames(np.ascontiguousarray(frames), image_size))
        kinds.append(item["kind"])
    if not clips:
        raise OpenSetError(f"{folder} holds no non-task videos")
    return clips, kinds


def _known_clips(data, split: str, c, rec, samplings: int = 0
                 ) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Clips of one split of a dataset with the index of their instruction in the checkpoint's
    vocabulary (-1 when it is not in it): the middle frame of each segment (samplings 0), or
    ``samplings`` random clips per video (seeded)."""
    from mn_models.eval.common import load_split, train_config_of
    d = load_split(data, split, train_config_of(c), clip_size=rec.config.image_size,
                   need_samples=False, need_clips=True, checkpoints=[c] if split != "all" else [])
    vocab = list(c.meta.get("instructions", []))
    nf = rec.config.num_frames
    recs = [r for r in d.records for _ in range(max(1, samplings))]
    rng = np.random.default_rng(0) if samplings else None
    clips = [d.clip(r, nf, rng) for r in recs]
    ids = [vocab.index(r.instruction) if r.instruction in vocab else -1 for r in recs]
    return clips, ids, [r.instruction for r in recs]


def run_calibration(checkpoint, data, nontask_dir, threads: int = 1) -> tuple[Path, OpenSetRule]:
    """`mn calibrate`: prototypes from the train split, the rule from the val split and the
    calibration non-task videos; written beside the checkpoint's weights. Returns (path, rule)."""
    from mn_models import checkpoint as ck
    from mn_sim import nontask
    torch.set_num_threads(max(1, threads))
    c = ck.open_checkpoint(checkpoint, need=("recognizer",))
    rec = ck.build_recognizer(c).eval()
    vocab = list(c.meta.get("instructions", []))
    if not vocab:
        raise OpenSetError(f"{c.path} has no instruction vocabulary")
    # the training videos: prototypes (middle-frame clips) and the Gaussian (random clips)
    train_clips, train_ids, _ = _known_clips(data, "train", c, rec)
    keep = [i for i, k in enumerate(train_ids) if k >= 0]
    protos, proto_names = instruction_prototypes(rec, [train_clips[i] for i in keep],
                                                 [train_ids[i] for i in keep], vocab)
    fit_clips = _known_clips(data, "train", c, rec, samplings=GAUSS_CLIPS_PER_VIDEO)[0]
    u_fit = video_features(rec, fit_clips)
    # held out: the val demonstrations and the calibration non-task videos
    val_clips, val_ids, _ = _known_clips(data, "val", c, rec)
    if any(k < 0 for k in val_ids):
        raise OpenSetError(f"the val split of {data} holds instructions outside {c.path}'s "
                           "vocabulary: calibrate on the data the checkpoint trained on")
    un_clips, kinds = _nontask_clips(nontask_dir, rec.config.image_size, rec.config.num_frames)
    ref = Reference(protos, None)
    known = score_clips(rec, val_clips, vocab, ref)
    unknown = score_clips(rec, un_clips, vocab, ref)
    ridges = {}
    for ridge in GAUSS_RIDGES:   # the ridge of the Gaussian, chosen on val like the rest
        g = fit_gauss(u_fit, ridge)
        k_g, u_g = (clip_statistics(torch.zeros(len(x["u"]), 1), torch.from_numpy(x["u"]),
                                    Reference(None, g))["gauss"] for x in (known, unknown))
        ridges[ridge] = (auroc(k_g, u_g), g, k_g, u_g)
    ridge = max(ridges, key=lambda r: ridges[r][0])
    _, gauss, known["gauss"], unknown["gauss"] = ridges[ridge]
    nt = nontask.settings(nontask_dir)
    rule = calibrate(known, unknown, details={
        "data": str(Path(data).resolve()), "nontask": str(Path(nontask_dir).resolve()),
        "nontask_seed": nt["seed"], "nontask_kinds": sorted(set(kinds)),
        "train_videos": len(keep), "gauss_fit_clips": len(fit_clips),
        "gauss_ridge": ridge,
        "gauss_val_auroc_by_ridge": {str(r): round(v[0], 6) for r, v in ridges.items()},
        "val_top1": float(np.mean(known["best"] == np.asarray(val_ids)))})
    rule.prototypes = protos.tolist()
    rule.prototype_instructions = proto_names
    rule.gauss_mean = gauss[0].tolist()
    rule.gauss_precision = gauss[1].tolist()
    return save_rule(c.path, rule), rule


def run_evaluation(checkpoint, data, nontask_dir, split: str = "all", threads: int = 1) -> dict:
    """`mn calibrate --evaluate`: the stored rule, unchanged, on test videos (a dataset other
    than the calibration one, non-task videos of another seed)."""
    from mn_models import checkpoint as ck
    from mn_sim import nontask
    torch.set_num_threads(max(1, threads))
    c = ck.open_checkpoint(checkpoint, need=("recognizer",))
    rule = load_rule(c.path)
    if rule is None:
        raise OpenSetError(f"{c.path} has no {SIDECAR}: run `mn calibrate` first")
    cal = rule.calibration
    if str(Path(data).resolve()) == cal.get("data"):
        raise OpenSetError(f"{data} is the calibration dataset: evaluate on test videos the "
                           "checkpoint neither trained nor was calibrated on (collect them with "
                           "another --seed into another folder)")
    nt = nontask.settings(nontask_dir)
    if nt["seed"] == cal.get("nontask_seed") or \
            str(Path(nontask_dir).resolve()) == cal.get("nontask"):
        raise OpenSetError(f"{nontask_dir} has the calibration non-task videos (seed "
                           f"{nt['seed']}): generate test ones with another --nontask-seed")
    rec = ck.build_recognizer(c).eval()
    vocab = list(c.meta.get("instructions", []))
    clips, ids, _ = _known_clips(data, split, c, rec)
    inside = [i for i, k in enumerate(ids) if k >= 0]
    if not inside:
        raise OpenSetError(f"no video of {data} shows an instruction of {c.path}'s vocabulary")
    clips, ids = [clips[i] for i in inside], [ids[i] for i in inside]
    un_clips, kinds = _nontask_clips(nontask_dir, rec.config.image_size, rec.config.num_frames)
    ref = rule.reference()
    known = score_clips(rec, clips, vocab, ref)
    unknown = score_clips(rec, un_clips, vocab, ref)
    out = evaluate(rule, known, unknown, kinds, known_correct=known["best"] == np.asarray(ids))
    out.update(checkpoint=str(c.path), test_data=str(Path(data).resolve()), split=split,
               test_nontask=str(Path(nontask_dir).resolve()), test_nontask_seed=nt["seed"],
               calibration={k: v for k, v in cal.items()})
    return out


def markdown(result: dict, command: str = "") -> str:
    """The evaluation as a short markdown report."""
    cal = result["calibration"]
    rows = "\n".join(f"| {k} | {v['videos']} | {100 * v['false_recognition_rate']:.1f} % |"
                     for k, v in result["false_recognition_by_kind"].items())
    stats = ", ".join(f"{k} {v:.3f}" for k, v in result["auroc_by_statistic"].items())
    per_stat = ", ".join(f"{k} {v['auroc']:.3f}"
                         for k, v in cal.get("per_statistic", {}).items())
    return (f"# Open-set recognition (\"none of these\")\n\n"
            + (f"```\n{command}\n```\n\n" if command else "")
            + f"Checkpoint `{result['checkpoint']}`. Rule chosen on the val split of "
            f"`{cal.get('data')}` ({cal.get('known')} demonstrations) and {cal.get('unknown')} "
            f"non-task videos (seed {cal.get('nontask_seed')}): statistic "
            f"**{result['statistic']}**, threshold {result['threshold']:.4f} (val AUROC per "
            f"statistic: {per_stat}).\n\n"
            f"Test: {result['known']} demonstrations of `{result['test_data']}` "
            f"({result['split']}), {result['unknown']} non-task videos (seed "
            f"{result['test_nontask_seed']}).\n\n"
            f"| measure | value |\n|---|---|\n"
            f"| AUROC ({result['statistic']}) | {result['auroc']:.3f} |\n"
            f"| false-recognition rate at the threshold | "
            f"{100 * result['false_recognition_rate']:.1f} % |\n"
            f"| demonstrations accepted | {100 * result['known_accept_rate']:.1f} % |\n"
            f"| demonstrations accepted and named correctly | "
            f"{100 * result.get('known_accepted_and_correct', float('nan')):.1f} % |\n"
            f"| top-1 on the demonstrations (no rule) | "
            f"{100 * result.get('known_top1', float('nan')):.1f} % |\n\n"
            f"AUROC of every statistic on the test videos: {stats}.\n\n"
            f"| non-task kind | videos | false recognitions |\n|---|---|---|\n{rows}\n")
