"""The trainer on real (tiny) models and a real collected dataset."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mn_models import checkpoint as ck
from mn_models.train_config import load_train_config
from mn_models.trainer import Trainer, TrainingError

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / "config" / "train"


def cfg_for(mode, data, *extra):
    return load_train_config(str(CFG / f"tiny_{mode}.yaml"),
                             [f"data={data}", "log_every=1000", "threads=1", "val_fraction=0.25",
                              *extra])


def losses(run):
    return [json.loads(line)["loss"] for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_resume_reproduces_an_uninterrupted_run_exactly(tiny_dataset, tmp_path):
    cfg = cfg_for("mn", tiny_dataset, "steps=6", "ckpt_every=3", "batch_size=2")
    Trainer(cfg, tmp_path / "full").train()
    Trainer(cfg, tmp_path / "cut").train(stop_after=3)          # "killed" after step 3
    assert [c.name for c in ck.list_checkpoints(tmp_path / "cut")] == ["step_0000003"]
    Trainer(cfg, tmp_path / "cut", resume=True).train()
    full, cut = losses(tmp_path / "full"), losses(tmp_path / "cut")
    assert len(full) == len(cut) == 6
    assert full == cut, "resumed run must give the same losses as the uninterrupted one"
    a = ck.open_checkpoint(tmp_path / "full").weights("policy")
    b = ck.open_checkpoint(tmp_path / "cut").weights("policy")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_folder_rebuilds_models_and_is_checked(tiny_dataset, tmp_path):
    cfg = cfg_for("au", tiny_dataset, "steps=2", "ckpt_every=2")
    t = Trainer(cfg, tmp_path / "au")
    t.train()
    c = ck.open_checkpoint(tmp_path / "au", need=("recognizer",))
    assert c.kind == "au" and (c.path / "config.yaml").is_file()
    assert c.meta["instructions"] == t.train_data.instructions
    assert c.meta["tokenizer"]["context_length"] == 32
    # the folder alone rebuilds the trained recognizer: the same scores as the one in memory
    rec = ck.build_recognizer(c).eval()
    video = torch.randint(0, 256, (2, 8, 32, 32, 3), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, scores = rec.recognize(video, c.meta["instructions"])
        _, trained = t.model.recognizer.eval().recognize(video, c.meta["instructions"])
    torch.testing.assert_close(scores, trained, rtol=0, atol=0)
    with pytest.raises(ck.CheckpointError, match="'au' checkpoint without \\['policy'\\].*ee or mn"):
        ck.open_checkpoint(tmp_path / "au", need=("policy",))
    # a truncated weights file is named, not a crash deep in safetensors
    w = c.path / ck.WEIGHTS
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(ck.CheckpointError, match="truncated or corrupt"):
        ck.build_recognizer(ck.open_checkpoint(c.path))
    with pytest.raises(ck.CheckpointError, match="does not exist"):
        ck.open_checkpoint(tmp_path / "nothing")


def test_probe_refuses_a_checkpoint_of_the_wrong_kind(tiny_dataset, tmp_path):
    Trainer(cfg_for("au", tiny_dataset, "steps=1", "ckpt_every=1"), tmp_path / "au").train()
    cfg = cfg_for("probe", tiny_dataset, f"au_checkpoint={tmp_path / 'au'}",
                  f"ee_checkpoint={tmp_path / 'au'}", "steps=1")
    with pytest.raises(ck.CheckpointError, match="needs a checkpoint of kind ee or mn"):
        Trainer(cfg, tmp_path / "probe")


def test_unknown_config_key_is_named(tiny_dataset):
    with pytest.raises(KeyError, match="unknown config key 'stpes'.*did you mean 'steps'"):
        cfg_for("ee", tiny_dataset, "stpes=3")
    with pytest.raises(ValueError, match="config key 'mode': got 'rl'.*one of 'au', 'ee', 'mn', 'probe'"):
        cfg_for("ee", tiny_dataset, "mode=rl")


def test_nan_loss_stops_with_step_and_last_good_checkpoint(tiny_dataset, tmp_path, monkeypatch):
    cfg = cfg_for("ee", tiny_dataset, "steps=5", "ckpt_every=2", "batch_size=2")
    t = Trainer(cfg, tmp_path / "nan")
    real = t.ddp.forward

    def poisoned(au, ee, nf):
        loss, logs = real(au, ee, nf)
        return (loss * float("nan") if t.step == 3 else loss), logs

    monkeypatch.setattr(t.ddp, "forward", poisoned)
    with pytest.raises(TrainingError, match=r"loss is nan at step 3; last good checkpoint: .*step_0000002"):
        t.train()


def test_mn_mode_trains_all_three_with_their_learning_rates(tiny_dataset, tmp_path):
    cfg = cfg_for("mn", tiny_dataset, "steps=2", "ckpt_every=2", "batch_size=2",
                  "lr_video=1e-5", "lr_text_fraction=0.05", "lr_align=1e-4", "lr_policy=3e-4",
                  "warmup_steps=0")
    t = Trainer(cfg, tmp_path / "mn")
    lrs = {g["name"]: g["base_lr"] for g in t.opt.param_groups}
    assert lrs == pytest.approx({"video": 1e-5, "text": 5e-7, "policy": 3e-4, "align": 1e-4})
    before = {n: p.detach().clone() for n, p in t.model.named_parameters()}
    logs = t.train()
    assert {"recognizer/loss", "policy/loss", "align/loss", "align/mi_lb_u2e"} <= set(logs)
    changed = {n.split(".")[0] for n, p in t.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"recognizer", "policy", "alignment"}


@pytest.mark.slow
def test_torchrun_two_processes(tiny_dataset, tmp_path):
    """DDP on gloo with 2 processes; alignment negatives come from the global batch."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    out = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(29500 + os.getpid() % 1000), "-m", "mn_ros.cli", "train",
         "--config", str(CFG / "tiny_mn.yaml"), f"data={tiny_dataset}", "steps=3",
         "batch_size=2", "ckpt_every=3", "log_every=1", "threads=1", "--out", str(tmp_path / "ddp")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(x) for x in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3, "only rank 0 logs"
    assert rows[-1]["align/batch"] == 4.0, "the global batch is 2 processes x 2"
    assert ck.open_checkpoint(tmp_path / "ddp", need=("policy",)).meta["step"] == 3


def _state(module):
    """Every tensor of a module, parameters and buffers, as CPU copies."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_probe_leaves_recognizer_and_policy_bit_identical(tiny_dataset, tmp_path):
    Trainer(cfg_for("au", tiny_dataset, "steps=1", "ckpt_every=1", "batch_size=2"),
            tmp_path / "au").train()
    Trainer(cfg_for("ee", tiny_dataset, "steps=1", "ckpt_every=1", "batch_size=2"),
            tmp_path / "ee").train()
    loaded = {"recognizer": ck.open_checkpoint(tmp_path / "au").weights("recognizer"),
              "policy": ck.open_checkpoint(tmp_path / "ee").weights("policy")}
    cfg = cfg_for("probe", tiny_dataset, f"au_checkpoint={tmp_path / 'au'}",
                  f"ee_checkpoint={tmp_path / 'ee'}", "steps=3", "ckpt_every=3",
                  "batch_size=4", "warmup_steps=0")
    t = Trainer(cfg, tmp_path / "probe")
    align_before = _state(t.model.alignment)
    t.train()
    saved = ck.open_checkpoint(tmp_path / "probe")
    assert saved.meta["step"] == 3
    for name, want in loaded.items():
        live = _state(getattr(t.model, name))
        assert set(live) == set(want), name
        # parameters and buffers (normalisation statistics included), in memory and as saved
        changed = [k for k in want if not torch.equal(live[k], want[k])]
        assert not changed, f"probe training changed {name} tensors {changed[:5]}"
        stored = saved.weights(name)
        assert [k for k in want if not torch.equal(stored[k], want[k])] == [], name
    after = _state(t.model.alignment)
    assert any(not torch.equal(after[k], align_before[k]) for k in after), \
        "the alignment layers must train"
    assert all(torch.equal(saved.weights("alignment")[k], after[k]) for k in after)


def test_start_checkpoints_are_read_once_and_only_where_the_mode_uses_them(tiny_dataset,
                                                                           tmp_path, monkeypatch):
    for mode in ("au", "ee"):
        Trainer(cfg_for(mode, tiny_dataset, "steps=1", "ckpt_every=1", "batch_size=2"),
                tmp_path / mode).train()
    opened = []
    real = ck.open_checkpoint

    def counting(path, *args, **kwargs):
        opened.append(Path(path).name)
        return real(path, *args, **kwargs)
    monkeypatch.setattr(ck, "open_checkpoint", counting)
    Trainer(cfg_for("probe", tiny_dataset, f"au_checkpoint={tmp_path / 'au'}",
                    f"ee_checkpoint={tmp_path / 'ee'}", "steps=1"), tmp_path / "probe")
    assert sorted(opened) == ["au", "ee"]          # each meta.json read once
    # a checkpoint the mode has no model for is refused, not silently ignored
    with pytest.raises(TrainingError, match="au_checkpoint=.*mode ee trains no recognizer"):
        Trainer(cfg_for("ee", tiny_dataset, f"au_checkpoint={tmp_path / 'au'}", "steps=1"),
                tmp_path / "ee2")
    assert not (tmp_path / "ee2").exists()


def test_a_model_started_from_a_checkpoint_keeps_the_checkpoints_config(tiny_dataset, tmp_path):
    """An mn run on a recognizer trained at another size: clips at that recognizer's image
    size and the alignment on its embedding size (the preset's sizes fed it upsampled clips
    and crashed the alignment); overrides that could not apply are refused."""
    Trainer(cfg_for("au", tiny_dataset, "steps=1", "ckpt_every=1", "batch_size=2",
                    "recognizer_overrides.embed_dim=48", "recognizer_overrides.image_size=64"),
            tmp_path / "au").train()
    t = Trainer(cfg_for("mn", tiny_dataset, f"au_checkpoint={tmp_path / 'au'}", "steps=1",
                        "ckpt_every=1", "batch_size=2"), tmp_path / "mn")
    assert t.train_data.records[0].frames.shape[1:] == (64, 64, 3)
    assert (t.rcfg.embed_dim, t.model.alignment.T_u.in_features) == (48, 48)
    assert "align/loss" in t.train()
    with pytest.raises(TrainingError, match=r"recognizer_overrides \{'num_frames': 4\} would do "
                                            r"nothing: the recognizer starts from au_checkpoint"):
        Trainer(cfg_for("mn", tiny_dataset, f"au_checkpoint={tmp_path / 'au'}", "steps=1",
                        "recognizer_overrides.num_frames=4"), tmp_path / "mn2")
    assert not (tmp_path / "mn2").exists()


def _steps(run):
    return [json.loads(line)["step"]
            for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def test_resume_from_an_earlier_checkpoint_logs_each_step_once(tiny_dataset, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    cfg = cfg_for("ee", tiny_dataset, "steps=5", "ckpt_every=2", "batch_size=2")
    run = tmp_path / "run"
    Trainer(cfg, run).train(stop_after=3)       # logged steps 1..3, last checkpoint at step 2
    assert _steps(run) == [1, 2, 3]
    assert [c.name for c in ck.list_checkpoints(run)] == ["step_0000002"]
    first = (run / "metrics.jsonl").read_text().splitlines()
    with open(run / "metrics.jsonl", "a") as fh:  # killed in the middle of writing step 4
        fh.write('{"step": 4, "loss": 0.')
    Trainer(cfg, run, resume=True).train()
    rows = (run / "metrics.jsonl").read_text().splitlines()
    assert _steps(run) == [1, 2, 3, 4, 5]
    assert rows[:2] == first[:2], "rows up to the checkpoint are kept as they were"
    assert json.loads(rows[2])["loss"] == json.loads(first[2])["loss"]  # step 3, logged again
    ea = EventAccumulator(str(run / "tb"))
    ea.Reload()
    assert [e.step for e in ea.Scalars("loss")] == [1, 2, 3, 4, 5]


def test_the_split_is_the_datasets_recorded_and_checked(tiny_dataset, tmp_path):
    """The held-out split is the same for every training seed, recorded in each checkpoint;
    a probe refuses frozen models of another split and evaluations refuse mixed or
    unrecorded splits (issue 12)."""
    from mn_models.data import SPLIT_RULE, MirrorData
    from mn_models.eval.common import EvalError, checked_split
    for seed in (0, 1):
        Trainer(cfg_for("au", tiny_dataset, "steps=1", "ckpt_every=1", "batch_size=2",
                        f"seed={seed}"), tmp_path / f"au{seed}").train()
    a0, a1 = (ck.open_checkpoint(tmp_path / f"au{s}") for s in (0, 1))
    val = MirrorData(tiny_dataset, split="val", val_fraction=0.25, need_samples=False,
                     need_clips=False)
    held = sorted(f"{r.task}/{Path(r.path).name}" for r in val.records)
    assert held and a0.meta["split"] == a1.meta["split"] == {
        "rule": SPLIT_RULE, "val_fraction": 0.25, "held_out": held}
    assert checked_split([a0, a1], "val") == 0.25
    # another val_fraction: a probe on it refuses these recognizers, evaluations refuse the mix
    Trainer(cfg_for("ee", tiny_dataset, "steps=1", "ckpt_every=1", "batch_size=2",
                    "val_fraction=0.5"), tmp_path / "ee").train()
    e = ck.open_checkpoint(tmp_path / "ee")
    with pytest.raises(EvalError, match="trained on different splits"):
        checked_split([a0, e], "val")
    assert checked_split([a0, e], "all") in (0.25, 0.5)      # --split all needs no check
    with pytest.raises(TrainingError, match="ee_checkpoint .* another held-out split"):
        Trainer(cfg_for("probe", tiny_dataset, f"au_checkpoint={tmp_path / 'au0'}",
                        f"ee_checkpoint={tmp_path / 'ee'}", "steps=1"), tmp_path / "probe")
    # a checkpoint from before the split was recorded (its held-out episodes are unknown)
    meta = json.loads((a0.path / "meta.json").read_text())
    del meta["split"]
    (a0.path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(EvalError, match="records no held-out split"):
        checked_split([ck.open_checkpoint(tmp_path / "au0")], "val")


def test_train_episodes_per_task_keeps_the_first_of_each_task_and_the_held_out_split(
        tiny_dataset, tmp_path):
    """A curve over data size: train_episodes_per_task=K trains on the first K training
    episodes of every task, in collection order; the held-out split stays the full one."""
    full = Trainer(cfg_for("au", tiny_dataset, "steps=1"), tmp_path / "full").train_data
    cut = Trainer(cfg_for("au", tiny_dataset, "steps=1", "train_episodes_per_task=1"),
                  tmp_path / "cut").train_data
    first = {}
    for r in full.records:
        first.setdefault(r.task, r.path)
    assert len(first) == 2 and len(full) > 2
    assert sorted((r.task, r.path) for r in cut.records) == sorted(first.items())
    assert cut.held_out == full.held_out and cut.split_identity == full.split_identity
    with pytest.raises(ValueError, match="train_episodes_per_task"):
        cfg_for("au", tiny_dataset, "train_episodes_per_task=-1")
