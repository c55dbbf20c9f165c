"""Photos taken on site and at the lab: checked to be images, stored in the blob store by
SHA-256, and reduced to a perceptual hash for the receipt check's comparison.

The perceptual hash is the 64-bit difference hash (dHash) of ``imagehash.dhash`` on the photo
with its EXIF orientation applied, written as 16 hex digits: anyone can recompute it from the
photo with ``imagehash`` to check a seal's statement. Two photos of the same specimen taken
from a similar angle differ in a few bits; photos of different specimens in about half.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import imagehash
from PIL import Image, ImageOps, UnidentifiedImageError

from jcjg.config import Settings
from jcjg.core.blobs import blob_store, digest_of
from jcjg.core.errors import FieldError, ValidationFailed

IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}
MAX_PIXELS = 50_000_000


class PhotoProblem(ValueError):
    """The upload is not a photo the platform takes (message in Chinese)."""


@dataclass(frozen=True)
class StoredPhoto:
    sha256: str
    phash: str
    width: int
    height: int


def _open(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in IMAGE_FORMATS:
            raise PhotoProblem("照片须为 JPEG、PNG 或 WebP 格式")
        if image.width * image.height > MAX_PIXELS:
            raise PhotoProblem("照片像素过多")
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise PhotoProblem("无法识别的图片文件") from exc
    return ImageOps.exif_transpose(image)


def perceptual_hash(data: bytes) -> str:
    """The dHash of the photo as 16 hex digits."""
    return str(imagehash.dhash(_open(data), hash_size=8))


def hamming(a: str, b: str) -> int:
    """Bits that differ between two perceptual hashes."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def _checked(settings: Settings, data: bytes) -> Image.Image:
    if not data:
        raise PhotoProblem("照片为空")
    if len(data) > settings.sampling_photo_max_bytes:
        limit = settings.sampling_photo_max_bytes // (1024 * 1024)
        raise PhotoProblem(f"照片超过 {limit} MB")
    return _open(data)


def store_photo(settings: Settings, data: bytes) -> StoredPhoto:
    """Check and store one photo; raises :class:`PhotoProblem` with a Chinese reason."""
    image = _checked(settings, data)
    phash = str(imagehash.dhash(image, hash_size=8))
    digest = blob_store(settings).put(data)
    assert digest == digest_of(data)
    return StoredPhoto(sha256=digest, phash=phash, width=image.width, height=image.height)


def check_photo(settings: Settings, data: bytes, field_name: str) -> None:
    """Check a photo as :func:`take_photo` does, without storing it."""
    try:
        _checked(settings, data)
    except PhotoProblem as exc:
        raise ValidationFailed(errors=[FieldError(field_name, str(exc), "invalid")]) from exc


def take_photo(settings: Settings, data: bytes | None, field_name: str) -> StoredPhoto:
    if not data:
        raise ValidationFailed(errors=[FieldError(field_name, "请拍摄或选择照片", "missing")])
    try:
        return store_photo(settings, data)
    except PhotoProblem as exc:
        raise ValidationFailed(errors=[FieldError(field_name, str(exc), "invalid")]) from exc
