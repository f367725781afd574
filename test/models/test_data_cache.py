"""The training data cache (issue 9): rendered views and resized clips are built once from a
real collected dataset, memory-mapped afterwards without decoding a PNG, equal what the
policy renders from the cameras, and rebuilt when an episode or the settings change."""
import shutil

import numpy as np
import pytest
import torch

from mn_models.data import MirrorData
from mn_models.data_cache import CACHE_FOLDER
from mn_models.policy import constants as K
from mn_models.policy.arp import stage1_views
from mn_models.policy.config import make_policy_config
from mn_models.recognizer.tokenizer import get_tokenizer
from mn_sim.dataset import layout
from mn_sim.dataset.codec import read_png, write_png

CAMS = ("front", "left_shoulder", "right_shoulder", "wrist")


@pytest.fixture()
def data_root(tiny_dataset, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root, ignore=shutil.ignore_patterns(CACHE_FOLDER))
    return root


def _load(root, pcfg, **kw):
    return MirrorData(root, split="all", clip_size=32, cameras=CAMS, policy_views=pcfg, **kw)


def _no_png_decoding(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a PNG was decoded although the cache holds everything")
    monkeypatch.setattr("mn_sim.dataset.reader.read_png", refuse)


def test_views_are_built_once_then_memory_mapped_and_equal_the_rendered_cameras(
        data_root, monkeypatch):
    pcfg = make_policy_config("tiny", cameras=CAMS)
    first = _load(data_root, pcfg)
    n = len(first)
    assert n == 8 and first.index
    entries = sorted((data_root / CACHE_FOLDER).rglob("*.npy"))
    assert len(entries) == 2 * n                       # views + clips per episode
    assert not list((data_root / CACHE_FOLDER).rglob("*.tmp"))
    tok = get_tokenizer(77)
    rows = list(range(len(first.index)))
    cached = first.ee_batch(rows, tok)
    assert K.VIEWS in cached and not any(k.startswith(CAMS) for k in cached)

    # the same samples from the cameras, rendered by the policy's own path
    plain = MirrorData(data_root, split="all", clip_size=32, cameras=CAMS, cache=False)
    cams = plain.ee_batch(rows, tok)
    torch.testing.assert_close(cached[K.VIEWS], stage1_views(cams, pcfg), rtol=0, atol=0)
    for key in (K.ACTION, K.PROPRIO, K.GRIPPER_POSE, K.LANG_TOKENS):
        assert torch.equal(cached[key], cams[key]), key
    np.testing.assert_array_equal(np.stack([r.frames for r in first.records]),
                                  np.stack([r.frames for r in plain.records]))

    _no_png_decoding(monkeypatch)
    again = _load(data_root, pcfg)
    assert isinstance(again.records[0].views, np.memmap)
    assert isinstance(again.records[0].frames, np.memmap)
    assert torch.equal(again.ee_batch(rows, tok)[K.VIEWS], cached[K.VIEWS])


def test_an_edited_episode_and_changed_settings_rebuild_their_entries(data_root):
    pcfg = make_policy_config("tiny", cameras=CAMS)
    tok = get_tokenizer(77)
    before = _load(data_root, pcfg)
    rec = before.records[0]
    frame = rec.samples[1].frame
    old_views = np.array(rec.views)
    old_clip = np.array(rec.frames)
    # paint a quarter of one camera image of a sample frame (and of the video frame) white
    for cam in ("front", "wrist", "observer"):
        png = layout.image_path(rec.path, cam, "rgb", frame)
        img = read_png(png, "RGB")
        img[:64, :64] = 255
        write_png(png, img)

    after = _load(data_root, pcfg)
    edited = after.records[0]
    assert not np.array_equal(np.array(edited.views), old_views)
    assert not np.array_equal(np.array(edited.frames), old_clip)
    for other_before, other_after in zip(before.records[1:], after.records[1:]):
        np.testing.assert_array_equal(np.array(other_before.views), np.array(other_after.views))
    # equal to a fresh render of the edited files; the old entry is gone
    plain = MirrorData(data_root, split="all", clip_size=32, cameras=CAMS, cache=False)
    rows = [i for i, (r, _) in enumerate(plain.index) if r == 0]
    torch.testing.assert_close(after.ee_batch(rows, tok)[K.VIEWS],
                               stage1_views(plain.ee_batch(rows, tok), pcfg), rtol=0, atol=0)
    name = rec.path.rsplit("/", 1)[-1]
    views_dirs = [d for d in (data_root / CACHE_FOLDER).iterdir() if d.name.startswith("views")]
    assert len(list((views_dirs[0] / rec.task).glob(f"{name}.*.npy"))) == 1

    # other settings (view size) -> other entries, the first ones untouched
    small = make_policy_config("tiny", cameras=CAMS, img_size=32, patch_size=8)
    other = _load(data_root, small)
    assert other.records[0].views.shape[-1] == 32
    assert len([d for d in (data_root / CACHE_FOLDER).iterdir()
                if d.name.startswith("views")]) == 2


def test_policies_that_re_render_cannot_use_cached_views(data_root):
    with pytest.raises(ValueError, match="augments or zooms"):
        _load(data_root, make_policy_config("tiny", cameras=CAMS, augment=True))
    with pytest.raises(ValueError, match="augments or zooms"):
        _load(data_root, make_policy_config("tiny", cameras=CAMS, coarse_to_fine=True))


def test_mn_cache_dir_moves_the_cache_and_an_unwritable_one_builds_in_memory(
        data_root, monkeypatch, caplog, tmp_path):
    pcfg = make_policy_config("tiny", cameras=CAMS)
    monkeypatch.setenv("MN_CACHE_DIR", str(tmp_path / "elsewhere"))
    moved = _load(data_root, pcfg)
    assert not (data_root / CACHE_FOLDER).exists()
    assert len(list((tmp_path / "elsewhere").rglob("*.npy"))) == 2 * len(moved)
    # a cache folder that cannot be made (under a file): the same arrays, built in memory,
    # and one warning that says what to do
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("MN_CACHE_DIR", str(tmp_path / "a_file" / "cache"))
    with caplog.at_level("WARNING", logger="mn_models.data_cache"):
        memory = _load(data_root, pcfg)
    assert not isinstance(memory.records[0].views, np.memmap)
    warnings = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(warnings) == 2 and all("MN_CACHE_DIR" in w for w in warnings)   # views, clips
    for a, b in zip(moved.records, memory.records):
        np.testing.assert_array_equal(np.asarray(a.views), b.views)
        np.testing.assert_array_equal(np.asarray(a.frames), b.frames)
