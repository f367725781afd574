"""The offline trainer: `mn train --config config/train/<name>.yaml [key=value ...] --out RUN`.

Modes: au (recognizer: L_AU), ee (policy: L_EE), mn (L_AU + lambda_EE L_EE + lambda_align
L_align, everything trained), probe (recognizer and policy frozen from checkpoints; only the
alignment layers T_u, T_e are trained). Under torchrun it runs DDP on gloo; negatives of the
contrastive losses then come from the global batch.

The run folder holds config.yaml (resolved), checkpoints/step_<N>/ (see checkpoint.py),
metrics.jsonl and TensorBoard logs (tb/). `--resume` continues from the latest checkpoint and
reproduces the losses of an uninterrupted run exactly; rows logged after that checkpoint (the run
went on past it before it stopped) are dropped from metrics.jsonl and TensorBoard first, so every
step is logged once.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import yaml

from mn_models import checkpoint as ck
from mn_models.train_config import TrainConfig
from mn_sim.progress import Progress

log = logging.getLogger("mn.train")


class TrainingError(RuntimeError):
    pass


class MirrorModel(nn.Module):
    """The modules one mode trains, in one nn.Module so DDP wraps them once."""

    def __init__(self, cfg: TrainConfig, recognizer=None, policy=None, alignment=None):
        super().__init__()
        self.cfg = cfg
        self.recognizer, self.policy, self.alignment = recognizer, policy, alignment

    def forward(self, au: dict | None, ee: dict | None, num_frames: int):
        cfg, logs = self.cfg, {}
        loss = torch.zeros(())
        u = e = None
        if au is not None and self.recognizer is not None:
            frozen = cfg.mode == "probe"
            with torch.set_grad_enabled(not frozen and torch.is_grad_enabled()):
                video = self.recognizer.preprocess(au["video"])
                u = self.recognizer.embed_video(video)
                if not frozen:
                    text = self.recognizer.embed_text(au["text"])
                    l_au, l = self.recognizer.loss(u, text, au["instruction_id"])
                    loss = loss + l_au
                    logs.update(l)
        if ee is not None and self.policy is not None:
            frozen = cfg.mode == "probe"
            with torch.set_grad_enabled(not frozen and torch.is_grad_enabled()):
                l_ee, l, out = self.policy(ee)
            e = out["e"]
            if not frozen:
                loss = loss + (cfg.lambda_ee if cfg.mode == "mn" else 1.0) * l_ee
                logs.update(l)
                logs["policy/loss"] = float(l_ee.detach())
        if self.alignment is not None and u is not None and e is not None:
            from mn_models.alignment import pair_ids
            ids = pair_ids(cfg.alignment.strategy, episode_ids=ee["episode_id"],
                           instruction_ids=ee["instruction_id"], task_ids=ee["task_id"])
            l_al, l = self.alignment(u.detach() if cfg.mode == "probe" else u,
                                     e.detach() if cfg.mode == "probe" else e, ids)
            loss = loss + (cfg.lambda_align if cfg.mode == "mn" else 1.0) * l_al
            logs.update(l)
        logs["loss"] = float(loss.detach())
        return loss, logs


def _setup_distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 1/100 of the base rate."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: str | Path, resume: bool = False):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.rank, self.world = _setup_distributed()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        _seed_everything(cfg.seed * 1000 + self.rank)
        self.resume = resume
        self.start = self._open_start_checkpoints()
        self._build_data()
        self._build_models()
        self._build_optimizer()
        self.step = 0
        self.elapsed_s = 0.0          # training wall time up to self.step (kept over resumes)
        self.sample_rng = np.random.default_rng([cfg.seed, self.rank])
        self.clip_rng = np.random.default_rng([cfg.seed, self.rank, 1])
        if resume:
            self._resume()
        self.tb = None
        if self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if resume:
                truncate_metrics(self.run_dir / "metrics.jsonl", self.step)
            (self.run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    # ------------------------------------------------------------------ set-up
    def _build_data(self):
        from mn_models.data import MirrorData
        from mn_models.policy.config import PolicyConfig, make_policy_config
        from mn_models.recognizer.config import RecognizerConfig, make_recognizer_config
        cfg, start = self.cfg, self.start
        # a model that starts from a checkpoint has that checkpoint's config (clip size, frames,
        # cameras, embedding sizes), not the preset's
        self.rcfg = (RecognizerConfig.from_dict(
            start["recognizer"].meta["model_configs"]["recognizer"]) if "recognizer" in start
            else make_recognizer_config(cfg.recognizer, **cfg.recognizer_overrides))
        self.pcfg = (PolicyConfig.from_dict(start["policy"].meta["model_configs"]["policy"])
                     if "policy" in start else make_policy_config(cfg.policy,
                                                                  **cfg.policy_overrides))
        need_clips = cfg.mode in ("au", "mn", "probe")
        need_samples = cfg.mode in ("ee", "mn", "probe")
        # the policy's views cannot change when it neither augments nor zooms: train on
        # pre-rendered views from the dataset's cache instead of rendering every step
        p = self.pcfg
        views = (p if cfg.mode in ("ee", "mn") and not p.augment and not p.coarse_to_fine
                 and cfg.cache_views else None)
        kw = dict(tasks=cfg.tasks or None, val_fraction=cfg.val_fraction,
                  clip_size=self.rcfg.image_size, cameras=tuple(self.pcfg.cameras),
                  need_samples=need_samples, need_clips=need_clips, policy_views=views)
        # training reads only the train split; `mn eval --split val` reads the held-out one
        self.train_data = MirrorData(cfg.data, split="train",
                                     episodes_per_task=cfg.train_episodes_per_task, **kw)
        if len(self.train_data) == 0:
            raise TrainingError(f"the train split of {cfg.data} is empty")

    def _open_start_checkpoints(self) -> dict:
        """{"recognizer": au_checkpoint, "policy": ee_checkpoint}: the checkpoints this run
        starts from (frozen in a probe, initialisations in au/ee/mn), each opened once. They
        must have trained on this run's split: a probe (or an mn run) on a recognizer or policy
        that saw this run's held-out episodes would measure on its training data."""
        from mn_models.data import split_identity
        cfg, want, out = self.cfg, split_identity(self.cfg.val_fraction), {}
        trains = {"au": ("recognizer",), "ee": ("policy",)}.get(cfg.mode,
                                                                ("recognizer", "policy"))
        for key, module in (("au_checkpoint", "recognizer"), ("ee_checkpoint", "policy")):
            path = getattr(cfg, key)
            if not path:
                continue
            if module not in trains:
                raise TrainingError(f"{key}={path}: mode {cfg.mode} trains no {module}, so "
                                    f"nothing would start from it; remove {key}")
            if getattr(cfg, f"{module}_overrides"):
                raise TrainingError(f"{module}_overrides {getattr(cfg, f'{module}_overrides')} "
                                    f"would do nothing: the {module} starts from {key} {path} "
                                    f"and keeps its config; remove them")
            c = ck.open_checkpoint(path, need=(module,))
            got = c.meta.get("split") or {}
            if {k: got.get(k) for k in want} != want:
                recorded = {k: got.get(k) for k in want} if got else "none recorded"
                raise TrainingError(
                    f"{key} {path} was trained on another held-out split ({recorded}; this "
                    f"run: {want}): retrain it with val_fraction={want['val_fraction']}")
            out[module] = c
        return out

    def _build_models(self):
        from mn_models.alignment import MirrorAlignment
        from mn_models.policy.arp import ARPPolicy
        from mn_models.recognizer.model import Recognizer
        cfg = self.cfg
        start, ali = self.start, None
        rec = ck.build_recognizer(start["recognizer"]) if "recognizer" in start else None
        pol = ck.build_policy(start["policy"]) if "policy" in start else None
        if cfg.mode == "probe":
            for m in (rec, pol):
                m.eval()
                m.requires_grad_(False)
        else:
            if cfg.mode in ("au", "mn") and rec is None:
                rec = Recognizer(self.rcfg)
            if cfg.mode in ("ee", "mn") and pol is None:
                pol = ARPPolicy(self.pcfg)
        if cfg.mode in ("mn", "probe"):
            a = cfg.alignment
            ali = MirrorAlignment(self.rcfg.embed_dim, self.pcfg.policy_dim, a.dim_z, a.tau, a.head)
        if pol is not None and self.train_data.view_settings is not None:
            from mn_models.policy.arp import view_cache_settings
            if view_cache_settings(pol.cfg) != self.train_data.view_settings:
                raise TrainingError(f"the policy's view settings {view_cache_settings(pol.cfg)} "
                                    f"differ from the cached views' "
                                    f"{self.train_data.view_settings}")
        self.model = MirrorModel(cfg, rec, pol, ali)
        self.ddp = self.model
        if self.world > 1:
            self.ddp = nn.parallel.DistributedDataParallel(self.model, find_unused_parameters=True)

    def _param_groups(self):
        cfg, m, groups = self.cfg, self.model, []
        if cfg.mode != "probe":
            if m.recognizer is not None:
                text = [p for n, p in m.recognizer.named_parameters() if n.startswith("text_")]
                text_ids = {id(p) for p in text}
                video = [p for p in m.recognizer.parameters() if id(p) not in text_ids]
                groups += [{"name": "video", "params": video, "lr": cfg.lr_video},
                           {"name": "text", "params": text, "lr": cfg.lr_video * cfg.lr_text_fraction}]
            if m.policy is not None:
                groups.append({"name": "policy", "params": list(m.policy.parameters()),
                               "lr": cfg.lr_policy})
        if m.alignment is not None:
            groups.append({"name": "align", "params": list(m.alignment.parameters()),
                           "lr": cfg.lr_align})
        for g in groups:
            g["base_lr"] = g["lr"]
        return [g for g in groups if g["params"]]

    def _build_optimizer(self):
        # fused: one kernel over all parameters (6x faster on a CPU than the per-tensor loop)
        self.opt = torch.optim.AdamW(self._param_groups(), weight_decay=self.cfg.weight_decay,
                                     fused=True)

    # ------------------------------------------------------------------ batches
    def _batch(self, data, rng, clip_rng, batch_size):
        cfg, tok = self.cfg, self._tokenizer()
        nf = self.rcfg.num_frames
        if cfg.mode == "au":
            rows = rng.integers(0, len(data), size=batch_size)
            return data.au_batch(rows, nf, clip_rng), None
        rows = rng.integers(0, len(data.index), size=batch_size)
        if cfg.mode == "ee":
            return None, data.ee_batch(rows, tok)
        return data.mn_batch(rows, nf, tok, clip_rng)

    def _tokenizer(self):
        if not hasattr(self, "_tok"):
            from mn_models.recognizer.tokenizer import get_tokenizer
            self._tok = get_tokenizer(self.rcfg.context_length)
        return self._tok

    # ------------------------------------------------------------------ state
    def model_configs(self) -> dict:
        out = {}
        if self.model.recognizer is not None:
            out["recognizer"] = self.model.recognizer.config.to_dict()
        if self.model.policy is not None:
            out["policy"] = self.model.policy.cfg.to_dict()
        if self.model.alignment is not None:
            out["alignment"] = self.model.alignment.config()
        return out

    def _training_state(self) -> dict:
        tensors, js = {}, {"step": self.step, "param_groups": [], "state_keys": {}}
        sd = self.opt.state_dict()
        for g in sd["param_groups"]:
            js["param_groups"].append({k: v for k, v in g.items()})
        for pid, st in sd["state"].items():
            keys = []
            for k, v in st.items():
                if torch.is_tensor(v):
                    tensors[f"opt.{pid}.{k}"] = v
                    keys.append(k)
            js["state_keys"][str(pid)] = keys
        tensors["rng.torch"] = torch.get_rng_state()
        js["rng.numpy_sample"] = self.sample_rng.bit_generator.state
        js["rng.numpy_clip"] = self.clip_rng.bit_generator.state
        js["rng.numpy_global"] = [np.random.get_state()[0], np.random.get_state()[1].tolist(),
                                  *np.random.get_state()[2:]]
        js["rng.python"] = [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]]
        js["elapsed_s"] = self.elapsed_s
        return {"tensors": tensors, "json": js}

    def save(self) -> Path:
        folder = ck.checkpoints_dir(self.run_dir) / f"step_{self.step:07d}"
        vocab = {"instructions": self.train_data.instructions, "tasks": self.train_data.tasks,
                 "split": {**self.train_data.split_identity,
                           "held_out": self.train_data.held_out}}
        modules = {n: getattr(self.model, n) for n in ("recognizer", "policy", "alignment")
                   if getattr(self.model, n) is not None}
        ck.save_checkpoint(folder, kind=self.cfg.mode, step=self.step, config=self.cfg.to_dict(),
                           modules=modules, model_configs=self.model_configs(), vocab=vocab,
                           training_state=self._training_state())
        for old in ck.list_checkpoints(self.run_dir)[:-max(1, self.cfg.keep_checkpoints)]:
            shutil.rmtree(old, ignore_errors=True)
        return folder

    def _resume(self):
        from safetensors.torch import load_file
        latest = ck.latest_checkpoint(self.run_dir)
        if latest is None:
            log.info("no checkpoint in %s: starting from scratch", self.run_dir)
            return
        c = ck.open_checkpoint(latest)
        if c.kind != self.cfg.mode:
            raise ck.CheckpointError(f"cannot resume a {self.cfg.mode} run from {latest} "
                                     f"(a {c.kind} checkpoint)")
        for n in ("recognizer", "policy", "alignment"):
            m = getattr(self.model, n)
            if m is not None:
                m.load_state_dict(c.weights(n), strict=True)
        tensors = load_file(str(latest / ck.STATE_T))
        js = json.loads((latest / ck.STATE_J).read_text())
        state = {int(pid): {k: tensors[f"opt.{pid}.{k}"] for k in keys}
                 for pid, keys in js["state_keys"].items()}
        self.opt.load_state_dict({"state": state, "param_groups": js["param_groups"]})
        torch.set_rng_state(tensors["rng.torch"])
        self.sample_rng.bit_generator.state = js["rng.numpy_sample"]
        self.clip_rng.bit_generator.state = js["rng.numpy_clip"]
        g = js["rng.numpy_global"]
        np.random.set_state((g[0], np.array(g[1], dtype=np.uint32), *g[2:]))
        p = js["rng.python"]
        random.setstate((p[0], tuple(p[1]), p[2]))
        self.step = js["step"]
        self.elapsed_s = float(js.get("elapsed_s", 0.0))
        log.info("resumed from %s at step %d", latest, self.step)

    # ------------------------------------------------------------------ loop
    def train(self, stop_after: int | None = None) -> dict:
        """Run to cfg.steps (or stop once `stop_after` steps are done, as if interrupted)."""
        cfg = self.cfg
        from torch.utils.tensorboard import SummaryWriter
        if self.rank == 0:
            # a resumed run drops the events logged after its checkpoint (steps > self.step)
            self.tb = SummaryWriter(str(self.run_dir / "tb"),
                                    purge_step=self.step + 1 if self.resume else None)
        metrics_path = self.run_dir / "metrics.jsonl"
        self.model.train()
        if cfg.mode == "probe":
            self.model.recognizer.eval()
            self.model.policy.eval()
        last_good = ck.latest_checkpoint(self.run_dir)
        progress = Progress(f"mn train {cfg.mode}", cfg.steps, "steps", start=self.step,
                            bar=False if self.rank else None)
        logs: dict = {}
        end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
        t_step = time.perf_counter()
        while self.step < end:
            au, ee = self._batch(self.train_data, self.sample_rng, self.clip_rng, cfg.batch_size)
            f = lr_factor(self.step, cfg)
            for g in self.opt.param_groups:
                g["lr"] = g["base_lr"] * f
            loss, logs = self.ddp(au, ee, self.rcfg.num_frames)
            if not torch.isfinite(loss):
                raise TrainingError(f"loss is {float(loss.detach())} at step {self.step}; last good "
                                    f"checkpoint: {last_good or 'none (no checkpoint yet)'}")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                params = [p for g in self.opt.param_groups for p in g["params"]]
                logs["grad_norm"] = float(nn.utils.clip_grad_norm_(params, cfg.grad_clip))
            self.opt.step()
            self.step += 1
            now = time.perf_counter()
            self.elapsed_s += now - t_step
            t_step = now
            logs["lr_factor"] = f
            logs["elapsed_s"] = round(self.elapsed_s, 3)
            if self.rank == 0:
                for k, v in logs.items():
                    self.tb.add_scalar(k, v, self.step)
                with open(metrics_path, "a") as fh:
                    fh.write(json.dumps({"step": self.step, **logs}) + "\n")
                progress.update(extra=f"loss {logs['loss']:.4f}", quiet=not (
                    self.step % cfg.log_every == 0 or self.step == cfg.steps), force=True)
            if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps:
                if self.rank == 0:
                    last_good = self.save()
                if self.world > 1:
                    dist.barrier()
        if self.rank == 0 and self.tb is not None:
            self.tb.close()
        return logs


def truncate_metrics(path: Path, step: int) -> int:
    """Keep the rows of metrics.jsonl up to `step` (the checkpoint a run resumes from) and drop
    the later ones, which the resumed run logs again; a torn last line (killed mid-write) goes
    too. Rewritten atomically. Returns the number of rows dropped."""
    path = Path(path)
    if not path.is_file():
        return 0
    keep, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            row_step = json.loads(line)["step"]
        except (json.JSONDecodeError, KeyError, TypeError):
            dropped += bool(line.strip())
            continue
        if row_step <= step:
            keep.append(line)
        else:
            dropped += 1
    if dropped:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(x + "\n" for x in keep))
        os.replace(tmp, path)
        log.info("resuming at step %d: dropped %d rows of %s logged after it", step, dropped,
                 path)
    return dropped


def train(cfg: TrainConfig, run_dir, resume: bool = False) -> dict:
    t = Trainer(cfg, run_dir, resume=resume)
    try:
        return t.train()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
