"""Evidence files an institution uploads with an answer (a case's rectification, a
rectification order's answer): documents and photos recognised by their bytes (PDF, JPEG,
PNG, never by their name or the browser's word), limited in number and size, kept in the blob
store by SHA-256 and served back inline to those who may see the step they belong to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response
from pydantic import ConfigDict, Field

from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.core.errors import FieldError, NotFound
from jcjg.core.text import TextModel

MAX_FILES = 10
MAX_BYTES = 20 * 1024 * 1024
TYPES = {  # what may be uploaded: documents and photos, by their first bytes
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
ACCEPT = "application/pdf,image/jpeg,image/png"  # the file input's ``accept``


class Stored(TextModel):
    """What a step records of a stored file (:func:`store`), as a child platform sends it
    beside the step's entry (``core.facts``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0, le=MAX_BYTES)
    media_type: str = Field(pattern="^(" + "|".join(TYPES.values()) + ")$")


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def media_type(data: bytes) -> str | None:
    return next((t for magic, t in TYPES.items() if data.startswith(magic)), None)


def check(evidence: list[Upload], field: str = "evidence") -> list[FieldError]:
    """What is wrong with the files (too many, too large, not a PDF, JPEG or PNG)."""
    errors: list[FieldError] = []
    if len(evidence) > MAX_FILES:
        errors.append(FieldError(field, f"证明材料最多 {MAX_FILES} 个文件", "too_many"))
    for upload in evidence:
        if len(upload.data) > MAX_BYTES:
            errors.append(FieldError(field, f"{upload.name} 超过 20 MB", "too_large"))
        elif media_type(upload.data) is None:
            errors.append(FieldError(field, f"{upload.name} 不是 PDF、JPEG 或 PNG 文件", "type"))
    return errors


def store(settings: Settings, evidence: list[Upload]) -> list[dict[str, Any]]:
    """Put the (checked) files in the blob store; what a step records of each."""
    return [
        {"name": u.name[:200], "sha256": blob_store(settings).put(u.data), "size": len(u.data),
         "media_type": media_type(u.data)}
        for u in evidence
    ]  # fmt: skip


def serve(settings: Settings, files: Iterable[Mapping[str, Any]], sha256: str) -> Response:
    """The file ``sha256`` if it is one of ``files`` (a step's recorded evidence), inline and
    never sniffed as anything else; 404 for a file the step never had, whatever the blob store
    holds."""
    found = next((f for f in files if f["sha256"] == sha256), None)
    if found is None:
        raise NotFound()
    data = blob_store(settings).get(sha256)
    return Response(
        data,
        media_type=media_type(data) or "application/octet-stream",
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(str(found['name']))}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )
