"""Registering child platforms and resuming them; what the pages show of children and of the
upstream. Services flush, never commit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core.errors import Conflict, FieldError, ValidationFailed
from jcjg.exchange.choices import ClientKind, ClientStatus
from jcjg.exchange.clients import (
    IssuedKey,
    create_client,
    issue_key,
    parse_any_public_key,
    public_key_alg,
)
from jcjg.exchange.models import Message
from jcjg.ledger import service as ledger
from jcjg.ledger.note import NoteError, Verifier
from jcjg.networking.choices import ChildStatus, Outcome
from jcjg.networking.models import Child, Forwarded
from jcjg.regions.models import Region


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message)])


# what network_child keeps of them (models.Child)
MAX_BASE_URL, MAX_LOG_KEY, MAX_LOG_ORIGIN = 200, 300, 200
MAX_PUBLIC_KEY_BYTES = 16 * 1024


def check_base_url(value: str) -> str:
    if len(value.strip()) > MAX_BASE_URL:
        raise _fail("base_url", f"平台访问地址不能超过 {MAX_BASE_URL} 个字符")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise _fail("base_url", "平台地址应为 http(s)://主机[:端口][/路径]，不带查询参数")
    return value.strip().rstrip("/")


def check_public_key(data: bytes | None) -> bytes | None:
    """The child's public key (Ed25519, or SM2 under the national profile) as raw bytes (None
    when none is given); `public_key_alg` tells which."""
    if not data:
        return None
    if len(data) > MAX_PUBLIC_KEY_BYTES:
        raise _fail("public_key", f"转发签名公钥过长：不能超过 {MAX_PUBLIC_KEY_BYTES} 字节")
    return parse_any_public_key(data)


def log_origin(log_key: str) -> str:
    """The origin of the log a verifier key belongs to (its key name)."""
    if len(log_key.strip()) > MAX_LOG_KEY:
        raise _fail("log_key", f"存证日志公钥不能超过 {MAX_LOG_KEY} 个字符")
    try:
        verifier = Verifier(log_key.strip())
    except NoteError as exc:
        raise _fail("log_key", "日志公钥格式不正确：应为对方 GET /ledger/key 的内容") from exc
    if not verifier.is_log_key:
        raise _fail("log_key", "这是副署密钥，不是日志公钥：应为对方 GET /ledger/key 的内容")
    name = verifier.name
    if len(name) > MAX_LOG_ORIGIN:
        why = f"存证日志的名称（公钥中第一个“+”之前）不能超过 {MAX_LOG_ORIGIN} 个字符"
        raise _fail("log_key", why)
    if name == ledger.log_identity().origin:
        # this platform cosigns its children's checkpoints: never one that names its own log
        raise _fail("log_key", "下级平台的日志不能与本平台的日志同名")
    return name


@dataclass(frozen=True)
class Registered:
    child: Child
    key: IssuedKey


def register_child(
    db: Session,
    settings: Settings,
    *,
    name: str,
    region_code: str,
    base_url: str,
    log_key: str,
    public_key: bytes | None = None,
    user_id: int | None = None,
) -> Registered:
    """A child platform, with the exchange client and key it forwards with (Ed25519 when its
    public key is given, else an HMAC secret shown once)."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise _fail("name", "平台名称须为 1 至 100 个字符")
    if db.get(Region, region_code) is None:
        raise _fail("region_code", f"行政区划“{region_code[:12]}”不存在")
    base_url = check_base_url(base_url)
    origin = log_origin(log_key)
    if db.scalar(select(Child.id).where(Child.log_origin == origin)) is not None:
        raise Conflict(f"日志“{origin}”已登记为下级平台")
    raw = check_public_key(public_key)
    client = create_client(
        db,
        name=name,
        institution=None,
        region_code=region_code,
        kind=ClientKind.PLATFORM,
        status=ClientStatus.ACTIVE,
        applied_by_id=user_id,
        purpose="下级平台转发其存证日志",
    )
    alg = public_key_alg(raw) if raw else "hmac-sha256"
    key = issue_key(db, client, settings, alg=alg, public_key=raw)
    child = Child(
        client_id=client.id,
        name=name,
        region_code=region_code,
        base_url=base_url,
        log_origin=origin,
        log_key=log_key.strip(),
    )
    db.add(child)
    db.flush()
    return Registered(child, key)


def resume_child(db: Session, child: Child, *, forget_log: bool = False) -> None:
    """An operator resumes a halted child once its log is explained; with ``forget_log`` the
    checked checkpoint is forgotten (a child restored from backup starts a new history)."""
    if child.status != ChildStatus.HALTED:
        raise Conflict("该下级平台未暂停")
    child.status = ChildStatus.ACTIVE.value
    child.halted_reason = None
    if forget_log:
        child.checked_size = 0
        child.checked_root = None
        child.checked_note = None
    db.flush()


def lag_seconds(child: Child, now: dt.datetime) -> float:
    """How far behind the child's forwarding is: the age of the oldest leaf it still holds
    back, as its last forward said."""
    if not child.backlog or child.oldest_waiting_at is None:
        return 0.0
    return max(0.0, (now - child.oldest_waiting_at).total_seconds())


def outcomes(db: Session, child_ids: list[int]) -> dict[int, dict[str, int]]:
    """Forwarded leaves per child and outcome."""
    found: dict[int, dict[str, int]] = {i: {} for i in child_ids}
    if not child_ids:
        return found
    rows = db.execute(
        select(Forwarded.child_id, Forwarded.outcome, func.count())
        .where(Forwarded.child_id.in_(child_ids))
        .group_by(Forwarded.child_id, Forwarded.outcome)
    ).all()
    for child_id, outcome, count in rows:
        found[child_id][outcome] = int(count)
    return found


def applied_here(db: Session, child: Child) -> dict[str, int]:
    """The child's forwarded messages by their status here (accepted, applied, rejected)."""
    rows = db.execute(
        select(Message.status, func.count())
        .where(Message.client_id == child.client_id)
        .group_by(Message.status)
    ).all()
    return {status: int(count) for status, count in rows}


def refused(db: Session, child: Child, limit: int = 50) -> list[Forwarded]:
    return list(
        db.scalars(
            select(Forwarded)
            .where(Forwarded.child_id == child.id, Forwarded.outcome == Outcome.REFUSED.value)
            .order_by(Forwarded.origin_index.desc())
            .limit(limit)
        )
    )
