"""The observer's ROS-free input path (mn_models/runtime.py): clips cut on the frames' header
stamps, any camera size brought to the recognizer's input as in training."""
from __future__ import annotations

import numpy as np
import pytest

from mn_models.runtime import ClipBuffer, center_crop_square

SEC = 1_000_000_000


def frame(v: int = 0, size: int = 8) -> np.ndarray:
    return np.full((size, size, 3), v, np.uint8)


def test_frames_delivered_in_bursts_stay_one_clip():
    """89 frames stamped 1/20 s apart arrive in bursts with long pauses between them (as under
    load): the clip is cut on the stamps, so it is one clip of 89 frames."""
    clip = ClipBuffer(gap_s=1.0, max_frames=600)
    stamps = [5 * SEC + i * SEC // 20 for i in range(89)]
    cuts = []
    for burst in (stamps[:53], stamps[53:60], stamps[60:]):   # arrival times do not enter
        for s in burst:
            cuts.append(clip.add(frame(), s))
    assert cuts == [None] * 89 and len(clip) == 89
    assert clip.clip().shape == (89, 8, 8, 3)


def test_a_jump_in_the_stamps_starts_a_new_clip():
    clip = ClipBuffer(gap_s=1.0, max_frames=600)
    for i in range(10):
        assert clip.add(frame(), 100 * SEC + i * SEC // 20) is None
    why = clip.add(frame(), 100 * SEC + 9 * SEC // 20 + int(1.5 * SEC))   # 1.5 s later
    assert why.startswith("new clip (after 10 frames)") and "+1.500 s" in why
    assert len(clip) == 1
    why = clip.add(frame(), 50 * SEC)                                      # replayed from start
    assert why and "-" in why.split("jump")[1] and len(clip) == 1
    # a frame a little late (out of order within the gap) stays in the clip
    assert clip.add(frame(), 50 * SEC + SEC // 10) is None
    assert clip.add(frame(), 50 * SEC + SEC // 20) is None and len(clip) == 3


def test_due_every_n_frames_once_min_frames_are_buffered():
    clip = ClipBuffer(gap_s=1.0, max_frames=5, min_frames=4, every=2)
    due = []
    for i in range(9):
        clip.add(frame(i), i * SEC // 30)
        due.append(clip.due())
    assert due == [False, False, False, True, False, True, False, True, False]
    assert len(clip) == 5 and clip.clip()[0, 0, 0, 0] == 4    # the oldest were dropped


@pytest.mark.slow   # the session's tiny checkpoints
@pytest.mark.parametrize("shape", [(480, 640), (720, 1280), (600, 400), (128, 128)])
def test_prepare_crops_the_centre_and_resizes_as_in_training(tiny_checkpoints, shape):
    """Any camera size -> the recognizer's input: the centred square, resized the way the
    training clips were (mn_models.data._resize_frames)."""
    from mn_models.data import _resize_frames
    from mn_models.runtime import RecognizerRunner
    r = RecognizerRunner(tiny_checkpoints["au"])
    h, w = shape
    img = np.zeros((h, w, 3), np.uint8)
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    img[top:top + s, left:left + s] = 200        # the centre square bright, the sides black
    img[top:top + s // 2, left:left + s, 0] = 30  # its upper half with less red
    out = r.prepare(img)
    assert out.shape == (r.image_size, r.image_size, 3) and out.dtype == np.uint8
    want = _resize_frames(np.ascontiguousarray(img[None, top:top + s, left:left + s]),
                          r.image_size)[0]
    if s <= 4 * r.image_size:   # the training clips' own resizing, pixel for pixel
        np.testing.assert_array_equal(out, want)
    else:                       # block-averaged first: the same picture within a grey level
        assert np.abs(out.astype(int) - want).mean() < 0.5, np.abs(out.astype(int) - want).max()
    assert out[..., 1].min() == 200              # nothing of the black sides is left
    assert out[: r.image_size // 2 - 1, :, 0].max() == 30 and out[-1, :, 0].min() == 200


def test_center_crop_square_keeps_the_middle():
    wide = np.arange(4 * 8).reshape(4, 8, 1)
    np.testing.assert_array_equal(center_crop_square(wide), wide[:, 2:6])
    tall = np.arange(9 * 4).reshape(9, 4, 1)
    np.testing.assert_array_equal(center_crop_square(tall), tall[2:6])
