"""The exchange API's problem types: one stable ``type`` per reason a request is refused.

Vendors branch on ``type`` (``/problems/exchange-...``); the Chinese ``title`` and ``detail``
are for people. docs/exchange-api/errors.md lists them all (a test keeps the list complete).
"""

from __future__ import annotations

from typing import Any

from jcjg.core.errors import AppError, ProblemType, problem_type

SIGNATURE_MISSING = problem_type(
    "exchange-signature-missing",
    401,
    "缺少签名",
    "请求没有 Signature-Input 与 Signature 头（RFC 9421），或带了多个签名却无法确定用哪一个。",
)
SIGNATURE_MALFORMED = problem_type(
    "exchange-signature-malformed",
    401,
    "签名格式错误",
    "Signature-Input 或 Signature 不是合法的结构化字段，或签名覆盖了不支持的组件。",
)
SIGNATURE_INCOMPLETE = problem_type(
    "exchange-signature-incomplete",
    401,
    "签名覆盖不全",
    "签名须覆盖 @method、@target-uri，有请求体时还须覆盖 content-digest 与 content-type；"
    "须带 created、keyid、nonce 参数。",
)
SIGNATURE_INVALID = problem_type(
    "exchange-signature-invalid", 401, "签名无效", "按签名基串重新计算，签名与密钥不符。"
)
SIGNATURE_EXPIRED = problem_type(
    "exchange-signature-expired", 401, "签名已过期", "签名的 expires 参数所示时间已过。"
)
SIGNATURE_STALE = problem_type(
    "exchange-signature-stale",
    401,
    "签名时间超出允许范围",
    "签名的 created 与平台时间相差超过允许的秒数（默认 ±300 秒），请校准系统时钟。",
)
NONCE_REPLAYED = problem_type(
    "exchange-nonce-replayed",
    401,
    "签名重放",
    "该密钥在时间窗内已用过同一 nonce：每个请求须使用新的随机 nonce。",
)
KEY_UNKNOWN = problem_type(
    "exchange-key-unknown", 401, "密钥不存在", "签名的 keyid 不是平台签发的密钥。"
)
KEY_REVOKED = problem_type("exchange-key-revoked", 401, "密钥已吊销", "该密钥已被吊销，不能再用。")
KEY_NOT_YET_VALID = problem_type(
    "exchange-key-not-yet-valid", 401, "密钥尚未生效", "该密钥的生效时间还没到。"
)
KEY_EXPIRED = problem_type(
    "exchange-key-expired", 401, "密钥已过期", "该密钥已过有效期，请使用轮换后的新密钥。"
)
CLIENT_INACTIVE = problem_type(
    "exchange-client-inactive",
    401,
    "接入未开通或已停用",
    "该业务系统的接入申请尚未批准，或已被主管部门停用。",
)
DIGEST_MISMATCH = problem_type(
    "exchange-digest-mismatch",
    401,
    "请求体摘要不符",
    "Content-Digest（RFC 9530，sha-256 或 sha-512）缺失、格式错误或与请求体不一致。",
)
WRONG_INSTITUTION = problem_type(
    "exchange-wrong-institution",
    403,
    "不能报送其他机构的数据",
    "业务系统只能报送本机构的数据；其他平台只能报送其所辖区域内机构的数据。",
)
WRONG_SENDER = problem_type(
    "exchange-wrong-sender",
    403,
    "此类消息不由该类系统报送",
    "该消息类型只接受特定类型的接入系统报送（例如工程项目只由其他监管平台报送），"
    "或数据所属行政区划不在发送平台的辖区内。",
)
UNKNOWN_TYPE = problem_type(
    "exchange-unknown-type",
    404,
    "消息类型不存在",
    "平台没有这种消息类型；可用类型见 GET /exchange/v1/schemas。",
)
MESSAGE_CONFLICT = problem_type(
    "exchange-message-conflict",
    409,
    "消息编号重复但内容不同",
    "同一 message_id 已收到过内容不同的消息：重发须与原消息完全相同，新消息须用新编号。",
)
FILES_MISSING = problem_type(
    "exchange-files-missing",
    422,
    "引用的文件尚未上传",
    "消息按 SHA-256 引用的文件平台还没有收到，见 missing；请先上传这些文件再重发消息。",
)
MESSAGE_UNKNOWN = problem_type(
    "exchange-message-unknown",
    404,
    "消息不存在",
    "平台没有收到过本系统以该 message_id 报送的这类消息（或它未被受理）：请重发原消息。",
)
STORE_UNAVAILABLE = problem_type(
    "exchange-store-unavailable",
    503,
    "暂时无法保存",
    "平台暂时无法保存消息（数据库不可用），消息未被受理：请稍后用同一 message_id 重发。",
)
INVALID_JSON = problem_type(
    "exchange-invalid-json", 400, "JSON 格式错误", "请求体不是合法的 UTF-8 JSON 对象。"
)
BLOB_MISMATCH = problem_type(
    "exchange-blob-mismatch",
    422,
    "文件内容与 SHA-256 不符",
    "上传的内容的 SHA-256 与地址中的不一致（或与上传时声明的不一致）。",
)
UPLOAD_CONFLICT = problem_type(
    "exchange-upload-offset",
    409,
    "续传位置不符",
    "Upload-Offset 与平台已收到的字节数不一致：请先用 HEAD 取得当前位置再续传。",
)
CHECKSUM_MISMATCH = problem_type(
    "exchange-checksum-mismatch",
    460,
    "分块校验和不符",
    "Upload-Checksum 与收到的分块不一致（tus checksum 扩展），该分块未保存，请重传。",
)
TUS_VERSION = problem_type(
    "exchange-tus-version",
    412,
    "tus 协议版本不支持",
    "断点续传的每个请求须带 Tus-Resumable: 1.0.0（平台支持的 tus 版本见 Tus-Version 头）。",
)
UPLOAD_GONE = problem_type(
    "exchange-upload-gone", 410, "上传已过期或已取消", "该断点续传任务已过期或被终止。"
)


class ExchangeError(AppError):
    """An exchange refusal, with optional extension members (``missing`` for files)."""

    def __init__(
        self,
        kind: ProblemType,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail, kind=kind, headers=headers)
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        data = super().body(instance)
        data.update(self.extensions)
        return data


ALL = (
    SIGNATURE_MISSING,
    SIGNATURE_MALFORMED,
    SIGNATURE_INCOMPLETE,
    SIGNATURE_INVALID,
    SIGNATURE_EXPIRED,
    SIGNATURE_STALE,
    NONCE_REPLAYED,
    KEY_UNKNOWN,
    KEY_REVOKED,
    KEY_NOT_YET_VALID,
    KEY_EXPIRED,
    CLIENT_INACTIVE,
    DIGEST_MISMATCH,
    WRONG_INSTITUTION,
    UNKNOWN_TYPE,
    MESSAGE_CONFLICT,
    MESSAGE_UNKNOWN,
    STORE_UNAVAILABLE,
    FILES_MISSING,
    INVALID_JSON,
    BLOB_MISMATCH,
    UPLOAD_CONFLICT,
    CHECKSUM_MISMATCH,
    TUS_VERSION,
    UPLOAD_GONE,
)
