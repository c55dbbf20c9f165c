"""Video pages: the camera list, registering and changing a camera, its page (status, outages,
integrity, clips), watching it live or replaying a moment (hls.js), the playlists and segment
files the player fetches, a test record's replay with its curve in step, clip export and the
photos taken from the recording."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.config import Settings
from jcjg.core import listing
from jcjg.core.blobs import blob_store
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import BadRequest, NotFound, ValidationFailed, errors_by_field
from jcjg.core.forms import Id, PostedForm, form_id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import Column, Panel, redirect, render
from jcjg.projects.models import Project
from jcjg.registry.models import Equipment, Lab
from jcjg.sampling.models import SampleReceipt
from jcjg.tenancy.models import Institution
from jcjg.testing.models import Curve, TestRecord
from jcjg.video import clip_limits, clips, playback, service
from jcjg.video.choices import CameraForm, CameraStatus, PlaceKind
from jcjg.video.lists import CAMERAS, names
from jcjg.video.models import Camera, Clip, Segment, Snapshot
from jcjg.video.records import receipt_camera, record_camera
from jcjg.video.segments import as_utc, media_path
from jcjg.video.snapshots import MOMENTS

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("camera:read"))]
Writer = Annotated[Principal, Depends(requires("camera:write"))]
Watcher = Annotated[Principal, Depends(requires("camera:watch"))]
Exporter = Annotated[Principal, Depends(requires("camera:export"))]
TimeText = Annotated[str, Query(max_length=40)]

REPLAY_BEFORE = dt.timedelta(minutes=1)
REPLAY_AFTER = dt.timedelta(minutes=10)
PRIVATE = {"Cache-Control": "private, no-store"}
M3U8 = "application/vnd.apple.mpegurl"
_CHOICES: dict[str, Any] = {
    "places": {p.value: p for p in PlaceKind},
    "forms": {f.value: f for f in CameraForm},
    "statuses": {s.value: s for s in CameraStatus},
}
DONE = {"created": "摄像机已登记。", "updated": "摄像机信息已保存。", "retired": "摄像机已停用。"}


# --- times -----------------------------------------------------------------------------------


def parse_time(settings: Settings, text: str, field: str) -> dt.datetime:
    """An ISO time from a query or form (a time without zone is the platform's local time)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise BadRequest(f"时间格式不正确：{field}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.tz)
    return moment.astimezone(dt.UTC)


def local_input(settings: Settings, moment: dt.datetime | None) -> str:
    """A time as a ``datetime-local`` input shows it (the platform's zone)."""
    if moment is None:
        return ""
    return as_utc(moment).astimezone(settings.tz).strftime("%Y-%m-%dT%H:%M:%S")


# --- the list ---------------------------------------------------------------------------------


@router.get("/video/cameras", response_class=HTMLResponse)
def camera_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str, Query(max_length=64)] = "",
    place_kind: Annotated[str, Query(max_length=24)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    institution: Id | None = None,
) -> Response:
    """The cameras within scope, filtered and sorted; ``?format=xlsx`` exports them."""
    stmt = service.cameras_stmt(
        principal=principal, place_kind=place_kind, status=status, institution_id=institution, q=q
    )
    if params.exporting:
        return listing.export(request, db, CAMERAS, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, CAMERAS.order_for(params))
    rows = list(paged.rows)
    institutions = (
        []
        if principal.institution_id is not None
        else db.scalars(
            restrict(select(Institution), principal, "read").order_by(Institution.code).limit(500)
        ).all()
    )
    context = {
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, CAMERAS, params),
        "filters": {"q": q, "place_kind": place_kind, "status": status, "institution": institution},
        "institutions": institutions,
        "names": names(db, rows),
        **_CHOICES,
    }
    return render(request, "video/list.html", context)


# --- registering and changing ------------------------------------------------------------------


def _options(db: Session, institution_id: int | None) -> dict[str, Any]:
    """The labs and machines a camera of the institution may name."""
    if institution_id is None:
        return {"labs": [], "machines": []}
    labs = db.scalars(
        select(Lab).where(Lab.institution_id == institution_id).order_by(Lab.name)
    ).all()
    machines = db.scalars(
        select(Equipment).where(Equipment.institution_id == institution_id).order_by(Equipment.name)
    ).all()
    return {"labs": labs, "machines": machines}


def _form(
    request: Request,
    db: Session,
    principal: Principal,
    values: dict[str, Any],
    *,
    camera: Camera | None = None,
    error: ValidationFailed | None = None,
) -> Response:
    institution_id = camera.institution_id if camera else principal.institution_id
    errors = errors_by_field(error.errors) if error else {}
    context = {
        "values": values,
        "errors": errors,
        "other_errors": [m for k, m in errors.items() if k not in _SHOWN],
        "error": error.on_page if error else "",
        "camera": camera,
        "needs_institution": camera is None and principal.institution_id is None,
        **_options(db, institution_id),
        **_CHOICES,
    }
    return render(request, "video/form.html", context, status_code=422 if error else 200)


_SHOWN = {*service.FIELDS, "lab_id", "equipment_id", "project_id", "password", "institution_id"}


def _raw(db: Session, form: PostedForm) -> dict[str, Any]:
    """A posted camera form as the schema's input (ids read, the project by its code)."""
    values = form.values()
    raw: dict[str, Any] = {k: v for k, v in values.items() if k in service.FIELDS and v != ""}
    for key in ("lab_id", "equipment_id", "institution_id"):
        text = values.get(key, "")
        raw[key] = form_id(text) if text else None
        if text and raw[key] is None:
            raw[key] = "无效"  # the schema refuses it on the field
    code = values.get("project_code", "")
    if code:
        project_id = db.scalar(select(Project.id).where(Project.code == code))
        raw["project_id"] = project_id if project_id is not None else "无效"
    password = form.get("password") or ""
    raw["password"] = password or None
    return raw


def _values_of(db: Session, camera: Camera) -> dict[str, Any]:
    values: dict[str, Any] = {k: getattr(camera, k) for k in service.FIELDS}
    values.update(lab_id=camera.lab_id or "", equipment_id=camera.equipment_id or "")
    project = db.get(Project, camera.project_id) if camera.project_id else None
    values["project_code"] = project.code if project else ""
    return values


@router.get("/video/cameras/new", response_class=HTMLResponse)
def camera_new(request: Request, db: SessionDep, principal: Writer) -> Response:
    return _form(request, db, principal, {"form": "bullet", "place_kind": "mechanical"})


@router.post("/video/cameras", response_class=HTMLResponse)
def camera_create(
    request: Request, db: SessionDep, settings: SettingsDep, principal: Writer, form: PostedForm
) -> Response:
    try:
        data = service.parse(_raw(db, form))
        camera = service.create_camera(db=db, settings=settings, principal=principal, data=data)
    except ValidationFailed as error:
        db.rollback()
        return _form(request, db, principal, form.values(), error=error)
    return redirect(f"/video/cameras/{camera.id}?done=created")


@router.get("/video/cameras/{camera_id}/edit", response_class=HTMLResponse)
def camera_edit(request: Request, db: SessionDep, principal: Writer, camera_id: Id) -> Response:
    camera = get_scoped(db, Camera, camera_id, principal, "write")
    return _form(request, db, principal, _values_of(db, camera), camera=camera)


@router.post("/video/cameras/{camera_id}/edit", response_class=HTMLResponse)
def camera_update(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Writer,
    camera_id: Id,
    form: PostedForm,
) -> Response:
    camera = get_scoped(db, Camera, camera_id, principal, "write")
    try:
        raw = _raw(db, form) | {"institution_id": camera.institution_id}
        data = service.parse(raw)
        service.update_camera(
            db=db, settings=settings, principal=principal, camera_id=camera.id, data=data
        )
    except ValidationFailed as error:
        db.rollback()
        camera = get_scoped(db, Camera, camera_id, principal, "write")
        return _form(request, db, principal, form.values(), camera=camera, error=error)
    return redirect(f"/video/cameras/{camera_id}?done=updated")


@router.post("/video/cameras/{camera_id}/retire", response_class=HTMLResponse)
def camera_retire(db: SessionDep, principal: Writer, camera_id: Id) -> Response:
    service.retire_camera(db=db, principal=principal, camera_id=camera_id)
    return redirect(f"/video/cameras/{camera_id}?done=retired")


# --- a camera's page ---------------------------------------------------------------------------


@router.get("/video/cameras/{camera_id}", response_class=HTMLResponse)
def camera_detail(
    request: Request,
    db: SessionDep,
    principal: Reader,
    camera_id: Id,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    camera = get_scoped(db, Camera, camera_id, principal, "read")
    project = db.get(Project, camera.project_id) if camera.project_id else None
    recent_clips = (
        db.scalars(
            restrict(select(Clip), principal, "export")
            .where(Clip.camera_id == camera.id)
            .order_by(Clip.id.desc())
            .limit(20)
        ).all()
        if principal.can("camera:export")
        else []
    )
    context = {
        "camera": camera,
        "names": names(db, [camera]),
        "project": project,
        "outages": service.outages(db, camera.id),
        "problems": service.integrity_words(camera),
        "clips": recent_clips,
        "done": DONE.get(done, ""),
        "clip_done": done == "clip",
        **_CHOICES,
    }
    return render(request, "video/detail.html", context)


# --- watching ----------------------------------------------------------------------------------


@router.get("/video/cameras/{camera_id}/watch", response_class=HTMLResponse)
def camera_watch(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Watcher,
    camera_id: Id,
    at: TimeText = "",
) -> Response:
    """Live (no ``at``), or the replay around ``at``; one audit entry per opening."""
    camera = get_scoped(db, Camera, camera_id, principal, "watch")
    context: dict[str, Any] = {"camera": camera, "can_export": principal.can("camera:export")}
    if at:
        moment = parse_time(settings, at, "at")
        start, end = moment - REPLAY_BEFORE, moment + REPLAY_AFTER
        service.audit_watch(db, camera, mode="replay", start=start, end=end)
        context.update(
            mode="replay",
            source=_replay_url(camera.id, start, end),
            seek=moment.isoformat(),
            at_value=local_input(settings, moment),
            clip_start=local_input(settings, moment),
            clip_end=local_input(settings, moment + dt.timedelta(minutes=1)),
        )
    else:
        service.audit_watch(db, camera, mode="live")
        context.update(
            mode="live",
            source=f"/video/cameras/{camera.id}/live.m3u8",
            seek="",
            at_value="",
            clip_start="",
            clip_end="",
        )
    return render(request, "video/watch.html", context)


def _replay_url(camera_id: int, start: dt.datetime, end: dt.datetime) -> str:
    def q(moment: dt.datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    return f"/video/cameras/{camera_id}/replay.m3u8?start={q(start)}&end={q(end)}"


@router.get("/video/cameras/{camera_id}/live.m3u8")
def live_playlist(
    db: SessionDep, settings: SettingsDep, principal: Watcher, camera_id: Id
) -> Response:
    camera = get_scoped(db, Camera, camera_id, principal, "watch")
    body = playback.live_playlist(
        playback.live_segments(db, camera.id), settings.video_segment_seconds
    )
    return Response(body, media_type=M3U8, headers=PRIVATE)


@router.get("/video/cameras/{camera_id}/replay.m3u8")
def replay_playlist(
    db: SessionDep,
    settings: SettingsDep,
    principal: Watcher,
    camera_id: Id,
    start: TimeText,
    end: TimeText,
) -> Response:
    camera = get_scoped(db, Camera, camera_id, principal, "watch")
    begin, finish = parse_time(settings, start, "start"), parse_time(settings, end, "end")
    if finish <= begin or finish - begin > playback.MAX_REPLAY:
        raise BadRequest("回放时段须为 2 小时以内、结束晚于开始")
    segments = playback.replay_segments(db, camera.id, begin, finish)
    body = playback.replay_playlist(segments, settings.video_segment_seconds)
    return Response(body, media_type=M3U8, headers=PRIVATE)


@router.get("/video/segments/{segment_id}.ts")
def segment_file(
    db: SessionDep, settings: SettingsDep, principal: Watcher, segment_id: Id
) -> Response:
    segment = get_scoped(db, Segment, segment_id, principal, "watch")
    if segment.removed_at is not None:
        raise NotFound("录像已按保存期限删除")
    try:
        path = media_path(settings, segment.path)
    except ValueError as exc:
        raise NotFound() from exc
    if not path.is_file():
        raise NotFound("录像文件缺失")
    return FileResponse(
        path, media_type="video/mp2t", headers={"Cache-Control": "private, max-age=86400"}
    )


# --- a test record's replay ---------------------------------------------------------------------


@router.get("/video/replay/test-records/{record_id}", response_class=HTMLResponse)
def record_replay(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Watcher,
    record_id: Id,
) -> Response:
    """The record's camera at its start, with its first curve playing in step."""
    record = get_scoped(db, TestRecord, record_id, principal, "read")
    camera = record_camera(db, record)
    if camera is None or not _may(db, principal, camera, "watch"):
        raise NotFound("这条记录的试验过程没有录像")
    start = as_utc(record.started_at) - dt.timedelta(seconds=10)
    end = as_utc(record.ended_at) + dt.timedelta(minutes=1)
    service.audit_watch(db, camera, mode="replay", start=start, end=end)
    curve = db.scalars(
        select(Curve).where(Curve.test_record_id == record.id).order_by(Curve.id).limit(1)
    ).first()
    snapshots = db.scalars(
        select(Snapshot).where(Snapshot.test_record_id == record.id).order_by(Snapshot.taken_at)
    ).all()
    context = {
        "record": record,
        "camera": camera,
        "mode": "replay",
        "source": _replay_url(camera.id, start, end),
        "seek": as_utc(record.started_at).isoformat(),
        "curve": curve,
        "started": as_utc(record.started_at).isoformat(),
        "snapshots": snapshots,
        "moments": MOMENTS,
        "can_export": principal.can("camera:export"),
        "clip_start": local_input(settings, record.started_at),
        "clip_end": local_input(settings, record.ended_at),
    }
    return render(request, "video/record_replay.html", context)


def _may(db: Session, principal: Principal, camera: Camera, action: str) -> bool:
    if not principal.can(f"camera:{action}"):
        return False
    stmt = restrict(select(Camera.id).where(Camera.id == camera.id), principal, action)
    return db.scalar(stmt) is not None


# --- clips -------------------------------------------------------------------------------------


@router.post("/video/cameras/{camera_id}/clips", response_class=HTMLResponse)
def clip_create(
    db: SessionDep,
    settings: SettingsDep,
    principal: Exporter,
    camera_id: Id,
    form: PostedForm,
) -> Response:
    """Export the clip of ``start``–``end`` (at most 30 minutes), within the day's exports of
    the account and its institution and the exports running at once (429 beyond them)."""
    camera = get_scoped(db, Camera, camera_id, principal, "export")
    start = parse_time(settings, form.get("start") or "", "start")
    end = parse_time(settings, form.get("end") or "", "end")
    clips.check_range(start, end)
    clip_limits.check_quota(db, settings, principal)
    with clip_limits.export_slot(settings, principal):
        clip = clips.export_clip(
            db, settings, camera=camera, start=start, end=end, user_id=principal.user_id
        )
    service.audit_clip(
        db,
        camera,
        f"导出录像剪辑 {local_input(settings, clip.started_at)} 至 "
        f"{local_input(settings, clip.ended_at)}（{clip.duration_s:.0f} 秒）",
    )
    return redirect(f"/video/cameras/{camera.id}?done=clip#clips")


@router.get("/video/clips/{clip_id}.mp4")
def clip_file(db: SessionDep, settings: SettingsDep, principal: Exporter, clip_id: Id) -> Response:
    clip = get_scoped(db, Clip, clip_id, principal, "export")
    return Response(
        blob_store(settings).get(clip.blob_digest),
        media_type="video/mp4",
        headers={
            "Content-Disposition": f'attachment; filename="clip-{clip.id}.mp4"',
            **PRIVATE,
        },
    )


@router.get("/video/clips/{clip_id}/manifest.json")
def clip_manifest(db: SessionDep, principal: Exporter, clip_id: Id) -> Response:
    clip = get_scoped(db, Clip, clip_id, principal, "export")
    return JSONResponse(
        clips.manifest_document(clip),
        headers={
            "Content-Disposition": f'attachment; filename="clip-{clip.id}-manifest.json"',
            **PRIVATE,
        },
    )


# --- photos from the recording -----------------------------------------------------------------


@router.get("/video/snapshots/{snapshot_id}.jpg")
def snapshot_file(
    db: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(requires("test_record:read"))],
    snapshot_id: Id,
) -> Response:
    row = get_scoped(db, Snapshot, snapshot_id, principal, "read")
    return Response(
        blob_store(settings).get(row.blob_digest),
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=86400"},
    )


# --- what other pages show (hooks) --------------------------------------------------------------


def record_actions(db: Session, principal: Principal, record: TestRecord) -> Iterable[Panel]:
    """On a test record's page: 回放试验过程 when its recording covers it, and the photos."""
    if not principal.can("camera:watch"):
        return
    camera = record_camera(db, record)
    if camera is None or not _may(db, principal, camera, "watch"):
        return
    snapshots = db.scalars(
        select(Snapshot).where(Snapshot.test_record_id == record.id).order_by(Snapshot.taken_at)
    ).all()
    yield Panel(
        "video/_record_actions.html",
        {"record": record, "camera": camera, "snapshots": snapshots, "moments": MOMENTS},
        order=10,
    )


def receipt_column(
    db: Session, principal: Principal, receipts: list[SampleReceipt]
) -> Iterable[Column]:
    """In a sample's receipts: 查看收样视频, the receiving room's camera at that moment."""
    if not receipts or not principal.can("camera:watch"):
        return
    cells: dict[int, Markup | str] = {}
    for receipt in receipts:
        camera = receipt_camera(db, receipt.institution_id, receipt.checked_at)
        if camera is None or not _may(db, principal, camera, "watch"):
            continue
        at = as_utc(receipt.checked_at).strftime("%Y-%m-%dT%H:%M:%SZ")
        cells[receipt.id] = Markup(
            '<a href="/video/cameras/{}/watch?at={}" data-testid="receipt-video">查看收样视频</a>'
        ).format(camera.id, escape(at))
    yield Column("收样视频", cells, order=50)
