"""JSON API for accounts: who am I, users, API tokens, roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from jcjg.accounts import service
from jcjg.accounts.schemas import (
    Me,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserCreated,
    UserRead,
    UserUpdate,
)
from jcjg.auth import sessions
from jcjg.auth.choices import Role
from jcjg.auth.deps import requires
from jcjg.auth.models import ApiToken, User
from jcjg.auth.permissions import default_grants, permissions
from jcjg.auth.scopes import Principal
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import CONFLICT
from jcjg.core.forms import Id
from jcjg.core.masking import mask_value
from jcjg.core.openapi import answers
from jcjg.core.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["账号与权限"], route_class=TransactionalRoute)


def user_read(user: User) -> UserRead:
    """The API view of a user: contact data masked."""
    return UserRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        role_label=Role(user.role).label,
        region_code=user.region_code,
        institution_id=user.institution_id,
        phone=mask_value("phone", user.phone) if user.phone else None,
        email=mask_value("email", user.email) if user.email else None,
        enforcement_card=user.enforcement_card,
        is_active=user.is_active,
        is_locked=sessions.is_locked(user),
        must_change_password=user.must_change_password,
        totp_enabled=user.totp_enabled,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
    )


@router.get("/me", summary="当前账号", response_model=Me)
def me(principal: Annotated[Principal, Depends(requires("home:view", allow_expired=True))]) -> Me:
    return Me(
        id=principal.user_id,
        username=principal.username,
        display_name=principal.display_name,
        role=principal.role,
        role_label=principal.role.label if principal.role else "",
        scope=principal.scope_label(),
        region_code=principal.region_code,
        institution_id=principal.institution_id,
        project_ids=sorted(principal.project_ids),
        permissions=sorted(principal.permissions),
    )


@router.get("/users", summary="用户列表（按数据范围）", response_model=Page[UserRead])
def list_users(
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("user:read"))],
    paging: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str | None, Query(max_length=64, description="用户名或姓名")] = None,
    role: Role | None = None,
) -> Page[UserRead]:
    rows, total = service.list_users(
        db=db, principal=principal, q=q, role=role, offset=paging.offset, limit=paging.limit
    )
    return Page(
        items=[user_read(u) for u in rows], total=total, offset=paging.offset, limit=paging.limit
    )


@router.post(
    "/users",
    summary="新建用户",
    status_code=201,
    response_model=UserCreated,
    responses=answers({409: (CONFLICT,)}),  # the user name is taken
)
def create_user(
    data: UserCreate,
    db: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(requires("user:create"))],
) -> UserCreated:
    user, generated = service.create_user(db=db, settings=settings, principal=principal, data=data)
    return UserCreated(**user_read(user).model_dump(), initial_password=generated)


@router.get("/users/{user_id}", summary="用户详情", response_model=UserRead)
def get_user(
    user_id: Id, db: SessionDep, principal: Annotated[Principal, Depends(requires("user:read"))]
) -> UserRead:
    return user_read(service.get_user(db=db, principal=principal, user_id=user_id))


@router.patch("/users/{user_id}", summary="修改用户", response_model=UserRead)
def update_user(
    user_id: Id,
    data: UserUpdate,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("user:update"))],
) -> UserRead:
    return user_read(service.update_user(db=db, principal=principal, user_id=user_id, data=data))


@router.post("/users/{user_id}/lock", summary="锁定用户", response_model=UserRead)
def lock_user(
    user_id: Id, db: SessionDep, principal: Annotated[Principal, Depends(requires("user:update"))]
) -> UserRead:
    return user_read(service.lock_user(db=db, principal=principal, user_id=user_id))


@router.post("/users/{user_id}/unlock", summary="解锁用户", response_model=UserRead)
def unlock_user(
    user_id: Id, db: SessionDep, principal: Annotated[Principal, Depends(requires("user:update"))]
) -> UserRead:
    return user_read(service.unlock_user(db=db, principal=principal, user_id=user_id))


@router.get(
    "/users/{user_id}/contact",
    summary="查看用户联系方式原文（留痕）",
    response_model=dict[str, str | None],
)
def user_contact(
    user_id: Id,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("personal_data:unmask"))],
) -> dict[str, str | None]:
    return service.unmasked_contact(db=db, principal=principal, user_id=user_id)


def token_read(row: ApiToken) -> TokenRead:
    return TokenRead.model_validate(row)


@router.get("/tokens", summary="本人的访问令牌", response_model=list[TokenRead])
def list_tokens(
    db: SessionDep, principal: Annotated[Principal, Depends(requires("account:manage"))]
) -> list[TokenRead]:
    return [token_read(t) for t in service.list_api_tokens(db=db, principal=principal)]


@router.post(
    "/tokens",
    summary="新建访问令牌（令牌只显示一次）",
    status_code=201,
    response_model=TokenCreated,
)
def create_token(
    data: TokenCreate,
    db: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(requires("account:manage", allow_token=False))],
) -> TokenCreated:
    user = db.get(User, principal.user_id)
    assert user is not None
    token, row = sessions.create_api_token(
        db=db, settings=settings, user=user, name=data.name, days=data.days
    )
    return TokenCreated(**token_read(row).model_dump(), token=token)


@router.delete("/tokens/{token_id}", summary="吊销访问令牌", status_code=204)
def revoke_token(
    token_id: Id,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("account:manage"))],
) -> Response:
    service.revoke_api_token(db=db, principal=principal, token_id=token_id)
    return Response(status_code=204)


class RoleRead(BaseModel):
    role: Role
    label: str
    scope_kind: str
    permissions: list[str]
    default_permissions: list[str]


class RolesRead(BaseModel):
    roles: list[RoleRead]
    permissions: dict[str, str]


@router.get("/roles", summary="角色及其权限", response_model=RolesRead)
def list_roles(
    db: SessionDep, principal: Annotated[Principal, Depends(requires("role:read"))]
) -> RolesRead:
    defaults = default_grants()
    roles = [
        RoleRead(
            role=role,
            label=role.label,
            scope_kind=role.scope_kind.value,
            permissions=sorted(sessions.effective_permissions(db=db, role=role)),
            default_permissions=sorted(defaults[role]),
        )
        for role in Role
    ]
    return RolesRead(roles=roles, permissions=permissions())
