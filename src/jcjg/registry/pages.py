"""Electronic licences (电子证照): the certificate, capability annex and signatory annex files of
an institution, kept in the blob store by SHA-256 (000 4.1.1 item 8)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.core.blobs import blob_store
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import AppError, FieldError, ValidationFailed
from jcjg.core.forms import Id, PostedForm
from jcjg.core.templating import redirect, render
from jcjg.generic.service import parse
from jcjg.generic.spec import EntitySpec
from jcjg.registry.models import ELicence
from jcjg.registry.specs import E_LICENCE_FIELDS
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
MAX_FILE = 20 * 1024 * 1024
ALLOWED = {"application/pdf", "image/png", "image/jpeg", "application/ofd"}
_SPEC = EntitySpec(kind="licences", model=ELicence, label="电子证照", fields=E_LICENCE_FIELDS)


def _page(
    request: Request, db: SessionDep, inst: Institution, status_code: int = 200, **extra: object
) -> Response:
    licences = db.scalars(
        select(ELicence).where(ELicence.institution_id == inst.id).order_by(ELicence.id.desc())
    ).all()
    context = {"inst": inst, "licences": licences, "fields": E_LICENCE_FIELDS, **extra}
    return render(request, "registry/licences.html", context, status_code=status_code)


@router.get("/registry/institutions/{institution_id}/licences", response_class=HTMLResponse)
def licences(
    request: Request,
    institution_id: Id,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("institution:read"))],
) -> Response:
    inst = get_scoped(db, Institution, institution_id, principal, "read")
    return _page(request, db, inst)


@router.post("/registry/institutions/{institution_id}/licences", response_class=HTMLResponse)
def upload(
    request: Request,
    institution_id: Id,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("institution:update"))],
    form: PostedForm,
) -> Response:
    inst = get_scoped(db, Institution, institution_id, principal, "update")
    upload = form.files.get("file")
    try:
        values = parse(
            _SPEC,
            {k: v for k, v in form.items() if k in {"kind", "number", "valid_until"}},
            partial=False,
        )
        if upload is None:
            raise ValidationFailed(errors=[FieldError("file", "请选择证照文件")])
        data = upload.data
        if len(data) > MAX_FILE:
            raise ValidationFailed(errors=[FieldError("file", "文件超过 20 MB")])
        content_type = (upload.content_type or "").split(";")[0]
        if content_type not in ALLOWED:
            raise ValidationFailed(errors=[FieldError("file", "只接受 PDF、OFD、PNG、JPEG 文件")])
    except AppError as error:
        messages = "；".join(e.message for e in error.errors) or error.detail
        return _page(request, db, inst, status_code=error.status, error=messages)
    digest = blob_store(request.app.state.settings).put(data)
    db.add(
        ELicence(
            institution_id=inst.id,
            region_code=inst.region_code,
            filename=upload.filename[:200],
            content_type=content_type,
            blob_digest=digest,
            size=len(data),
            **values,
        )
    )
    db.flush()
    return redirect(f"/registry/institutions/{inst.id}/licences?saved=1")


@router.get("/registry/licences/{licence_id}/file")
def download(
    request: Request,
    licence_id: Id,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("institution:read"))],
) -> Response:
    licence = get_scoped(db, ELicence, licence_id, principal, "read")
    data = blob_store(request.app.state.settings).get(licence.blob_digest)
    disposition = f"inline; filename*=UTF-8''{quote(licence.filename)}"
    return Response(
        data, media_type=licence.content_type, headers={"Content-Disposition": disposition}
    )
