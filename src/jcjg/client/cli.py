"""``jcjg-client``: send messages and files to the platform from a lab's shell or scheduler.

Everything goes through the outbox file (``--outbox``, default ``./jcjg-outbox.sqlite3``),
so a message that cannot be sent now is not lost: ``send`` enqueues and tries once, ``run``
keeps sending (as a service, or ``--until-empty`` from cron), ``outbox`` shows what waits or
failed and why, ``retry`` queues failed messages again once the cause is fixed. ``put``
uploads a single file and prints its SHA-256 for use in a message.

Only argparse: the command must run where the client runs, with httpx and cryptography only.

Exit status: 0 done; 1 a message or file was refused (see ``outbox``); 2 bad usage or
configuration; 3 not sent yet, for now (network or platform trouble: it stays queued).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jcjg.client import onvif
from jcjg.client.api import Client
from jcjg.client.errors import ClientError, PermanentError, TransientError
from jcjg.client.outbox import Outbox, OutboxMessage, Sender, SentMessage

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LATER = 3
DEFAULT_OUTBOX = "jcjg-outbox.sqlite3"


class UsageError(Exception):
    """Missing or unusable configuration (exit status 2)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jcjg-client",
        description="检测机构业务系统向监管平台报送数据（签名消息、回执校验、文件上传、本地发件箱）。",
        epilog="退出码：0 成功；1 被平台拒绝（见 outbox）；2 用法或配置错误；"
        "3 暂未发出（已留在发件箱）。",
    )
    parser.add_argument("--url", help="平台地址，如 https://jcjg.example.cn（或 JCJG_CLIENT_URL）")
    parser.add_argument("--key-id", help="平台签发的密钥编号（或 JCJG_CLIENT_KEY_ID）")
    parser.add_argument(
        "--key-file",
        help="私钥文件：Ed25519 或 SM2 私钥 PEM，或 HMAC 密钥的 Base64（或 JCJG_CLIENT_KEY_FILE）",
    )
    parser.add_argument(
        "--alg",
        choices=("ed25519", "sm2-sm3", "hmac-sha256"),
        help="签名算法（默认按密钥文件推断：PEM 为 ed25519 或 sm2-sm3，其余为 hmac-sha256）",
    )
    parser.add_argument(
        "--outbox",
        help=f"发件箱文件（SQLite，默认 ./{DEFAULT_OUTBOX}，或 JCJG_CLIENT_OUTBOX）",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="单个请求的超时秒数")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    send = sub.add_parser(
        "send", help="把消息放入发件箱，立即尝试发送一次，并等待平台处理完（--wait 秒）"
    )
    send.add_argument("type", metavar="TYPE", help="消息类型，如 registry.labs")
    send.add_argument("json_file", metavar="FILE.json", help="消息内容（JSON 对象；- 为标准输入）")
    send.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="PATH",
        help="消息按 SHA-256 引用的本地文件（可重复），平台缺少时自动上传",
    )
    send.add_argument(
        "--wait",
        type=float,
        default=30.0,
        help="等待平台处理（applied/rejected）的最长秒数，0 为不等（默认 30）",
    )

    listing = sub.add_parser(
        "outbox", help="列出待发送、发送失败、平台处理未通过的消息，以及处理的滞后"
    )
    listing.add_argument("--json", action="store_true", help="以 JSON 输出")

    retry = sub.add_parser(
        "retry",
        help="把发送失败的消息重新排队；平台处理未通过的消息以新的编号重新排队",
    )
    retry.add_argument("ids", nargs="*", metavar="ID", help="消息编号（message_id）")
    retry.add_argument("--all", action="store_true", help="全部失败与未通过的消息")

    run = sub.add_parser("run", help="持续发送发件箱中的消息")
    run.add_argument(
        "--until-empty", action="store_true", help="没有待发送的消息时退出（适合定时任务）"
    )
    run.add_argument("--max-time", type=float, default=None, help="最多运行的秒数")

    put = sub.add_parser("put", help="上传一个文件并输出其 SHA-256")
    put.add_argument("path", metavar="FILE")

    keygen = sub.add_parser(
        "keygen", help="生成签名密钥对：私钥写入文件（仅本人可读），公钥 PEM 输出到标准输出"
    )
    keygen.add_argument("path", metavar="PRIVATE_KEY_FILE")
    keygen.add_argument(
        "--alg",
        dest="keygen_alg",
        choices=("ed25519", "sm2-sm3"),
        default=None,
        help="算法（默认同 --alg，否则 ed25519；sm2-sm3 需安装 jcjg[sm]）",
    )

    cameras = sub.add_parser(
        "cameras",
        help="在本机构局域网内用 ONVIF 发现摄像机，输出 video.camera 消息的摄像机记录（JSON）",
    )
    cameras.add_argument(
        "--probe",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="向指定地址发送发现请求（可重复；默认向组播地址 239.255.255.250:3702 发送）",
    )
    cameras.add_argument("--user", default="", help="摄像机的 ONVIF 用户名")
    cameras.add_argument(
        "--password-env",
        default="JCJG_CAMERA_PASSWORD",
        metavar="NAME",
        help="从该环境变量读取 ONVIF 密码（默认 JCJG_CAMERA_PASSWORD；密码不出现在命令行）",
    )
    cameras.add_argument("--wait", type=float, default=3.0, help="等待设备应答的秒数（默认 3）")
    return parser


def _setting(value: str | None, env: str) -> str | None:
    return value if value else os.environ.get(env) or None


def _client(args: argparse.Namespace) -> Client:
    url = _setting(args.url, "JCJG_CLIENT_URL")
    key_id = _setting(args.key_id, "JCJG_CLIENT_KEY_ID")
    key_file = _setting(args.key_file, "JCJG_CLIENT_KEY_FILE")
    missing = [
        name
        for name, value in (("--url", url), ("--key-id", key_id), ("--key-file", key_file))
        if not value
    ]
    if missing:
        raise UsageError(f"缺少 {', '.join(missing)}（或对应的 JCJG_CLIENT_* 环境变量）")
    assert url is not None
    assert key_id is not None
    assert key_file is not None
    try:
        data = Path(key_file).read_bytes()
    except OSError as exc:
        raise UsageError(f"无法读取密钥文件 {key_file}: {exc}") from exc
    # PEM stays bytes (an Ed25519 key); anything else is base64 text (an HMAC secret, or an
    # Ed25519 seed with --alg ed25519).
    material: str | bytes = data if data.lstrip().startswith(b"-----BEGIN") else data.decode()
    try:
        return Client(url, key_id, material.strip(), alg=args.alg, timeout=args.timeout)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"密钥文件 {key_file} 不可用: {exc}") from exc


def _outbox(args: argparse.Namespace) -> Outbox:
    return Outbox(_setting(args.outbox, "JCJG_CLIENT_OUTBOX") or DEFAULT_OUTBOX)


def _when(moment: float | None) -> str:
    if moment is None:
        return "-"
    return dt.datetime.fromtimestamp(moment).astimezone().isoformat(timespec="seconds")


def _describe(message: OutboxMessage) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "message_type": message.message_type,
        "status": message.status,
        "attempts": message.attempts,
        "created_at": _when(message.created_at),
        "next_attempt_at": _when(message.next_attempt_at) if message.status == "pending" else None,
        "last_error": message.last_error,
        "problem": message.problem,
    }


def _print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _send(args: argparse.Namespace) -> int:
    try:
        raw = sys.stdin.read() if args.json_file == "-" else Path(args.json_file).read_text("utf-8")
        payload = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise UsageError(f"无法读取消息 {args.json_file}: {exc}") from exc
    if not isinstance(payload, dict):
        raise UsageError("消息须是 JSON 对象")
    with _client(args) as client, _outbox(args) as outbox:
        try:
            message_id = outbox.enqueue(args.type, payload, files=args.file)
        except (OSError, ValueError) as exc:
            raise UsageError(str(exc)) from exc
        sender = Sender(client, outbox)
        sender.run_once()
        if outbox.receipt(message_id) is not None:
            return _settled(sender, outbox, message_id, args.wait)
        left = outbox.get(message_id)
        assert left is not None
        _print_json(_describe(left))
        if left.status == "failed":
            print(f"消息 {message_id} 被拒绝，见上；修正后可 retry", file=sys.stderr)
            return EXIT_FAILED
        print(f"消息 {message_id} 暂未发出，已留在发件箱，run 会继续发送", file=sys.stderr)
        return EXIT_LATER


def _settled(sender: Sender, outbox: Outbox, message_id: str, wait: float) -> int:
    """Follow a sent message up to ``wait`` seconds; print its receipt and where it stands."""
    deadline = time.monotonic() + wait
    while wait > 0:
        with contextlib.suppress(TransientError):
            sender.follow_once()
        (sent,) = outbox.sent(message_id)
        if sent.outcome != "accepted" or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    (sent,) = outbox.sent(message_id)
    _print_json({**sent.receipt.raw, "outcome": sent.status.raw if sent.status else None})
    if sent.outcome == "rejected":
        print(
            f"消息 {message_id} 经平台处理未通过，见 outcome.problem；修正后可 retry",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if sent.outcome == "accepted" and wait > 0:
        print(f"消息 {message_id} 已受理，平台尚未处理完；run 会继续跟踪", file=sys.stderr)
    return EXIT_OK


def _describe_rejected(sent: SentMessage) -> dict[str, Any]:
    return {
        "message_id": sent.message_id,
        "message_type": sent.message_type,
        "status": "rejected",
        "sent_at": _when(sent.sent_at),
        "problem": sent.status.problem if sent.status else None,
    }


def _list(args: argparse.Namespace) -> int:
    with _outbox(args) as outbox:
        messages = outbox.messages()
        rejected = outbox.rejected()
        awaiting, lag = outbox.awaiting(), outbox.lag()
    if args.json:
        _print_json([_describe(m) for m in messages] + [_describe_rejected(r) for r in rejected])
        return EXIT_OK
    if not messages and not rejected:
        print("发件箱为空")
    for m in messages:
        nxt = _when(m.next_attempt_at) if m.status == "pending" else "-"
        print(f"{m.message_id}  {m.message_type}  {m.status}  attempts={m.attempts}  next={nxt}")
        if m.last_error:
            print(f"    {m.last_error}")
    for r in rejected:
        problem = r.status.problem if r.status else None
        print(f"{r.message_id}  {r.message_type}  rejected  sent={_when(r.sent_at)}")
        if problem:
            print(f"    {problem.get('title', '')}：{problem.get('detail', '')}")
    if awaiting:
        print(f"已受理待平台处理 {awaiting} 条，最久已等 {lag:.0f} 秒")
    return EXIT_OK


def _retry(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.all):
        raise UsageError("请给出消息编号，或 --all（二者选一）")
    with _outbox(args) as outbox:
        try:
            count = outbox.retry(None if args.all else args.ids)
            resent = outbox.resend(None if args.all else args.ids)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    print(f"已重新排队 {count + len(resent)} 条消息")
    for old, new in resent.items():
        print(f"    {old} 处理未通过，以新编号 {new} 重新排队")
    done = count + len(resent)
    return EXIT_OK if args.all or done == len(args.ids) else EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    with _client(args) as client, _outbox(args) as outbox:
        report = Sender(client, outbox).drain(until_empty=args.until_empty, timeout=args.max_time)
        left = outbox.pending()
        rejected = outbox.rejected()
    print(
        f"已发送 {len(report.sent)} 条，失败 {len(report.failed)} 条，"
        f"待重试 {len(left)} 条，上传文件 {len(report.uploaded)} 个；"
        f"平台已处理 {len(report.applied)} 条，未通过 {len(report.rejected)} 条"
    )
    if report.failed or rejected:
        return EXIT_FAILED
    return EXIT_LATER if left else EXIT_OK


def _put(args: argparse.Namespace) -> int:
    with _client(args) as client, _outbox(args) as outbox:
        try:
            sha256 = client.put_file(args.path, upload_urls=outbox.upload_urls)
        except OSError as exc:
            raise UsageError(f"无法读取 {args.path}: {exc}") from exc
    print(sha256)
    return EXIT_OK


def _probe_target(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    try:
        return (host or text, int(port) if port else onvif.MULTICAST[1])
    except ValueError as exc:
        raise UsageError(f"--probe 应为 主机[:端口]：{text}") from exc


def _keygen(args: argparse.Namespace) -> int:
    """A new key pair: the private key (PKCS #8 PEM) in a new file of mode 0600, never
    overwritten; the public key's PEM printed, to register with the platform."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from jcjg.exchange.signatures import SM2SigningKey
    from jcjg.ledger.sm import SMUnavailable

    try:
        if (args.keygen_alg or args.alg) == "sm2-sm3":
            sm2 = SM2SigningKey.generate()
            private, public = sm2.private_pem(), sm2.verifying_key().public_pem()
        else:
            ed = Ed25519PrivateKey.generate()
            private = ed.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            public = ed.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
    except SMUnavailable as exc:
        raise UsageError(str(exc)) from exc
    try:
        fd = os.open(args.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UsageError(f"无法新建私钥文件 {args.path}（已存在的文件不会被覆盖）: {exc}") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    sys.stdout.write(public.decode("ascii"))
    return EXIT_OK


def _cameras(args: argparse.Namespace) -> int:
    targets = [_probe_target(t) for t in args.probe] or [onvif.MULTICAST]
    password = os.environ.get(args.password_env, "")
    records: list[dict[str, Any]] = []
    problems = []
    for device in onvif.discover(timeout=args.wait, targets=targets):
        try:
            records += onvif.camera_records(device, args.user, password)
        except onvif.OnvifError as exc:
            problems.append(str(exc))
    json.dump(records, sys.stdout, ensure_ascii=False, indent=2)
    print()
    for problem in problems:
        print(f"jcjg-client: {problem}", file=sys.stderr)
    if not records:
        print("jcjg-client: 没有发现可用的摄像机", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


COMMANDS = {
    "send": _send,
    "outbox": _list,
    "retry": _retry,
    "run": _run,
    "put": _put,
    "keygen": _keygen,
    "cameras": _cameras,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"jcjg-client: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TransientError as exc:
        print(f"jcjg-client: 暂时无法完成，请稍后再试：{exc}", file=sys.stderr)
        return EXIT_LATER
    except PermanentError as exc:
        print(f"jcjg-client: 平台拒绝：{exc}", file=sys.stderr)
        return EXIT_FAILED
    except ClientError as exc:
        print(f"jcjg-client: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
