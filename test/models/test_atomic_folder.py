"""One helper writes every folder atomically (checkpoint.atomic_folder); the recognizer's and the
policy's save_pretrained use it: a save that fails half-way leaves the previous folder intact
and no temporary folder behind."""
import os

import pytest

from mn_models.checkpoint import atomic_folder


def test_replaces_the_folder_and_leaves_nothing_else(tmp_path):
    atomic_folder(tmp_path / "f", lambda d: (d / "a.txt").write_text("1"))
    atomic_folder(tmp_path / "f", lambda d: (d / "b.txt").write_text("2"))
    assert sorted(os.listdir(tmp_path)) == ["f"]
    assert sorted(os.listdir(tmp_path / "f")) == ["b.txt"]


def test_a_failed_write_keeps_the_old_folder(tmp_path):
    atomic_folder(tmp_path / "f", lambda d: (d / "a.txt").write_text("1"))

    def half_then_fail(d):
        (d / "b.txt").write_text("partial")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError, match="disk full"):
        atomic_folder(tmp_path / "f", half_then_fail)
    assert sorted(os.listdir(tmp_path)) == ["f"]
    assert (tmp_path / "f" / "a.txt").read_text() == "1"


def _fail_save_file(*args, **kwargs):
    raise OSError("no space left on device")


@pytest.mark.parametrize("kind", ["recognizer", "policy"])
def test_save_pretrained_that_fails_keeps_the_previous_folder(kind, tmp_path, monkeypatch):
    import safetensors.torch
    if kind == "recognizer":
        from mn_models.recognizer.config import make_recognizer_config
        from mn_models.recognizer.model import Recognizer
        model = Recognizer(make_recognizer_config("tiny"))
    else:
        from mn_models.policy.arp import make_policy
        model = make_policy("tiny")
    folder = model.save_pretrained(tmp_path / "m")
    before = {p: (folder / p).read_bytes() for p in os.listdir(folder)}
    monkeypatch.setattr(safetensors.torch, "save_file", _fail_save_file)
    with pytest.raises(OSError, match="no space"):
        model.save_pretrained(folder)
    assert sorted(os.listdir(tmp_path)) == ["m"]
    assert {p: (folder / p).read_bytes() for p in os.listdir(folder)} == before
