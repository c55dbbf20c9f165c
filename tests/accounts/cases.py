"""The accounts domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from tests.generic import AU, EVERYONE, IA, PUBLIC, A, C, P, Routes, S

ROUTES: Routes = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/login/captcha"): PUBLIC,
    ("GET", "/login/code"): PUBLIC,
    ("POST", "/login/code"): PUBLIC,
    ("POST", "/login/code/resend"): PUBLIC,
    ("GET", "/login/totp"): PUBLIC,
    ("POST", "/login/totp"): PUBLIC,
    ("POST", "/logout"): "home:view",
    ("GET", "/api/v1/me"): "home:view",
    ("GET", "/account/password"): "account:manage",
    ("POST", "/account/password"): "account:manage",
    ("GET", "/account/totp"): "account:manage",
    ("POST", "/account/login-code"): "account:manage",
    ("POST", "/account/totp/begin"): "account:manage",
    ("POST", "/account/totp/confirm"): "account:manage",
    ("POST", "/account/totp/disable"): "account:manage",
    ("GET", "/account/tokens"): "account:manage",
    ("POST", "/account/tokens"): "account:manage",
    ("POST", "/account/tokens/{token_id}/revoke"): "account:manage",
    ("GET", "/api/v1/tokens"): "account:manage",
    ("POST", "/api/v1/tokens"): "account:manage",
    ("DELETE", "/api/v1/tokens/{token_id}"): "account:manage",
    ("GET", "/admin/users"): "user:read",
    ("GET", "/admin/users/{user_id}"): "user:read",
    ("GET", "/api/v1/users"): "user:read",
    ("GET", "/api/v1/users/{user_id}"): "user:read",
    ("GET", "/admin/users/new"): "user:create",
    ("POST", "/admin/users"): "user:create",
    ("POST", "/api/v1/users"): "user:create",
    ("GET", "/admin/users/{user_id}/edit"): "user:update",
    ("POST", "/admin/users/{user_id}"): "user:update",
    ("POST", "/admin/users/{user_id}/lock"): "user:update",
    ("POST", "/admin/users/{user_id}/unlock"): "user:update",
    ("POST", "/admin/users/{user_id}/reset-password"): "user:update",
    ("PATCH", "/api/v1/users/{user_id}"): "user:update",
    ("POST", "/api/v1/users/{user_id}/lock"): "user:update",
    ("POST", "/api/v1/users/{user_id}/unlock"): "user:update",
    ("POST", "/admin/users/{user_id}/contact"): "personal_data:unmask",
    ("GET", "/api/v1/users/{user_id}/contact"): "personal_data:unmask",
    ("GET", "/admin/roles"): "role:read",
    ("GET", "/api/v1/roles"): "role:read",
    ("POST", "/admin/roles"): "role:update",
}

# API routes a token may not call: minting a token needs a logged-in person.
SESSION_ONLY = {("POST", "/api/v1/tokens")}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "account:manage": EVERYONE,
    "user:read": frozenset({P, A, C, S, IA, AU}),
    "user:create": frozenset({P, A, C, IA}),
    "user:update": frozenset({P, A, C, IA}),
    "role:read": frozenset({P, AU}),
    "role:update": frozenset({P}),
    "personal_data:unmask": frozenset({P, A, C}),
}
