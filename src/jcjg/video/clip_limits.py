"""Limits on clip exports (each one joins up to 30 minutes of recording with ffmpeg and keeps
the MP4): so many per account and per institution (its accounts together) per day of the
platform's time zone, and so many at once per institution (an account of no institution, an
authority's: per account). Beyond them a 429 with ``Retry-After``.

The day's count is of the clips exported (their rows); exports running at that moment are held
to the concurrency limit. The slots of that limit are lock files in the data folder, each held
(``flock``) by the request exporting, whatever its process, and let go when it ends, or when
its process dies: nothing to clean up. Processes on other machines keep slots of their own.
"""

from __future__ import annotations

import datetime as dt
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.errors import AppError, problem_type
from jcjg.video.models import Clip

QUOTA = problem_type(
    "clip-export-quota",
    429,
    "今日录像剪辑导出已达上限",
    "今天导出录像剪辑的次数已达上限（每个账号、每个机构每天各有上限），请明天再导出；"
    "Retry-After 头给出距次日零时的秒数。",
)
BUSY = problem_type(
    "clip-export-busy",
    429,
    "录像剪辑正在导出",
    "同时进行的录像剪辑导出已达上限，请等正在进行的导出完成后再试（见 Retry-After 头）。",
)
BUSY_RETRY_SECONDS = 30  # about what an export of 30 minutes of recording takes


def day_start(settings: Settings, now: dt.datetime) -> dt.datetime:
    """The start (UTC) of the platform's day holding ``now``."""
    local = now.astimezone(settings.tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def _until_tomorrow(settings: Settings, now: dt.datetime) -> int:
    tomorrow = (now.astimezone(settings.tz) + dt.timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return max(int((tomorrow - now).total_seconds()) + 1, 1)


def _refuse(settings: Settings, now: dt.datetime, counted: str) -> AppError:
    return AppError(
        f"{counted}，请明天再导出。",
        kind=QUOTA,
        headers={"Retry-After": str(_until_tomorrow(settings, now))},
    )


def check_quota(
    db: Session, settings: Settings, principal: Principal, now: dt.datetime | None = None
) -> None:
    """Refuse (429) an export beyond the day's exports of the account or of its institution."""
    now = now or utcnow()
    today = select(func.count(Clip.id)).where(Clip.created_at >= day_start(settings, now))
    limit = settings.video_clip_exports_per_day_account
    if principal.user_id is not None:
        mine = db.scalar(today.where(Clip.requested_by == principal.user_id)) or 0
        if mine >= limit:
            raise _refuse(
                settings, now, f"本账号今天已导出 {mine} 个录像剪辑，每个账号每天最多 {limit} 个"
            )
    limit = settings.video_clip_exports_per_day_institution
    if principal.institution_id is not None:
        ours_today = today.join(User, User.id == Clip.requested_by).where(
            User.institution_id == principal.institution_id
        )
        ours = db.scalar(ours_today) or 0
        if ours >= limit:
            raise _refuse(
                settings, now, f"本机构今天已导出 {ours} 个录像剪辑，每个机构每天最多 {limit} 个"
            )


def _slot_key(principal: Principal) -> str:
    if principal.institution_id is not None:
        return f"institution-{principal.institution_id}"
    return f"account-{principal.user_id}"


@contextmanager
def export_slot(settings: Settings, principal: Principal) -> Iterator[None]:
    """Hold one of the institution's (or account's) export slots for the block; 429 when all
    are held."""
    folder = settings.data_dir / "locks" / "clip-exports"
    folder.mkdir(parents=True, exist_ok=True)
    key = _slot_key(principal)
    for n in range(settings.video_clip_exports_concurrent):
        handle = (folder / f"{key}-{n}.lock").open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        return
    limit = settings.video_clip_exports_concurrent
    raise AppError(
        f"正在进行的录像剪辑导出已有 {limit} 个（同时最多 {limit} 个），请等它们完成后再试。",
        kind=BUSY,
        headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
    )
