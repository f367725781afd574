"""Frames for people: captions on videos (instruction, outcome) and per-task contact sheets.

Only what people look at is drawn on: the policy's and the observer's inputs are never
annotated (they come from Sim.render_cameras / the dataset's PNGs).
"""
from __future__ import annotations

import textwrap
from functools import lru_cache
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SUCCESS_RGB = (40, 170, 60)
FAILURE_RGB = (200, 45, 40)
OUTCOME_HOLD_S = 1.5     # the last frame is held this long with the outcome drawn on it


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:        # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _band(draw: ImageDraw.ImageDraw, text: str, width: int, y: int, font, fill, top: bool):
    """A dark band with `text` (wrapped) starting at row y (top=True) or ending at row y."""
    line_h = font.getbbox("Ag")[3] + 3
    chars = max(8, int(width / max(1, font.getlength("n"))) - 2)
    lines = textwrap.wrap(text, chars)[:4] or [""]
    h = line_h * len(lines) + 6
    y0 = y if top else y - h
    draw.rectangle((0, y0, width, y0 + h), fill=(0, 0, 0, 150))
    for k, line in enumerate(lines):
        draw.text((5, y0 + 3 + k * line_h), line, font=font, fill=fill)
    return h


def caption(frame: np.ndarray, top: str = "", bottom: str = "",
            bottom_rgb: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """`frame` (H, W, 3) uint8 with `top` and `bottom` text on translucent bands."""
    img = Image.fromarray(np.ascontiguousarray(frame)).convert("RGBA")
    over = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    font = _font(max(10, img.size[0] // 18))
    if top:
        _band(d, top, img.size[0], 0, font, (255, 255, 255, 255), top=True)
    if bottom:
        _band(d, bottom, img.size[0], img.size[1], font, (*bottom_rgb, 255), top=False)
    return np.asarray(Image.alpha_composite(img, over).convert("RGB"))


def outcome_text(success: bool | None, reason: str = "") -> str:
    if success is None:
        return ""
    return "SUCCESS" if success else ("FAILURE" + (f": {reason}" if reason else ""))


def annotate_episode(frames: Sequence[np.ndarray], instruction: str, success: bool | None,
                     reason: str = "", fps: float = 10.0) -> list[np.ndarray]:
    """Every frame captioned with the instruction; the last frame held OUTCOME_HOLD_S seconds
    with the outcome (success/failure and why) at the bottom."""
    if not len(frames):
        return []
    out = [caption(f, instruction) for f in frames]
    text = outcome_text(success, reason)
    if text:
        last = caption(frames[-1], instruction, text,
                       SUCCESS_RGB if success else FAILURE_RGB)
        out += [last] * max(1, int(round(OUTCOME_HOLD_S * fps)))
    return out


def contact_sheet(rows: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str,
                  thumb: int = 192) -> Image.Image:
    """One column per (label, first frame, last frame): the first frame above the last, the
    label (a variation's instruction) on the first. Returns a palette PNG-ready image."""
    font = _font(13)
    cols = len(rows)
    title_h = 22
    sheet = Image.new("RGB", (cols * thumb, title_h + 2 * thumb), (30, 30, 30))
    d = ImageDraw.Draw(sheet)
    d.text((5, 4), title, font=font, fill=(255, 255, 255))
    for c, (label, first, last) in enumerate(rows):
        for r, (frame, tag) in enumerate(((first, "start"), (last, "end (arm translucent)"))):
            im = Image.fromarray(frame).resize((thumb, thumb), Image.BILINEAR)
            im = Image.fromarray(caption(np.asarray(im), label if r == 0 else "", tag))
            sheet.paste(im, (c * thumb, title_h + r * thumb))
    return sheet
