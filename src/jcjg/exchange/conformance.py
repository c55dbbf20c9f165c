"""A conformance kit for the vendors of lab systems (issue 40 item 8): a sandbox platform that
records what a vendor's client does, breaks its answers the way networks do, and a report that
says, check by check, whether the client is fit to connect a lab.

With ``JCJG_EXCHANGE_CONFORMANCE_LOG`` set (a file), the app puts :class:`Probe` in front of
the exchange (``/exchange/v1/…``) and the ledger (``/ledger/…``). It writes one JSON line per
request (who signed it, what it was, how it was answered) and injects two faults a real
deployment meets:

- **a lost answer to a message**: the first ``POST`` of each message type by each key is
  applied by the platform (stored, receipted), but the client gets ``503`` with
  ``Retry-After: 1`` instead of the receipt, as when a proxy or the network drops the answer.
  A conformant client sends the *same* message (same ``message_id``, same content) again,
  no sooner than ``Retry-After``, and gets ``200 duplicate`` with the receipt;
- **a lost answer to an upload chunk**: the first tus ``PATCH`` of each upload is stored, and
  the client gets ``503``. Sending the chunk again at the old offset is answered ``409``; a
  conformant client asks the offset (``HEAD``) and goes on from there.

:func:`report` (``jcjg conformance report``) then reads the log and the database and judges:
every message type the client claims was applied, requests signed, lost answers retried with
the same message after ``Retry-After``, no message id reused for other content, statuses
polled, rejected messages corrected under a new id rather than resent, files sent and
referenced, uploads resumed. ``docs/exchange-api/conformance.md`` is the vendor's guide.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.exchange.choices import ClientKind
from jcjg.exchange.models import ClientKey, ExchangeFile
from jcjg.exchange.models import Message as Stored
from jcjg.exchange.types import message_types

WATCHED = ("/exchange/v1/", "/ledger/")
RETRY_AFTER = 1  # seconds the injected 503 asks the client to wait
LOST = "lost_answer"
_KEY_ID = re.compile(r'keyid="([^"]{1,128})"')
_MESSAGE = re.compile(r"^/exchange/v1/messages/([a-z0-9_.]{1,64})$")
_STATUS = re.compile(r"^/exchange/v1/messages/([a-z0-9_.]{1,64})/([0-9a-fA-F-]{1,64})$")
_UPLOAD = re.compile(r"^/exchange/v1/uploads/?([A-Za-z0-9_-]{0,128})$")
_BLOB = re.compile(r"^/exchange/v1/blobs/([0-9a-f]{64})$")
_PROBLEM_BYTES = 16_384


@dataclass
class Entry:
    """One request to the exchange or the ledger, as the probe saw it."""

    at: str
    method: str
    path: str
    kind: str  # message, status, statuses, upload, blob, ledger, other
    key_id: str = ""
    message_type: str = ""
    message_id: str = ""
    upload: str = ""
    status: int = 0
    problem: str = ""
    injected: str = ""
    retry_after: int = 0

    @property
    def moment(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.at)


def describe(method: str, path: str, headers: dict[str, str], body: bytes) -> Entry:
    """What a request is: its kind, its signer and what it names."""
    found = _KEY_ID.search(headers.get("signature-input", ""))
    entry = Entry(utcnow().isoformat(), method, path, "other", found.group(1) if found else "")
    if path.startswith("/ledger/"):
        entry.kind = "ledger"
    elif match := _MESSAGE.match(path):
        entry.kind, entry.message_type = "message", match.group(1)
        if method == "POST":
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("message_id"), str):
                entry.message_id = data["message_id"][:64].lower()
    elif match := _STATUS.match(path):
        entry.kind, entry.message_type = "status", match.group(1)
        entry.message_id = match.group(2).lower()
    elif path == "/exchange/v1/status":
        entry.kind = "statuses"
    elif match := _UPLOAD.match(path):
        entry.kind, entry.upload = "upload", match.group(1)
    elif _BLOB.match(path):
        entry.kind = "blob"
    return entry


class Probe:
    """ASGI middleware of the sandbox: records every exchange and ledger request to a JSON
    lines file and injects the lost answers described above (once per key and message type,
    once per upload; remembered from the file across restarts)."""

    def __init__(self, app: ASGIApp, log: Path) -> None:
        self.app = app
        self.log = log
        self._lock = threading.Lock()
        self._faulted: set[tuple[str, str, str]] = set()
        for entry in read_log(log):
            if entry.injected:
                self._faulted.add(_fault_key(entry))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(WATCHED):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = await _request_body(receive)
        entry = describe(scope["method"], scope["path"], headers, body)
        wanted = self._wanted(entry)
        problem = bytearray()
        held: list[Message] = []  # the answer, held while it may still be lost
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        written = False

        def record() -> None:
            """The entry, written once and before the answer's last part leaves: a client
            that has its answer finds its request in the log (the report it asks for next)."""
            nonlocal written
            if written:
                return
            written = True
            if entry.problem:
                entry.problem = _problem_type(bytes(problem))
            self._write(entry)

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = int(message["status"])
                kinds = dict(message.get("headers", []))
                is_problem = b"problem+json" in kinds.get(b"content-type", b"")
                entry.problem = "…" if is_problem else ""
            elif (
                message["type"] == "http.response.body"
                and entry.problem
                and len(problem) < _PROBLEM_BYTES
            ):
                problem.extend(message.get("body", b"")[:_PROBLEM_BYTES])
            if wanted:
                held.append(message)
                return
            if message["type"] == "http.response.body" and not message.get("more_body"):
                record()
            await send(message)

        await self.app(scope, replay, watch)
        # only an answer that carried a success is lost (the platform did the work), once
        if wanted and 200 <= entry.status < 300 and self._take(entry):
            entry.injected, entry.retry_after = LOST, RETRY_AFTER
            entry.problem = f"(应答 {entry.status}，被丢弃)"
            entry.status = 503
            record()
            await _lost_answer(send)
        else:
            record()  # a held answer's, or one the app ended without a last body part
            for message in held:
                await send(message)

    def _wanted(self, entry: Entry) -> bool:
        """Whether the answer to this request may be lost: a signed message or upload chunk
        whose kind (per key and type, per upload) has not lost one yet."""
        wanted = entry.key_id and (
            (entry.kind == "message" and entry.method == "POST" and entry.message_id)
            or (entry.kind == "upload" and entry.method == "PATCH" and entry.upload)
        )
        with self._lock:
            return bool(wanted) and _fault_key(entry) not in self._faulted

    def _take(self, entry: Entry) -> bool:
        """Lose this answer unless another request of its kind lost one meanwhile."""
        key = _fault_key(entry)
        with self._lock:
            if key in self._faulted:
                return False
            self._faulted.add(key)
            return True

    def _write(self, entry: Entry) -> None:
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        with self._lock, self.log.open("a", encoding="utf-8") as out:
            out.write(line)


async def _request_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _fault_key(entry: Entry) -> tuple[str, str, str]:
    return (
        entry.key_id,
        entry.kind,
        entry.message_type if entry.kind == "message" else entry.upload,
    )


def _problem_type(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("type", "")) if isinstance(data, dict) else ""


async def _lost_answer(send: Send) -> None:
    body = json.dumps(
        {
            "type": "/problems/busy",
            "title": "平台繁忙",
            "status": 503,
            "detail": "合规测试：本次应答已被丢弃（模拟网络或代理丢失应答），请在 Retry-After 秒后"
            "原样重发同一请求。",
        },
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"retry-after", str(RETRY_AFTER).encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def read_log(log: Path) -> list[Entry]:
    """The entries of the probe's file (none when it does not exist yet)."""
    if not log.exists():
        return []
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            out.append(Entry(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return out


# --- the sandbox ---------------------------------------------------------------------------------


def prepare_sandbox(
    factory: sessionmaker[Session],
    settings: Settings,
    root: Path,
    institution_code: str | None,
    projects: Callable[[Session, str], list[str]],
) -> str:
    """Give the sandbox's test institution (``institution_code``, else the first institution
    with projects) a LIMS client with a fresh Ed25519 key: its private key in
    ``root/client-key.pem``, and ``root/sandbox.json`` with the address, the key id and the
    codes a vendor's messages may name (institution; ``projects(db, region_code)``, the codes
    of projects near it). Answers the guide to print."""
    from jcjg.exchange import clients
    from jcjg.exchange.choices import ClientStatus
    from jcjg.tenancy.models import Institution

    with factory() as db:
        stmt = select(Institution).order_by(Institution.id)
        if institution_code:
            stmt = stmt.where(Institution.code == institution_code)
        institution = db.scalars(stmt).first()
        if institution is None:
            raise LookupError(f"沙箱中没有检测机构 {institution_code or ''}（先加载演示数据）")
        private = Ed25519PrivateKey.generate()
        raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        client = clients.create_client(
            db,
            name=f"{institution.name} 合规测试",
            institution=institution,
            status=ClientStatus.ACTIVE,
            purpose="数据交换合规测试（沙箱）",
        )
        issued = clients.issue_key(db, client, settings, alg="ed25519", public_key=raw)
        nearby = projects(db, institution.region_code)
        db.commit()
        key_id = issued.key.key_id
        code, name = institution.code, institution.name
    key_file = root / "client-key.pem"
    key_file.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    key_file.chmod(0o600)
    facts = {
        "url": settings.base_url,
        "key_id": key_id,
        "alg": "ed25519",
        "key_file": str(key_file),
        "institution_code": code,
        "institution_name": name,
        "project_codes": nearby,
        "message_types": lims_types(),
        "log": str(settings.exchange_conformance_log),
    }
    (root / "sandbox.json").write_text(json.dumps(facts, ensure_ascii=False, indent=2))
    return "\n".join(
        [
            f"沙箱平台：{settings.base_url}",
            f"测试机构：{name}（{code}）",
            f"密钥编号：{key_id}（Ed25519，私钥 {key_file}）",
            f"可用的工程项目编号：{'、'.join(nearby) or '无'}",
            "该机构的人员、设备可在沙箱的“检测机构登记”页查看，或先以 registry.* 消息报送",
            f"应报送的消息类型：{'、'.join(lims_types())}",
            "沙箱会丢弃每种消息第一次报送的应答、每个断点续传文件第一个分块的应答（503，"
            f"Retry-After: {RETRY_AFTER}），以检验重发与续传。",
            f"报送完毕后运行：jcjg conformance report --key-id {key_id} "
            f"--log {settings.exchange_conformance_log}",
            f"（以上信息也在 {root / 'sandbox.json'}）",
        ]
    )


# --- the report ----------------------------------------------------------------------------------


@dataclass
class Check:
    """One line of the report: passed (True), failed (False) or not judged (None)."""

    code: str
    title: str
    passed: bool | None
    detail: str
    required: bool = True


@dataclass
class Report:
    key_id: str
    institution_id: int | None
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks if c.required)

    def text(self) -> str:
        marks = {True: "通过", False: "未通过", None: "未判定"}
        lines = [f"数据交换合规测试报告（密钥 {self.key_id}）"]
        for c in self.checks:
            tag = "" if c.required else "（参考）"
            lines.append(f"[{marks[c.passed]}] {c.title}{tag}：{c.detail}")
        lines.append("结论：" + ("通过" if self.passed else "未通过"))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "passed": self.passed,
            "checks": [asdict(c) for c in self.checks],
        }


def lims_types() -> list[str]:
    """The message types a lab's system may send."""
    return sorted(
        name
        for name, kind in message_types().items()
        if kind.per_institution and ClientKind.LIMS.value in kind.senders
    )


def report(db: Session, log: Path, key_id: str, types: Iterable[str] | None = None) -> Report:
    """Judge the client of ``key_id`` by the probe's file and what the platform kept.
    ``types``: the message types the vendor's product sends (default: every type a lab's
    system may send)."""
    key = db.scalars(select(ClientKey).where(ClientKey.key_id == key_id)).first()
    if key is None:
        raise LookupError(f"没有密钥 {key_id}")
    logged = read_log(log)  # the ledger's requests are unsigned: no key names them
    entries = [e for e in logged if e.key_id == key_id]
    stored = db.scalars(select(Stored).where(Stored.client_id == key.client_id)).all()
    out = Report(key_id=key_id, institution_id=key.institution_id)
    wanted = sorted(set(types)) if types else lims_types()
    out.checks += [
        _types_check(wanted, stored),
        _signed_check(entries),
        _retry_check(entries),
        _conflict_check(entries),
        _status_check(entries, stored),
        _rejected_check(entries, stored),
        _refused_check(entries),
        _files_check(db, key.client_id, entries, required="report_file" in wanted),
        _resume_check(entries),
        _ledger_check(logged),
    ]
    return out


def _types_check(wanted: list[str], stored: Iterable[Stored]) -> Check:
    applied: dict[str, int] = {}
    rejected: dict[str, int] = {}
    for m in stored:
        if m.status == "applied":
            applied[m.message_type] = applied.get(m.message_type, 0) + 1
        elif m.status == "rejected":
            rejected[m.message_type] = rejected.get(m.message_type, 0) + 1
    missing = [t for t in wanted if not applied.get(t)]
    done = "、".join(f"{t} {applied[t]}" for t in wanted if applied.get(t)) or "无"
    detail = f"已处理通过：{done}"
    if missing:
        detail += f"；未见处理通过的：{'、'.join(missing)}"
    if rejected:
        detail += "；处理未通过：" + "、".join(f"{t} {n}" for t, n in sorted(rejected.items()))
    return Check("types", "每种消息类型至少一条处理通过", not missing, detail)


def _signed_check(entries: list[Entry]) -> Check:
    good = [e for e in entries if e.status < 400 or e.injected]
    bad = [e for e in entries if e.status == 401]
    kinds = sorted({e.problem for e in bad if e.problem})
    if not good:
        return Check("signed", "请求签名（RFC 9421）被平台接受", False, "没有一次签名请求被接受")
    detail = f"{len(good)} 次被接受，{len(bad)} 次签名或凭据被拒"
    if kinds:
        detail += f"（{'、'.join(kinds)}）"
    return Check("signed", "请求签名（RFC 9421）被平台接受", not bad, detail)


def _retry_check(entries: list[Entry]) -> Check:
    lost = [e for e in entries if e.injected == LOST and e.kind == "message"]
    if not lost:
        return Check(
            "retry", "应答丢失后原样重发（同一消息编号，遵守 Retry-After）", None, "尚未发送消息"
        )
    problems = []
    for e in lost:
        later = [
            x
            for x in entries
            if x.kind == "message" and x.method == "POST" and x.message_id == e.message_id
            and x.moment > e.moment and not x.injected
        ]  # fmt: skip
        if not later:
            problems.append(f"{e.message_type} {e.message_id} 未重发")
            continue
        first = later[0]
        waited = (first.moment - e.moment).total_seconds()
        if waited < e.retry_after - 0.2:
            problems.append(
                f"{e.message_type} 在 {waited:.1f} 秒后即重发（应至少等 {e.retry_after} 秒）"
            )
        if not any(x.status in (200, 202) for x in later):
            problems.append(f"{e.message_type} {e.message_id} 重发未被接受")
    detail = f"{len(lost)} 次应答被丢弃" + (
        "；" + "；".join(problems) if problems else "，均已原样重发并被接受"
    )
    return Check(
        "retry", "应答丢失后原样重发（同一消息编号，遵守 Retry-After）", not problems, detail
    )


def _conflict_check(entries: list[Entry]) -> Check:
    conflicts = [e for e in entries if e.kind == "message" and e.status == 409]
    detail = "无" if not conflicts else "、".join(sorted({e.message_id for e in conflicts}))
    return Check(
        "idempotent",
        "消息编号不重复用于不同内容",
        not conflicts,
        f"编号相同而内容不同被拒：{detail}",
    )


def _status_check(entries: list[Entry], stored: Iterable[Stored]) -> Check:
    polled = [e for e in entries if e.kind in ("status", "statuses") and e.status == 200]
    if not list(stored):
        return Check("status", "查询消息处理状态", None, "尚无已受理的消息")
    return Check(
        "status",
        "查询消息处理状态",
        bool(polled),
        f"状态查询 {len(polled)} 次（回执只说明已受理，处理结果须查询）",
    )


def _rejected_check(entries: list[Entry], stored: Iterable[Stored]) -> Check:
    rejected = {m.message_id: m for m in stored if m.status == "rejected" and m.applied_at}
    resent = sorted(
        {
            e.message_id
            for e in entries
            if e.kind == "message" and e.method == "POST" and e.message_id in rejected
            and e.moment > (rejected[e.message_id].applied_at or utcnow())
        }
    )  # fmt: skip
    detail = f"处理未通过 {len(rejected)} 条" + (
        f"；以原编号重发（应改正后用新编号发送）：{'、'.join(resent)}" if resent else ""
    )
    return Check("rejected", "处理未通过的消息改正后以新编号发送", not resent, detail)


def _refused_check(entries: list[Entry]) -> Check:
    refused: dict[str, int] = {}
    for e in entries:
        if (
            e.kind == "message"
            and e.method == "POST"
            and 400 <= e.status < 500
            and e.status not in (409, 429)
        ):
            refused[e.message_id] = refused.get(e.message_id, 0) + 1
    repeated = sorted(m for m, n in refused.items() if n > 2)
    detail = f"被拒 {len(refused)} 条" + (
        f"；原样反复重发：{'、'.join(repeated)}" if repeated else ""
    )
    return Check("refused", "被拒（4xx）的请求不原样反复重发", not repeated, detail)


def _files_check(db: Session, client_id: int, entries: list[Entry], *, required: bool) -> Check:
    files = db.scalars(select(ExchangeFile.sha256).where(ExchangeFile.client_id == client_id)).all()
    sent = [
        e for e in entries if e.kind in ("blob", "upload") and e.method in ("PUT", "POST", "PATCH")
    ]
    return Check(
        "files",
        "文件上传（PUT 或断点续传）",
        bool(files) or (None if not required else False),
        f"平台保存文件 {len(files)} 个，上传请求 {len(sent)} 次",
        required=required,
    )


def _resume_check(entries: list[Entry]) -> Check:
    lost = [e for e in entries if e.injected == LOST and e.kind == "upload"]
    if not lost:
        return Check(
            "resume",
            "断点续传：分块应答丢失后查询偏移并继续",
            None,
            "未使用断点续传（大文件须用 tus）",
            required=False,
        )
    problems = []
    for e in lost:
        later = [
            x
            for x in entries
            if x.kind == "upload" and x.upload == e.upload and x.moment > e.moment
        ]
        asked = any(x.method == "HEAD" and x.status == 200 for x in later)
        finished = any(x.method == "PATCH" and x.status == 204 for x in later) or asked
        if not asked:
            problems.append(f"上传 {e.upload[:8]}… 未以 HEAD 查询偏移")
        elif not finished:
            problems.append(f"上传 {e.upload[:8]}… 未继续")
    detail = f"{len(lost)} 次分块应答被丢弃" + (
        "；" + "；".join(problems) if problems else "，均已查询偏移并继续"
    )
    return Check("resume", "断点续传：分块应答丢失后查询偏移并继续", not problems, detail)


def _ledger_check(logged: list[Entry]) -> Check:
    ledger = [e for e in logged if e.kind == "ledger" and e.status == 200]
    return Check(
        "receipts",
        "回执核验（取存证日志公钥、检查点或证明）",
        bool(ledger) or None,
        f"存证日志请求 {len(ledger)} 次（可预置 /ledger/key 公钥离线核验回执签名）",
        required=False,
    )
