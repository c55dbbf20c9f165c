"""Errors as RFC 9457 problem details with Chinese ``title`` / ``detail`` (DESIGN.md decision 8).

Domain code raises :class:`AppError` subclasses; the handlers registered by
:func:`install_error_handlers` turn them into ``application/problem+json`` on the API and into a
friendly Chinese page for browsers. ``type`` is a stable relative URI ``/problems/<slug>`` whose
page explains the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    """A stable kind of problem: its slug, HTTP status, and Chinese title and explanation."""

    slug: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


PROBLEM_TYPES: dict[str, ProblemType] = {}


def problem_type(slug: str, status: int, title: str, description: str) -> ProblemType:
    """Register a problem type (each slug once) and return it."""
    if slug in PROBLEM_TYPES:
        raise ValueError(f"problem type {slug!r} registered twice")
    kind = ProblemType(slug, status, title, description)
    PROBLEM_TYPES[slug] = kind
    return kind


BAD_REQUEST = problem_type("bad-request", 400, "请求有误", "请求的格式或参数不正确。")
VALIDATION = problem_type(
    "validation", 422, "数据校验未通过", "提交的数据有字段不符合要求，见 errors 中逐项说明。"
)
UNAUTHENTICATED = problem_type("unauthenticated", 401, "需要登录", "请先登录或提供有效的访问令牌。")
FORBIDDEN = problem_type("forbidden", 403, "无权操作", "当前账号的角色没有执行此操作的权限。")
NOT_FOUND = problem_type(
    "not-found", 404, "未找到", "所请求的对象不存在，或不在当前账号的数据范围内。"
)
METHOD_NOT_ALLOWED = problem_type(
    "method-not-allowed", 405, "方法不被允许", "该地址不支持此请求方法。"
)
CONFLICT = problem_type("conflict", 409, "数据冲突", "与已有数据冲突，例如编号或账号重复。")
TOO_LARGE = problem_type("too-large", 413, "内容过大", "请求体超过允许的大小。")
UNSUPPORTED_MEDIA = problem_type(
    "unsupported-media-type", 415, "不支持的内容类型", "请以 application/json 提交数据。"
)
CSRF = problem_type(
    "csrf", 403, "表单已失效", "表单缺少或带有无效的防伪令牌（CSRF），请刷新页面后重试。"
)
PASSWORD_EXPIRED = problem_type(
    "password-expired",
    403,
    "密码已过期",
    "密码已超过有效期：请登录后在 /account/password 修改密码，之后再调用接口"
    "（修改密码会吊销该账号的访问令牌，改后请重新申请令牌）。",
)
INTERNAL = problem_type(
    "internal", 500, "服务器内部错误", "服务器处理请求时出错，已记录，请稍后重试。"
)

BUSY = problem_type(
    "busy",
    503,
    "系统繁忙",
    "系统正忙，这次请求没有完成，也没有改动任何数据，请稍等几秒后重试。",
)


@dataclass
class FieldError:
    """One failing field: where (a path such as ``body.password``), and why in Chinese."""

    field: str
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


class AppError(Exception):
    """An error the user should see, as a problem type with a Chinese detail."""

    kind: ProblemType = BAD_REQUEST

    def __init__(
        self,
        detail: str | None = None,
        *,
        kind: ProblemType | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if kind is not None:
            self.kind = kind
        self.detail = detail or self.kind.description
        self.errors = errors or []
        self.headers = headers or {}
        super().__init__(self.detail)

    @property
    def status(self) -> int:
        return self.kind.status

    @property
    def on_page(self) -> str:
        """The detail as a form page says it: the API's "see errors" becomes a count of the
        fields marked beside them."""
        if self.errors and self.detail == VALIDATION.description:
            return f"有 {len(self.errors)} 处需要修改，请按下方标红的提示改正后再提交。"
        return self.detail

    def body(self, instance: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.kind.uri,
            "title": self.kind.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            data["instance"] = instance
        if self.errors:
            data["errors"] = [e.as_dict() for e in self.errors]
        return data


class BadRequest(AppError):
    kind = BAD_REQUEST


class ValidationFailed(AppError):
    kind = VALIDATION


class Unauthenticated(AppError):
    kind = UNAUTHENTICATED


class PermissionDenied(AppError):
    kind = FORBIDDEN


class NotFound(AppError):
    kind = NOT_FOUND


class Conflict(AppError):
    kind = CONFLICT


class CsrfFailed(AppError):
    kind = CSRF


class Busy(AppError):
    """The database could not take this request's writes in time (another writer held it):
    nothing was written; try again after ``Retry-After``."""

    kind = BUSY

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


class PasswordExpired(AppError):
    kind = PASSWORD_EXPIRED

    def body(self, instance: str | None = None) -> dict[str, Any]:
        # where the password is changed, for a program to show its user
        return {**super().body(instance), "change_password_url": "/account/password"}


# Pydantic error types in Chinese; anything else falls back to the library's own message.
_PYDANTIC_ZH = {
    "missing": "必填项缺失",
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数（不接受小数）",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "decimal_type": '应为数字或数字文本，如 "320.00"',
    "decimal_parsing": "应为数字",
    "decimal_max_places": "小数位数过多",
    "decimal_max_digits": "数字位数过多",
    "bool_type": "应为布尔值 true 或 false",
    "bool_parsing": "应为布尔值 true 或 false",
    "string_too_short": "长度不足",
    "string_too_long": "长度超出上限",
    "string_pattern_mismatch": "格式不正确",
    "too_short": "条目太少",
    "too_long": "条目太多",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "greater_than": "数值过小",
    "less_than": "数值过大",
    "enum": "不是允许的取值",
    "literal_error": "不是允许的取值",
    "json_invalid": "JSON 格式错误",
    "model_type": "应为 JSON 对象",
    "model_attributes_type": "应为 JSON 对象",
    "dict_type": "应为 JSON 对象",
    "list_type": "应为数组",
    "tuple_type": "应为数组",
    "set_type": "应为数组",
    "uuid_type": "应为 UUID 文本",
    "uuid_parsing": "UUID 格式不正确",
    "date_type": "应为 YYYY-MM-DD 格式的日期文本",
    "date_format": "日期格式不正确（应为 YYYY-MM-DD）",
    "date_from_datetime_parsing": "日期格式不正确（应为 YYYY-MM-DD）",
    "date_from_datetime_inexact": "日期格式不正确（应为 YYYY-MM-DD）",
    "date_parsing": "日期格式不正确（应为 YYYY-MM-DD）",
    "datetime_type": "应为 ISO 8601 时间文本，如 2026-11-20T09:30:00+08:00",
    "datetime_format": "时间格式不正确（应为 ISO 8601，如 2026-11-20T09:30:00+08:00）",
    "datetime_parsing": "时间格式不正确（应为 ISO 8601）",
    "datetime_from_date_parsing": "时间格式不正确（应为 ISO 8601）",
    "timezone_aware": "时间须带时区（如 +08:00）",
    "value_type": "应为数字、文本或 null",
    "extra_forbidden": "不允许的字段",
    "value_error": "取值不正确",
}

# A scalar of the wrong JSON type (error types ``*_type``): what was given, said in the message
# (应为整数（不接受字符串）), since strict validation converts nothing.
_GIVEN_ZH: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "（不接受 true/false）"),  # before int: a bool is an int in Python
    (str, "（不接受字符串）"),
    ((int, float), "（不接受数字）"),
    (type(None), "（不接受 null）"),
)


def _given(kind: str, value: Any) -> str:
    """What a ``*_type`` error refused, in words; empty for other errors."""
    if not kind.endswith("_type"):
        return ""
    if kind == "int_type" and isinstance(value, float):
        return "（不接受小数）"
    for types, words in _GIVEN_ZH:
        if isinstance(value, types):
            return words
    return ""


def errors_by_field(errors: list[FieldError]) -> dict[str, str]:
    """Field errors keyed by the field's own name (``body.phone`` -> ``phone``) for a form."""
    out: dict[str, str] = {}
    for e in errors:
        out.setdefault(e.field.split(".")[-1], e.message)
    return out


def field_errors_from_pydantic(errors: Any) -> list[FieldError]:
    """Translate pydantic's error list into field errors with Chinese messages."""
    out: list[FieldError] = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        kind = str(err.get("type", "invalid"))
        message = _PYDANTIC_ZH.get(kind, "")
        ctx = err.get("ctx") or {}
        if kind == "value_error" and "error" in ctx:
            message = str(ctx["error"])
        elif kind in {"string_too_short", "string_too_long"} and ctx:
            limit = ctx.get("min_length", ctx.get("max_length"))
            message = f"{message}（限 {limit} 个字符）"
        elif not message:
            message = str(err.get("msg", "取值不正确"))
        elif "input" in err:
            message += _given(kind, err["input"])
        out.append(FieldError(loc or "body", message, kind))
    return out


def wants_html(request: Request) -> bool:
    """Browsers get pages; API clients and everything under ``/api`` get problem+json."""
    path = request.url.path
    if path.startswith(("/api/", "/exchange/", "/ledger/proof", "/healthz", "/readyz")):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept
