"""Two public-domain portraits for the identity check's demo, simulator and tests (README.md
beside this file gives their sources): Eileen Collins (NASA) and Grace Hopper (US Navy).
:func:`collins` and :func:`hopper` with ``variant`` > 0 give a second photo of the same face,
taken another time: cropped, scaled, turned a little and lit differently."""

from __future__ import annotations

import functools
import io
import random
from pathlib import Path

from PIL import Image, ImageEnhance

_HERE = Path(__file__).parent


@functools.cache
def _read(name: str) -> bytes:
    return (_HERE / name).read_bytes()


def hopper(variant: int = 0) -> bytes:
    """Grace Hopper's portrait as a JPEG; ``variant`` > 0 a photo of her taken again (a crop of
    85-95 % of the picture, scaled, turned a little, lit differently)."""
    if not variant:
        return _read("hopper.jpg")
    rng = random.Random(variant)
    with Image.open(io.BytesIO(_read("hopper.jpg"))) as original:
        image = original.convert("RGB")
    keep = rng.uniform(0.85, 0.95)
    width, height = round(image.width * keep), round(image.height * keep)
    left = rng.randint(0, image.width - width)
    top = rng.randint(0, image.height - height)
    image = image.crop((left, top, left + width, top + height))
    scale = rng.uniform(0.8, 1.2)
    image = image.resize((round(width * scale), round(height * scale)), Image.Resampling.BICUBIC)
    image = image.rotate(
        rng.uniform(-6, 6), resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128)
    )
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.85, 1.2))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def collins(variant: int = 0) -> bytes:
    """Eileen Collins's portrait as a JPEG; ``variant`` > 0 a photo of her taken again."""
    if not variant:
        return _read("collins.jpg")
    rng = random.Random(variant)
    with Image.open(io.BytesIO(_read("collins.jpg"))) as original:
        image = original.convert("RGB")
    left, top = rng.randint(40, 90), rng.randint(0, 30)
    side = rng.randint(280, 340)
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((rng.randint(300, 480),) * 2, Image.Resampling.BICUBIC)
    image = image.rotate(
        rng.uniform(-8, 8), resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128)
    )
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.25))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()
