"""Alignment of recognizer and policy in the shared space (`mn eval probe`, `mn eval tsne`).

Held-out pairs: every keyframe sample of the held-out episodes gives e (the policy's feature,
teacher-forced on the sample's target in eval mode, as the probe was trained) and u (the
recognizer's feature of the episode's front-camera clip, middle frame of each segment). The
alignment layers of a probe/mn checkpoint map them to z_u, z_e; the score is the mean
bidirectional Recall@1 with the checkpoint's positive-pair strategy (paper: same instruction),
next to its chance level.

Controls and analyses:
- shuffled: u rows and e rows permuted independently (pairing destroyed): must be at chance;
  averaged over `repeats` permutations.
- series: every checkpoint of a run (mn runs: all three modules change; probe runs: the probe
  changes, the frozen models do not) -> recall vs step (paper Fig. 3 left).
- success split (paper Fig. 3 right): each held-out episode is labelled by rolling the ee policy
  out from that episode's own seed and variation (the demonstration's scene); collected
  datasets hold expert successes only, so their success flags carry no signal
  (``source="flags"`` uses them anyway, e.g. for data with failed episodes). Recall is computed
  on success and failure subsets subsampled to equal sizes (averaged over `repeats` draws).
  Unlike the paper, one probe (the given one) is evaluated on both subsets; no separate probes
  are trained.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from mn_models import checkpoint as ck
from mn_models.alignment import id_shares, pair_ids, retrieval_hits
from mn_models.eval.common import EvalError, load_split, policy_tokenizer, train_config_of

log = logging.getLogger("mn.eval.probe")


@dataclass
class PairedFeatures:
    """u and e of N keyframe samples, row i of each from the same sample."""
    u: torch.Tensor                  # (N, dim_u)
    e: torch.Tensor                  # (N, dim_e)
    instruction_id: torch.Tensor     # (N,)
    task_id: torch.Tensor            # (N,)
    episode_id: torch.Tensor         # (N,)
    instructions: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.u.shape[0]

    def ids(self, strategy: str) -> torch.Tensor:
        return pair_ids(strategy, episode_ids=self.episode_id,
                        instruction_ids=self.instruction_id, task_ids=self.task_id)

    def subset(self, rows) -> "PairedFeatures":
        rows = torch.as_tensor(rows, dtype=torch.long)
        return PairedFeatures(self.u[rows], self.e[rows], self.instruction_id[rows],
                              self.task_id[rows], self.episode_id[rows], self.instructions,
                              self.tasks)


@dataclass
class ProbeModels:
    recognizer: torch.nn.Module
    policy: torch.nn.Module
    alignment: torch.nn.Module
    tokenizer: object
    strategy: str
    train_config: dict        # of the alignment's checkpoint: its split is the held-out one
    label: str
    checkpoints: tuple = ()   # probe/mn, recognizer's and policy's: one split for all


def load_models(probe, au=None, ee=None) -> ProbeModels:
    """Alignment layers from `probe` (kind probe or mn); the recognizer from `au` (default: the
    probe checkpoint's own frozen copy) and the policy from `ee` (likewise)."""
    from mn_models.eval.common import label
    p = ck.open_checkpoint(probe, need=("alignment",))
    ali = ck.build_alignment(p).eval()
    rc = ck.open_checkpoint(au, need=("recognizer",)) if au else p
    pc = ck.open_checkpoint(ee, need=("policy",)) if ee else p
    rec = ck.build_recognizer(rc).eval()
    pol = ck.build_policy(pc).eval()
    if rec.config.embed_dim != ali.dim_u or pol.cfg.policy_dim != ali.dim_e:
        raise EvalError(f"the alignment of {p.path} maps u of size {ali.dim_u} and e of size "
                        f"{ali.dim_e}, but the recognizer gives {rec.config.embed_dim} and the "
                        f"policy {pol.cfg.policy_dim}: pass the --au/--ee checkpoints the probe "
                        "was trained on")
    cfg = train_config_of(p)
    strategy = (cfg.get("alignment") or {}).get("strategy", "instruction")
    return ProbeModels(rec, pol, ali, policy_tokenizer(pc), strategy, cfg, label(p),
                       (p, rc, pc))


def load_pairs_data(models: ProbeModels, data, split: str = "val", tasks=None):
    return load_split(data, split, models.train_config, tasks=tasks,
                      clip_size=models.recognizer.config.image_size,
                      cameras=models.policy.cfg.cameras, need_clips=True, need_samples=True,
                      checkpoints=models.checkpoints)


FEATURES = ("runtime", "teacher_forced")


@torch.no_grad()
def paired_features(recognizer, policy, data, tokenizer, batch_size: int = 8,
                    feature: str = "runtime") -> PairedFeatures:
    """u and e of every keyframe sample of `data` (a MirrorData with clips and samples).

    feature: "runtime" (default) = e of the policy's own decoding of the observation, what
    the policy node computes and the mirror node compares; "teacher_forced" = e of the
    training forward pass, which feeds the sample's ground-truth action tokens in (it encodes
    the answer; reported beside, labelled)."""
    if feature not in FEATURES:
        raise ValueError(f"feature must be one of {FEATURES}; got {feature!r}")
    recognizer.eval()
    policy.eval()
    nf = recognizer.config.num_frames
    u_ep = []
    for i in range(0, len(data.records), batch_size):
        rows = list(range(i, min(i + batch_size, len(data.records))))
        video = data.au_batch(rows, nf, None)["video"]                       # (B, T, S, S, 3)
        u_ep.append(recognizer.embed_video(recognizer.preprocess(video)).float())
    u_ep = torch.cat(u_ep)                                                    # (E, dim_u)
    es, rows_ep, iid, tid, eid = [], [], [], [], []
    for i in range(0, len(data.index), batch_size):
        rows = list(range(i, min(i + batch_size, len(data.index))))
        batch = data.ee_batch(rows, tokenizer)
        if feature == "runtime":
            _, e = policy.predict_action(batch)
        else:
            e = policy(batch)[2]["e"]
        es.append(e.float())                                                  # (B, dim_e)
        rows_ep += [data.index[r][0] for r in rows]
        iid.append(batch["instruction_id"])
        tid.append(batch["task_id"])
        eid.append(batch["episode_id"])
    return PairedFeatures(u_ep[torch.tensor(rows_ep)], torch.cat(es), torch.cat(iid),
                          torch.cat(tid), torch.cat(eid), list(data.instructions),
                          list(data.tasks))


@torch.no_grad()
def alignment_scores(alignment, feats: PairedFeatures, strategy: str = "instruction",
                     shuffle: bool = False, repeats: int = 20, seed: int = 0) -> dict:
    """Recall@1 (mean of both directions) of the aligned pairs and its chance level; with
    `shuffle`, the same on pairs whose u and e rows were permuted independently (mean over
    `repeats` permutations), the aligned value kept as aligned_recall_at_1."""
    if len(feats) < 2:
        raise EvalError(f"alignment needs at least 2 held-out samples, got {len(feats)}")
    alignment.eval()
    z_u, z_e = alignment.project(feats.u, feats.e)
    ids = feats.ids(strategy)
    u2e, e2u, per_task = _retrieval(z_u, z_e, ids, feats.task_id, feats.tasks)
    shares = id_shares(ids)
    out = {"recall_at_1": (u2e + e2u) / 2, "recall_u2e": u2e, "recall_e2u": e2u,
           "chance": shares.mean().item(), "samples": len(feats), "strategy": strategy,
           "per_task": per_task,
           "per_task_chance": _by_task(shares, feats.task_id, feats.tasks)}
    if shuffle:   # the same numbers on pairs whose u and e rows were permuted independently
        g = torch.Generator().manual_seed(seed)
        runs = []
        for _ in range(repeats):
            pu = torch.randperm(len(feats), generator=g)
            pe = torch.randperm(len(feats), generator=g)
            runs.append(_retrieval(z_u[pu], z_e[pe], ids, feats.task_id, feats.tasks))
        u2e, e2u = (float(np.mean([r[i] for r in runs])) for i in (0, 1))
        out.update({f"aligned_{k}": out[k] for k in ("recall_at_1", "recall_u2e", "recall_e2u",
                                                      "per_task")})
        out.update({"recall_at_1": (u2e + e2u) / 2, "recall_u2e": u2e, "recall_e2u": e2u,
                    "per_task": {t: float(np.mean([r[2][t] for r in runs])) for t in per_task},
                    "shuffled": True, "shuffle_repeats": repeats})
    return out


def _by_task(values: torch.Tensor, task_id, tasks) -> dict[str, float]:
    """The mean of per-item values over each task's items."""
    tid = torch.as_tensor(task_id)
    return {tasks[int(t)]: float(values[tid == t].mean()) for t in torch.unique(tid)}


def per_task_recall(z_u, z_e, ids, task_id, tasks) -> dict[str, float]:
    """Bidirectional Recall@1 of the queries of each task (retrieval over all items)."""
    return _retrieval(z_u, z_e, ids, task_id, tasks)[2]


def _retrieval(z_u, z_e, ids, task_id, tasks) -> tuple[float, float, dict[str, float]]:
    """Recall@1 u->e, e->u, and per task (one similarity matrix for the three)."""
    u2e, e2u = retrieval_hits(z_u, z_e, ids)
    return u2e.mean().item(), e2u.mean().item(), _by_task((u2e + e2u) / 2, task_id, tasks)


def evaluate_probe(probe, data, au=None, ee=None, split: str = "val", shuffle: bool = False,
                   tasks=None, seed: int = 0) -> dict:
    """Recall@1 of a probe/mn checkpoint on the held-out pairs of `data`: on the runtime e
    (the policy's own decoding, as deployed) and, under "teacher_forced", on the training
    forward's e (ground-truth action tokens in). The alignment heads were trained on the
    latter (the trainer's forward pass, as the paper's joint training)."""
    m = load_models(probe, au, ee)
    d = load_pairs_data(m, data, split, tasks)
    feats = paired_features(m.recognizer, m.policy, d, m.tokenizer, feature="runtime")
    out = alignment_scores(m.alignment, feats, m.strategy, shuffle=shuffle, seed=seed)
    tf = paired_features(m.recognizer, m.policy, d, m.tokenizer, feature="teacher_forced")
    out["teacher_forced"] = alignment_scores(m.alignment, tf, m.strategy, shuffle=shuffle,
                                             seed=seed)
    out.update({"feature": "runtime", "checkpoint": m.label, "split": split,
                "episodes": len(d)})
    return out


def evaluate_series(run_dir, data, au=None, ee=None, split: str = "val", tasks=None,
                    progress: bool = True) -> dict:
    """Recall@1 of every checkpoint of an mn or probe run, by step."""
    cks = ck.list_checkpoints(run_dir)
    if not cks:
        raise EvalError(f"{run_dir} has no checkpoints (expected {run_dir}/checkpoints/step_N)")
    first = ck.open_checkpoint(cks[0])
    if first.kind not in ("mn", "probe"):
        raise EvalError(f"{run_dir} is a {first.kind!r} run: a series needs alignment layers "
                        "(an mn run, or a probe run trained with mn train --config "
                        "config/train/tiny_probe.yaml)")
    series, feats, d = [], None, None
    for c in cks:
        m = load_models(c, au, ee)
        if d is None:
            d = load_pairs_data(m, data, split, tasks)
        if feats is None or first.kind == "mn":   # probe runs: U and E frozen, same features
            feats = paired_features(m.recognizer, m.policy, d, m.tokenizer)
        s = alignment_scores(m.alignment, feats, m.strategy)
        step = int(ck.open_checkpoint(c).meta.get("step", 0))
        series.append({"step": step, "recall_at_1": s["recall_at_1"], "chance": s["chance"],
                       "checkpoint": str(c)})
        if progress:
            print(f"[mn eval probe] step {step}: Recall@1 {s['recall_at_1']:.3f} "
                  f"(chance {s['chance']:.3f})", file=sys.stderr, flush=True)
    return {"recall_at_1": series[-1]["recall_at_1"], "chance": series[-1]["chance"],
            "series": series, "kind": first.kind, "run": str(run_dir), "split": split}


# ------------------------------------------------------------------------ success vs failure
def success_labels(data, ee_checkpoint=None, source: str = "rollout", max_steps: int = 25,
                   workers: int = 2, image_size: int = 128, progress: bool = True
                   ) -> dict[int, bool]:
    """{episode_id: success} for the episodes of `data` (see the module docstring)."""
    if source == "flags":
        return {r.episode_id: bool(r.success) for r in data.records}
    if source != "rollout":
        raise EvalError(f"success source must be 'rollout' or 'flags', got {source!r}")
    if ee_checkpoint is None:
        raise EvalError("labelling success by rollouts needs a policy checkpoint (--ee)")
    from mn_models.eval.rollout import RolloutJob, run_jobs
    from mn_sim.dataset import load_episode
    jobs = []
    for r in data.records:
        seed = load_episode(r.path).seed
        if seed is None:
            raise EvalError(f"episode {r.path} has no seed (PerAct data): use "
                            "--success-source flags")
        jobs.append(RolloutJob(r.task, r.variation, int(seed), r.episode_id))
    res = run_jobs(ee_checkpoint, jobs, image_size, max_steps, workers, progress)
    return {j.index: bool(x["success"]) for j, x in zip(jobs, res)}


@torch.no_grad()
def success_split_scores(alignment, feats: PairedFeatures, success: dict[int, bool],
                         strategy: str = "instruction", repeats: int = 20, seed: int = 0) -> dict:
    """Recall@1 on the success and failure subsets, each subsampled to the size of the smaller
    one (mean over `repeats` draws). A subset with < 2 samples gives None."""
    ok = torch.tensor([success[int(i)] for i in feats.episode_id])
    rows = {"success": torch.nonzero(ok).flatten(), "failure": torch.nonzero(~ok).flatten()}
    n = min(len(r) for r in rows.values())
    out = {"samples_per_subset": n, "episodes": {
        "success": sum(success.values()), "failure": len(success) - sum(success.values())}}
    rng = np.random.default_rng(seed)
    for name, r in rows.items():
        if n < 2:
            out[name] = {"recall_at_1": None, "chance": None, "available": len(r)}
            continue
        rec, chance = [], []
        for _ in range(repeats if len(r) > n else 1):
            pick = r[torch.from_numpy(rng.choice(len(r), n, replace=False))]
            s = alignment_scores(alignment, feats.subset(pick), strategy)
            rec.append(s["recall_at_1"])
            chance.append(s["chance"])
        out[name] = {"recall_at_1": float(np.mean(rec)), "chance": float(np.mean(chance)),
                     "available": len(r)}
    if n < 2:
        out["note"] = ("fewer than 2 samples in the smaller subset: roll out more held-out "
                       "episodes or train the policy longer/shorter")
    return out


# ------------------------------------------------------------------------ t-SNE (Fig. 6)
def tsne_points(alignment, feats: PairedFeatures, max_points: int = 400, seed: int = 0) -> dict:
    """z_u (one per episode: u repeats over an episode's samples) and z_e (per sample) for the
    t-SNE figure, at most `max_points` in total (random subsample, seeded)."""
    z_u, z_e = alignment.project(feats.u, feats.e)
    first = {}
    for i, ep in enumerate(feats.episode_id.tolist()):
        first.setdefault(ep, i)
    u_rows = torch.tensor(sorted(first.values()))
    e_rows = torch.arange(len(feats))
    rng = np.random.default_rng(seed)
    budget_e = max(1, max_points - len(u_rows))
    if len(e_rows) > budget_e:
        e_rows = torch.from_numpy(np.sort(rng.choice(len(e_rows), budget_e, replace=False)))
    Z = torch.cat([z_u[u_rows], z_e[e_rows]]).detach().numpy()             # (Nu + Ne, dim_z)
    inst = torch.cat([feats.instruction_id[u_rows], feats.instruction_id[e_rows]]).numpy()
    modality = np.array(["u"] * len(u_rows) + ["e"] * len(e_rows))
    return {"z": Z, "instruction_id": inst, "modality": modality,
            "instructions": feats.instructions}


def evaluate_tsne(checkpoint, data, au=None, ee=None, split: str = "val", tasks=None,
                  perplexity: float = 30.0, max_points: int = 400, seed: int = 0,
                  n_iter: int = 1000) -> dict:
    from mn_models.eval.tsne import tsne
    m = load_models(checkpoint, au, ee)
    d = load_pairs_data(m, data, split, tasks)
    feats = paired_features(m.recognizer, m.policy, d, m.tokenizer)
    pts = tsne_points(m.alignment, feats, max_points, seed)
    if len(pts["z"]) < 4:
        raise EvalError(f"only {len(pts['z'])} held-out points: too few for t-SNE (use "
                        "--split all or more data)")
    Y, kl = tsne(pts["z"], perplexity=perplexity, seed=seed, n_iter=n_iter, return_kl=True)
    return {**pts, "y": Y, "kl": kl, "checkpoint": m.label, "split": split,
            "recall_at_1": alignment_scores(m.alignment, feats, m.strategy)["recall_at_1"]}


def markdown(result: dict) -> str:
    from mn_models.eval.report import markdown_table
    lines = [f"# Alignment probe: mean bidirectional Recall@1 (%)\n",
             f"checkpoint {result.get('checkpoint', result.get('run'))}, "
             f"{result.get('split')} split\n"]
    if "series" in result:
        lines.append(markdown_table(["step", "Recall@1", "chance"],
                                    [[s["step"], f"{100 * s['recall_at_1']:.1f}",
                                      f"{100 * s['chance']:.1f}"] for s in result["series"]]))
        return "\n".join(lines)
    rows = []
    if result.get("shuffled"):
        rows.append(["aligned pairs", f"{100 * result['aligned_recall_at_1']:.1f}"])
        rows.append([f"shuffled pairs ({result['shuffle_repeats']} permutations)",
                     f"{100 * result['recall_at_1']:.1f}"])
    else:
        rows.append(["aligned pairs (runtime e: the policy's own decoding)",
                     f"{100 * result['recall_at_1']:.1f}"])
        rows.append(["u -> e / e -> u", f"{100 * result['recall_u2e']:.1f} / "
                                         f"{100 * result['recall_e2u']:.1f}"])
    tf = result.get("teacher_forced")
    if tf:
        key = "aligned_recall_at_1" if result.get("shuffled") else "recall_at_1"
        rows.append(["aligned pairs, teacher-forced e (ground-truth action in)",
                     f"{100 * tf[key]:.1f}"])
    rows.append(["chance", f"{100 * result['chance']:.1f}"])
    rows.append(["samples / strategy", f"{result['samples']} / {result['strategy']}"])
    lines.append(markdown_table(["", "Recall@1"], rows))
    if "success_split" in result:
        ss = result["success_split"]
        fmt = (lambda v: "-" if v is None else f"{100 * v:.1f}")
        lines.append(f"\n## Success vs failure ({ss['samples_per_subset']} samples each; "
                     f"labels from {ss.get('source', 'rollout')})\n")
        lines.append(markdown_table(
            ["subset", "episodes", "Recall@1", "chance"],
            [[k, ss["episodes"][k], fmt(ss[k]["recall_at_1"]), fmt(ss[k]["chance"])]
             for k in ("success", "failure")]))
        if ss.get("note"):
            lines.append(f"\n{ss['note']}\n")
    return "\n".join(lines)
