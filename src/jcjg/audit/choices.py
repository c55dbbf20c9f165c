"""Audit actions with Chinese labels."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    LOCKED = "locked"
    LOGIN_THROTTLED = "login_throttled"
    DENIED = "denied"
    CSRF_FAILED = "csrf_failed"
    UNMASK = "unmask"
    PASSWORD_CHANGE = "password_change"  # noqa: S105 - an action name
    TOTP = "totp"
    EXPORT = "export"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    AuditAction.CREATE: "新建",
    AuditAction.UPDATE: "修改",
    AuditAction.DELETE: "删除",
    AuditAction.LOGIN: "登录",
    AuditAction.LOGIN_FAILED: "登录失败",
    AuditAction.LOGOUT: "退出",
    AuditAction.LOCKED: "账号锁定",
    AuditAction.LOGIN_THROTTLED: "登录受限（该地址失败过多）",
    AuditAction.DENIED: "越权被拒",
    AuditAction.CSRF_FAILED: "表单令牌无效",
    AuditAction.UNMASK: "查看未脱敏信息",
    AuditAction.PASSWORD_CHANGE: "修改密码",
    AuditAction.TOTP: "双因素认证设置",
    AuditAction.EXPORT: "导出列表",
}
