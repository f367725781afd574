"""Configs that refuse nonsense: every training config key has a type and a range, and the
`mn eval` / `mn collect` flags too. A bad value is an error naming the key (flag), the value and
what is allowed, raised before anything is written to the run folder."""
import argparse
import dataclasses
import random
import string
from pathlib import Path

import pytest

from mn_models.config_keys import ConfigError
from mn_models.train_config import (AlignmentConfig, TrainConfig, describe_keys,
                                    load_train_config)

ROOT = Path(__file__).resolve().parents[2]
TINY_MN = str(ROOT / "config" / "train" / "tiny_mn.yaml")
TASKS = ("open_drawer", "turn_tap")


def refused(*overrides, path=TINY_MN) -> str:
    with pytest.raises((ConfigError, KeyError)) as e:
        load_train_config(path, list(overrides))
    return str(e.value.args[0])


# ----------------------------------------------------------------------- the issue's examples
@pytest.mark.parametrize("override, key, shown, allowed", [
    ("steps=abc", "steps", "'abc'", "an integer >= 1"),
    ("lr_video=-5", "lr_video", "-5.0", ">= 0 and <= 1"),
    ("alignment.tau=-1", "alignment.tau", "-1.0", "> 0"),
    ("batch_size=2.5", "batch_size", "2.5", "an integer >= 1"),
    ("tasks=open_drawr", "tasks", "open_drawr", "open_drawer"),
    ("steps=true", "steps", "True", "an integer"),
    ("cache_views=1", "cache_views", "1", "true or false"),
    ("val_fraction=1", "val_fraction", "1.0", "< 1"),
    ("val_fraction=nan", "val_fraction", "nan", "finite"),
    ("mode=train", "mode", "'train'", "'au', 'ee', 'mn', 'probe'"),
    ("alignment.head=conv", "alignment.head", "'conv'", "'linear', 'mlp'"),
    ("policy=huge", "policy", "'huge'", "'arp_rlbench', 'small', 'tiny'"),
    ("seed=-1", "seed", "-1", ">= 0"),
    ("log_every=0", "log_every", "0", ">= 1"),
    ("recognizer_overrides.image_size=2.5", "recognizer_overrides.image_size", "2.5",
     "an integer"),
])
def test_the_issues_examples_are_refused_naming_key_value_and_what_is_allowed(
        override, key, shown, allowed):
    msg = refused(override)
    assert f"'{key}'" in msg and shown in msg and allowed in msg, msg


def test_a_list_field_takes_one_name_commas_or_a_yaml_list(tmp_path):
    for text, want in [("open_drawer", ["open_drawer"]),
                       ("open_drawer,turn_tap", ["open_drawer", "turn_tap"]),
                       (" turn_tap , open_drawer ", ["turn_tap", "open_drawer"]),
                       ("[turn_tap, open_drawer]", ["turn_tap", "open_drawer"]),
                       ("open_drawer,open_drawer", ["open_drawer"]),
                       ("all", []), ("[]", []), ("", [])]:
        assert load_train_config(TINY_MN, [f"tasks={text}"]).tasks == want, text
    f = tmp_path / "c.yaml"
    f.write_text("mode: ee\ntasks: open_drawer\n")
    assert load_train_config(str(f)).tasks == ["open_drawer"]      # not a walk over characters
    assert "'tasks'" in refused("tasks=open_drawer,,turn_tap")
    assert "'tasks'" in refused("tasks=[1, 2]")


def test_whole_floats_are_ints_and_string_fields_keep_the_text():
    cfg = load_train_config(TINY_MN, ["steps=1e3", "batch_size=4.0", "data=2024",
                                      "au_checkpoint=1e-5", "lr_video=1e-5"])
    assert cfg.steps == 1000 and type(cfg.steps) is int
    assert cfg.batch_size == 4 and type(cfg.batch_size) is int
    assert cfg.data == "2024" and cfg.au_checkpoint == "1e-5"
    assert cfg.lr_video == 1e-5 and type(cfg.lr_video) is float


def test_range_ends_that_mean_something_are_accepted():
    cfg = load_train_config(TINY_MN, ["steps=1", "val_fraction=0", "lr_video=0", "warmup_steps=0",
                                      "threads=0", "grad_clip=0", f"seed={2 ** 31 - 1}",
                                      "keep_checkpoints=1", "lambda_align=0"])
    assert (cfg.steps, cfg.val_fraction, cfg.lr_video, cfg.seed) == (1, 0.0, 0.0, 2 ** 31 - 1)


def test_values_from_a_yaml_file_and_from_code_are_checked_too(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("mode: ee\nbatch_size: 2.5\n")
    assert "'batch_size'" in refused(path=str(f))
    with pytest.raises(ConfigError, match="'alignment.tau'"):
        TrainConfig(alignment=AlignmentConfig(tau=0.0))
    with pytest.raises(ConfigError, match="'steps'"):
        TrainConfig.from_dict({"steps": None})
    f.write_text("mode: [ee\n")
    assert "not valid YAML" in refused(path=str(f))


def test_removed_and_unknown_keys_are_named():
    assert "'eval_every' was removed" in refused("eval_every=5")
    msg = refused("stepz=3")
    assert "'stepz'" in msg and "did you mean 'steps'" in msg
    assert "'recognizer_overrides.imagesize'" in refused("recognizer_overrides.imagesize=64")
    assert "'steps'" in refused("steps.x=1")                   # not a section


def test_every_key_documents_what_it_accepts():
    keys = dict(describe_keys())
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"alignment"}
    assert fields | {f"alignment.{f.name}" for f in dataclasses.fields(AlignmentConfig)} == set(keys)
    assert keys["steps"] == "an integer >= 1" and keys["alignment.tau"] == "a finite number > 0"


def test_mn_train_refuses_before_writing_the_run_folder(tmp_path, capsys):
    from mn_ros import cli
    data = tmp_path / "no_data"          # if the config were accepted, training fails on this
    absent, empty = tmp_path / "absent", tmp_path / "empty"
    empty.mkdir()
    for run, bad in [(absent, "lr_video=-5"), (empty, "tasks=open_drawr"),
                     (absent, "batch_size=2.5"), (empty, "eval_every=5")]:
        rc = cli.main(["train", "--config", TINY_MN, f"data={data}", bad, "--out", str(run)])
        err = capsys.readouterr().err
        key = bad.split("=")[0]
        assert rc == 2 and f"'{key}'" in err, err
        assert "no complete episodes" not in err      # refused by the config, not by the data
        assert not absent.exists() and list(empty.iterdir()) == []


# ------------------------------------------------------------------------------------ fuzzing
def _word(rng: random.Random) -> str:
    w = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9)))
    # YAML 1.1 reads these words as booleans / null: not "a random word"
    return w if w not in {"yes", "no", "on", "off", "true", "false", "null", "all"} else "zzq"


def _bad_texts(key: str, kind: str, rules: dict, rng: random.Random) -> list[str]:
    """Bad override texts for a field of type ``kind`` with ``rules``."""
    junk = [_word(rng), "true", "false", "[1, 2]", "{a: 1}", "null"]
    lo, hi = rules.get("ge", rules.get("gt")), rules.get("le", rules.get("lt"))
    if kind == "int":
        out = junk + [f"{rng.randint(0, 99)}.{rng.randint(1, 9)}", "nan", "inf", "-inf"]
        if lo is not None:
            out.append(str(int(lo) - rng.randint(1, 10 ** 6)))
        if hi is not None:
            out.append(str(int(hi) + rng.randint(1, 10 ** 6)))
        return out
    if kind == "float":
        out = junk + ["nan", "inf", "-inf", ".inf"]
        if "ge" in rules:
            out.append(repr(rules["ge"] - rng.uniform(1e-6, 1e3)))
        if "gt" in rules:
            out += [repr(rules["gt"]), repr(rules["gt"] - rng.uniform(1e-6, 1e3))]
        if "le" in rules:
            out.append(repr(rules["le"] + rng.uniform(1e-6, 1e3)))
        if "lt" in rules:
            out += [repr(rules["lt"]), repr(rules["lt"] + rng.uniform(1e-6, 1e3))]
        return out
    if kind == "bool":
        return [_word(rng), "1", "0", str(rng.randint(2, 99)), "2.5", "[true]", "null"]
    if kind == "choice":
        return [_word(rng), _word(rng).upper(), "", " "]
    if kind == "nonempty":
        return ["", "   "]
    if kind == "tasks":
        return [_word(rng), f"open_drawer,{_word(rng)}", "open_drawer,,turn_tap", "[1, 2]",
                str(rng.randint(0, 9)), "{a: 1}", "[open_drawer, [turn_tap]]"]
    if kind == "mapping":
        return [_word(rng), str(rng.randint(0, 9)), "[1]", "true"]
    raise AssertionError(kind)


def _kind(tp, rules) -> str | None:
    if tp is int:
        return "int"
    if tp is float:
        return "float"
    if tp is bool:
        return "bool"
    if tp is str:
        return "choice" if "choices" in rules else "nonempty" if rules.get("nonempty") else None
    if tp is dict:
        return "mapping"
    return "tasks"


def _fuzz_cases(rng: random.Random) -> list[tuple[str, str]]:
    """(key, override) pairs that must all be refused."""
    import typing
    cases = []
    for cls, prefix in ((TrainConfig, ""), (AlignmentConfig, "alignment.")):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            rules = f.metadata.get("rules", {})
            kind = None if dataclasses.is_dataclass(hints[f.name]) else _kind(hints[f.name], rules)
            if kind is None:
                continue
            cases += [(prefix + f.name, f"{prefix}{f.name}={t}")
                      for t in _bad_texts(prefix + f.name, kind, rules, rng)]
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    for _ in range(30):                                     # misspelt / unknown keys
        n = rng.choice(names)
        k = n[:-1] + rng.choice("qxz") if rng.random() < 0.5 else _word(rng) + "_" + _word(rng)
        cases.append((k, f"{k}={rng.randint(0, 9)}"))
    model_fields = {"recognizer_overrides": [("image_size", "int"), ("num_frames", "int"),
                                             ("drop_path_rate", "float"), ("learn_temp", "bool")],
                    "policy_overrides": [("img_size", "int"), ("augment", "bool"),
                                         ("depth", "int")]}
    for section, fields in model_fields.items():
        for name, kind in fields:
            bad = rng.sample(_bad_texts(name, kind, {}, rng), 3)
            cases += [(f"{section}.{name}", f"{section}.{name}={t}") for t in bad]
        unknown = f"{section}.{_word(rng)}"
        cases.append((unknown, f"{unknown}=1"))
    rng.shuffle(cases)
    return cases


def test_fuzz_200_bad_values_are_all_refused_naming_their_key():
    rng = random.Random(11)
    cases = _fuzz_cases(rng)
    assert len(cases) >= 200, len(cases)
    accepted, unnamed = [], []
    for key, override in cases:
        try:
            load_train_config(TINY_MN, ["tasks=open_drawer", override])
        except (ConfigError, KeyError) as e:
            if key not in str(e.args[0]):
                unnamed.append((override, str(e.args[0])))
        else:
            accepted.append(override)
    assert not accepted, f"accepted bad values: {accepted}"
    assert not unnamed, f"errors that do not name the key: {unnamed}"


def test_fuzz_typed_values_from_code_are_refused_naming_their_key():
    """Values that do not come from text (a YAML file, TrainConfig(...) in code)."""
    bad_by_type = {int: [None, True, 2.5, float("nan"), "3", [1], {"a": 1}],
                   float: [None, False, float("inf"), float("nan"), "0.1", [0.1]],
                   bool: [None, 1, 0, "true", [True]], str: [None, 3, 1.5, True, ["a"]],
                   dict: [None, 3, "a: 1", ["a"], {1: 2}]}
    import typing
    hints = typing.get_type_hints(TrainConfig)
    n = 0
    for f in dataclasses.fields(TrainConfig):
        tp = hints[f.name]
        for v in bad_by_type.get(tp, [None, 3, "open_drawer,", [1], ["open_drawer", None]]
                                 if tp is not AlignmentConfig else [3, "x", [1]]):
            d = {"tasks": ["open_drawer"], f.name: v}
            with pytest.raises((ConfigError, KeyError), match=f"'{f.name}'"):
                TrainConfig.from_dict(d)
            n += 1
    assert n >= 100, n


# ---------------------------------------------------------------------- mn eval / mn collect
def _parser(name: str) -> argparse.ArgumentParser:
    import importlib
    p = argparse.ArgumentParser(prog=f"mn {name}", exit_on_error=True)
    importlib.import_module(f"mn_ros.commands.{name}").add_arguments(p)
    return p


EE = ["ee", "--checkpoint", "ck"]
COLLECT = ["--tasks", "all", "--episodes-per-task", "1", "--out", "o"]
FLAG_CASES = [
    ("eval", EE, "--episodes", ["0", "-3", "abc", "2.5", ""]),
    ("eval", EE, "--max-steps", ["0", "x"]),
    ("eval", EE, "--workers", ["-1", "two"]),
    ("eval", EE, "--seed", ["-1", "abc", str(2 ** 31)]),
    ("eval", EE, "--seeds", ["abc", "0,,1", "1,-2", "0.5", "1;2"]),
    ("eval", EE, "--image-size", ["0", "7", "100000"]),
    ("eval", EE, "--threads", ["-1", "1.5"]),
    ("eval", EE, "--tasks", ["open_drawr", "open_drawer,,turn_tap", "open_drawer,fly"]),
    ("eval", ["probe", "--data", "d"], "--max-steps", ["0"]),
    ("eval", ["probe", "--data", "d"], "--workers", ["-1"]),
    ("eval", ["tsne", "--checkpoint", "c", "--out", "o.png", "--data", "d"], "--perplexity",
     ["0", "-1", "nan", "inf", "x"]),
    ("eval", ["tsne", "--checkpoint", "c", "--out", "o.png", "--data", "d"], "--iterations",
     ["0", "249", "x"]),
    ("eval", ["tsne", "--checkpoint", "c", "--out", "o.png", "--data", "d"], "--max-points",
     ["1", "-5"]),
    ("eval", ["au", "--checkpoint", "c", "--data", "d"], "--threads", ["-2"]),
    ("collect", COLLECT, "--episodes-per-task", ["0", "-1", "x", "1.5"]),
    ("collect", COLLECT, "--workers", ["-1", "x"]),
    ("collect", COLLECT, "--seed", ["-1", "x"]),
    ("collect", COLLECT, "--variations", ["-1", "a", "0,,1", ""]),
    ("collect", COLLECT, "--frame-rate", ["0", "-20", "nan", "inf"]),
    ("collect", COLLECT, "--image-size", ["0", "7"]),
    ("collect", COLLECT, "--max-attempts", ["0"]),
    ("collect", COLLECT, "--log-every", ["-1", "-0.5", "nan"]),
]


@pytest.mark.parametrize("cmd, base, flag, values", FLAG_CASES,
                         ids=[f"{c[0]}{c[2]}" for c in FLAG_CASES])
def test_bad_flag_values_exit_2_naming_the_flag(cmd, base, flag, values, capsys):
    p = _parser(cmd)
    for v in values:
        with pytest.raises(SystemExit) as e:
            p.parse_args(base + [flag, v])
        err = capsys.readouterr().err
        assert e.value.code == 2 and f"argument {flag}:" in err, (flag, v, err)
        assert "expected" in err or "unknown task" in err, (flag, v, err)


def test_good_flag_values_parse_to_what_the_commands_use():
    a = _parser("eval").parse_args(EE + ["--seeds", "0, 1,2", "--tasks", "open_drawer,turn_tap",
                                         "--episodes", "3", "--workers", "0"])
    assert (a.seeds, a.tasks, a.episodes, a.workers) == ("0,1,2", "open_drawer,turn_tap", 3, 0)
    d = _parser("eval").parse_args(EE)
    assert (d.seeds, d.tasks, d.episodes, d.seed, d.threads) == ("", "", 25, 0, 0)
    c = _parser("collect").parse_args(COLLECT + ["--variations", "0,1", "--frame-rate", "10"])
    assert (c.variations, c.frame_rate, c.workers) == ([0, 1], 10.0, 2)
    assert _parser("collect").parse_args(COLLECT + ["--variations", "all"]).variations is None
