"""A project entered on this platform's pages as a fact of its log, and a child platform's
projects rebuilt on its parent (docs/networking.md, "A child's facts").

A project a station enters here (pages, ``jcjg simulate``) is notarised as
``project:register``, and each change of it as ``project:update``: its code, region and name,
and the SHA-256 of its particulars (RFC 8785 JSON of the project's form: the site, its fence,
the parties, the permit ...), which travel beside the leaf as the fact's ``content``. A project
received by the ``project`` message is not notarised again: the message is in the log and
goes up as it is.

The parent keeps the project as the child's (``Project.origin``: the child's region code, as
for a project the child sent by the ``project`` message), so that the samples and commissions
of the child's labs that name it apply there. Only a platform at or above the child's that sent
the copy may change it, and a project of the parent's own stations is never overwritten."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.errors import Conflict, FieldError, ValidationFailed, field_errors_from_pydantic
from jcjg.core.facts import Exported, FactApplier, FactContent, ForwardedFact, parsed_content
from jcjg.core.regioncodes import scope_prefix
from jcjg.projects.models import Project
from jcjg.projects.service import PROJECT_REGISTER as REGISTER
from jcjg.projects.service import PROJECT_UPDATE as UPDATE
from jcjg.projects.service import ProjectFields, check_centre, particulars
from jcjg.projects.service import particulars_digest as _digest
from jcjg.regions.models import Region

# --- the child's side: the content beside the entry --------------------------------------------


def contents() -> dict[str, FactContent]:
    return {REGISTER: content, UPDATE: content}


def content(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """The project's particulars, while they are still what ``data`` notarised."""
    project = db.scalar(select(Project).where(Project.code == str(data.get("code"))))
    if project is None or project.origin:
        return None
    try:
        fields = particulars(project)
    except ValidationError:
        return None
    if _digest(fields) != data.get("sha256"):
        return None  # changed since: the later entry brings it
    return Exported(content=fields)


# --- the parent's side ---------------------------------------------------------------------------


class Entered(BaseModel):
    """A project's entry as the child notarised it (:func:`entry`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    code: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z\-_]+$")
    region_code: str = Field(pattern=r"^[0-9]{6}$")
    name: str = Field(min_length=1, max_length=200)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


def appliers() -> dict[str, FactApplier]:
    return {REGISTER: entered, UPDATE: entered}


def entered(db: Session, fact: ForwardedFact) -> None:
    """The child's project kept (or brought up to date) as the child's."""
    try:
        given = Entered.model_validate(dict(fact.data))
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    if not given.region_code.startswith(scope_prefix(fact.region_code)):
        raise ValidationFailed(
            errors=[FieldError("region_code", "工程项目不在该下级平台辖区内", "scope")]
        )
    if db.get(Region, given.region_code) is None:
        raise ValidationFailed(errors=[FieldError("region_code", "行政区划代码不存在")])
    fields = _fields(fact, given)
    project = db.scalar(select(Project).where(Project.code == given.code))
    if project is None:
        db.add(Project(region_code=given.region_code, origin=fact.region_code, **fields))
        db.flush()
        return
    if not project.origin or not fact.region_code.startswith(scope_prefix(project.origin)):
        owner = "本平台监督站录入" if not project.origin else "其他平台报送"
        raise Conflict(
            f"工程项目编号“{given.code}”在本平台已由{owner}",
            errors=[FieldError("code", "已被其他工程项目使用", "duplicate")],
        )
    if project.region_code != given.region_code:
        raise Conflict(
            "工程项目的行政区划不能更改",
            errors=[FieldError("region_code", "与本平台所存的不同", "immutable")],
        )
    for key, value in fields.items():
        if getattr(project, key) != value:
            setattr(project, key, value)
    db.flush()


def _fields(fact: ForwardedFact, given: Entered) -> dict[str, Any]:
    """The particulars the content gives (checked against the entry's digest), or only the
    code and name when the child sent none (changed since: its later entry brings them)."""
    if fact.content is None:
        return {"code": given.code, "name": given.name}
    if _digest(fact.content) != given.sha256:
        raise ValidationFailed(
            errors=[FieldError("content", "工程项目信息与存证的摘要不符", "mismatch")]
        )
    fields = parsed_content(ProjectFields, fact.content)
    check_centre(fields)
    if fields.code != given.code or fields.name != given.name:
        raise ValidationFailed(
            errors=[FieldError("content.code", "工程项目信息与存证的编号或名称不符", "mismatch")]
        )
    return fields.model_dump(mode="json")
