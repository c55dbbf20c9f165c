"""One machinery for every list page: sortable columns, page numbers, a count, and export of
the filtered rows (``?format=xlsx`` on the list's own address).

A list declares a :class:`ListView` (its columns with Chinese labels, which of them sort and by
what expression, its default :class:`~jcjg.core.pagination.Order`, and how a batch of rows
becomes the text cells of an export, personal data masked as on the page). Its page takes
:func:`list_params` (``sort``, ``order``, ``format``) and either renders (a :class:`Listing`
gives the templates header links, the export link and the pager's base, all keeping the
filters) or answers :func:`export` with the same statement:

- up to :data:`BACKGROUND_ABOVE` rows (``Settings.list_export_background_above``) the .xlsx
  (openpyxl) comes back at once;
- beyond, the export runs in the background (a thread, or at once where threads are off) into
  ``<data_dir>/exports/<token>/``; the answer leads to a page with its progress and, when done,
  the download link (``jcjg.audit.exports``);
- beyond :data:`XLSX_MAX_ROWS` (the sheet's limit) the file is CSV (UTF-8 with BOM).

Every export is written to the audit log through the ``list.exported`` hook (the audit domain
answers it), in the request's transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Select
from sqlalchemy.orm import Session, load_only, sessionmaker

from jcjg.config import Settings
from jcjg.core import domains
from jcjg.core.errors import BadRequest
from jcjg.core.later import reading_session
from jcjg.core.pagination import Key, Order, PageParams, count_rows, count_total, paginate
from jcjg.core.text import printable

log = logging.getLogger("jcjg.exports")

BACKGROUND_ABOVE = 50_000  # default of Settings.list_export_background_above
XLSX_MAX_ROWS = 1_048_575  # a sheet's 1,048,576 rows, the header one of them
BATCH = 1_000  # rows read and written at a time
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
SORT_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
# query parameters that are not filters: the pager's, the sort's, the format, and the notices
# a page shows once after a step (``?done=confirm&n=3``, ``?deleted=1``)
NOT_FILTERS = frozenset(
    {"offset", "limit", "after", "before", "page", "sort", "order", "format"}
    | {"done", "n", "saved", "deleted"}
)

Cells = Callable[[Session, Sequence[Any]], list[list[str]]]


@dataclass(frozen=True)
class Column:
    """One column of a list: its ``key`` (``?sort=<key>``), Chinese ``label`` (header on the
    page and in exports) and the expression it sorts by (``None``: it does not sort)."""

    key: str
    label: str
    sort: Any = None


@dataclass(frozen=True)
class ListParams:
    sort: str | None = None
    order: str | None = None  # asc / desc
    format: str = "html"  # html / xlsx / csv

    @property
    def exporting(self) -> bool:
        return self.format != "html"


async def list_params(
    sort: Annotated[str | None, Query(pattern=SORT_PATTERN, description="排序列")] = None,
    order: Annotated[str | None, Query(pattern="^(asc|desc)$", description="升序或降序")] = None,
    format: Annotated[
        str, Query(pattern="^(html|xlsx|csv)$", description="html、xlsx 或 csv")
    ] = "html",
) -> ListParams:
    return ListParams(sort or None, order or None, format)


@dataclass(frozen=True)
class ListView:
    """A list: ``name`` (audit object type), Chinese ``title`` (sheet and file name), its
    ``columns``, its default ``order`` (keyset paging) and ``cells``, which turns a batch of
    rows into the export's text cells, one per column, masked as on the page.

    ``shown``, when given, names the attributes of the list's entity its page reads (those it
    shows, links with and pages by): :meth:`page_statement` loads them alone, so a row's other
    columns (the JSON of its results, its lists of people) are neither sent by the database
    nor decoded for a page that does not show them. Reading another still works, at a
    statement a row: the list's tests count the page's statements for that."""

    name: str
    title: str
    columns: tuple[Column, ...]
    order: Order
    cells: Cells
    shown: tuple[Any, ...] = ()

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)

    @property
    def sortable(self) -> list[Column]:
        return [c for c in self.columns if c.sort is not None]

    def order_for(self, params: ListParams) -> Order:
        """The order ``params`` asks for: the default, or a sortable column's (then the row's
        id, so the order is total; paged by offset). An unknown column is a bad request."""
        if not params.sort:
            if params.order == "asc":  # the default order reversed
                keys = tuple(Key(k.column, k.read, not k.descending) for k in self.order.keys)
                return Order(keys, self.order.sample)
            return self.order
        chosen = self.column(params.sort)
        if chosen is None or chosen.sort is None:
            names = "、".join(c.label for c in self.sortable) or "无"
            raise BadRequest(f"该列表不能按此列排序（可排序的列：{names}）")
        descending = params.order != "asc"
        unique = self.order.keys[-1]
        keys = (Key(chosen.sort, _unread, descending), Key(unique.column, unique.read, descending))
        return Order(keys, (None, self.order.sample[-1]), offset_only=True)

    def header(self) -> list[str]:
        return [c.label for c in self.columns]

    def page_statement(self, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` reading only what the page shows (:attr:`shown`; all when none named)."""
        return stmt.options(load_only(*self.shown)) if self.shown else stmt


def _unread(row: Any) -> Any:  # pragma: no cover - an offset-only order makes no cursors
    raise TypeError("an offset-only order has no cursor")


@dataclass
class Listing:
    """What a list's templates need to link within it: header links that sort (keeping the
    filters), the export link, and the pager's base (filters and sort)."""

    view: ListView
    params: ListParams
    path: str
    filters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, request: Request, view: ListView, params: ListParams) -> Listing:
        """The listing of ``request``: its filters are its query parameters but the pager's,
        the sort's and the format (empty ones dropped)."""
        filters = {
            k: v for k, v in request.query_params.multi_items() if k not in NOT_FILTERS and v
        }
        return cls(view, params, request.url.path, filters)

    def _href(self, extra: dict[str, str]) -> str:
        query = urlencode(self.filters | {k: v for k, v in extra.items() if v})
        return f"{self.path}?{query}" if query else self.path

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.view.columns

    def direction(self, key: str) -> str | None:
        """``ascending`` / ``descending`` when the list is sorted by ``key`` (aria-sort)."""
        if self.params.sort != key:
            return None
        return "ascending" if self.params.order == "asc" else "descending"

    def sort_href(self, key: str) -> str:
        """Sort by ``key``: descending first, ascending when it already is descending."""
        flip = "asc" if self.direction(key) == "descending" else "desc"
        return self._href({"sort": key, "order": flip})

    @property
    def sorting(self) -> dict[str, str]:
        return {"sort": self.params.sort or "", "order": self.params.order or ""}

    @property
    def base(self) -> str:
        """The pager's base: the address with the filters and sort, ready for ``offset=...``."""
        href = self._href(self.sorting)
        return href + ("&" if "?" in href else "?")

    @property
    def export_href(self) -> str:
        return self._href(self.sorting | {"format": "xlsx"})


def page_context(
    request: Request, db: Session, view: ListView, stmt: Select[Any], paging: PageParams,
    params: ListParams,
) -> dict[str, Any]:  # fmt: skip
    """What a list page's template takes for the rows of ``stmt`` (filtered and scoped): the
    page's ``rows``, the ``total``, ``paging`` and ``paged`` for the pager, the ``listing``."""
    paged = paginate(db, stmt, paging, view.order_for(params))
    return {
        "rows": list(paged.rows),
        "total": count_total(db, stmt),
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, view, params),
    }


# --- export --------------------------------------------------------------------------------


def label(choices: Any, value: str | None) -> str:
    """A stored value's Chinese label from its choices (a StrEnum with ``label``), the value
    itself when it is not one of them."""
    if value is None:
        return ""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def when(value: dt.datetime | dt.date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A cell's time in the platform's zone (a date as it is; ``""`` for none)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        from jcjg.config import get_settings

        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(get_settings().tz).strftime(fmt)
    return value.isoformat()


def _inert(cell: Any) -> str:
    """A cell a spreadsheet shows as text and never runs (a leading =, +, -, @ gets a quote),
    and can write: characters the text boundary refuses today are dropped
    (:func:`jcjg.core.text.printable`), so a row stored before it cannot break an export."""
    shown = "" if cell is None else printable(str(cell))
    return "'" + shown if shown.startswith(("=", "+", "-", "@", "\t", "\r")) else shown


def to_csv(table: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([[_inert(c) for c in row] for row in table])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel opens it as UTF-8


def to_xlsx(table: list[list[str]], title: str) -> bytes:
    from openpyxl import Workbook  # openpyxl is imported by what exports, not at start

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    for row in table:
        sheet.append([_inert(c) for c in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def download(data: bytes, filename: str, media_type: str) -> Response:
    disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})


def _batches(db: Session, stmt: Select[Any], view: ListView) -> Iterator[list[list[str]]]:
    offset = 0
    while True:
        rows = list(db.scalars(stmt.offset(offset).limit(BATCH)))
        if not rows:
            return
        yield view.cells(db, rows)
        offset += len(rows)
        if len(rows) < BATCH:
            return


def _filename(view: ListView, suffix: str) -> str:
    return f"{view.title}-{dt.datetime.now(dt.UTC).date().isoformat()}.{suffix}"


def export(
    request: Request,
    db: Session,
    view: ListView,
    stmt: Select[Any],
    params: ListParams,
    *,
    user_id: int | None,
) -> Response:
    """The rows of ``stmt`` (the list's filtered, scoped statement) as the list's export:
    an .xlsx (or, asked or beyond the sheet's limit, CSV) at once, or beyond the background
    threshold a background export and a redirect to its progress page. Audited."""
    ordered = stmt.order_by(None).order_by(*view.order_for(params).clauses())
    total = count_rows(db, stmt)
    use_csv = params.format == "csv" or total > XLSX_MAX_ROWS
    detail = f"导出{view.title}（{total} 条）"
    if request.url.query:
        detail += "：" + request.url.query
    for hook in domains.hooks("list.exported"):
        hook(db, view.name, detail[:1000])
    settings: Settings = request.app.state.settings
    if total > settings.list_export_background_above:
        token = start_background(
            request.app.state.sessionmaker, settings, view, ordered,
            total=total, use_csv=use_csv, user_id=user_id,
        )  # fmt: skip
        return RedirectResponse(f"/exports/{token}", status_code=303)
    table = [view.header()]
    for cells in _batches(db, ordered, view):
        table.extend(cells)
    if use_csv:
        return download(to_csv(table), _filename(view, "csv"), CSV)
    return download(to_xlsx(table, view.title), _filename(view, "xlsx"), XLSX)


# --- background exports --------------------------------------------------------------------

TOKEN_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"  # noqa: S105 - a pattern, not a secret


def exports_dir(settings: Settings) -> Path:
    return settings.data_dir / "exports"


def _state_path(settings: Settings, token: str) -> Path:
    return exports_dir(settings) / token / "state.json"


def read_state(settings: Settings, token: str) -> dict[str, Any] | None:
    """A background export's state (``status`` running / done / failed, ``done`` and
    ``total`` rows, ``filename``, ``user_id``), ``None`` when there is none."""
    path = _state_path(settings, token)
    try:
        state: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return state


def _write_state(settings: Settings, token: str, state: dict[str, Any]) -> None:
    path = _state_path(settings, token)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, ensure_ascii=False), "utf-8")
    temporary.replace(path)  # readers never see half a file


KEEP_EXPORTS = dt.timedelta(days=1)  # a finished background export's file is kept this long


def remove_old_exports(
    settings: Settings, now: dt.datetime, keep: dt.timedelta = KEEP_EXPORTS
) -> int:
    """Remove the background exports last written more than ``keep`` before ``now`` (a
    running one writes its state at every batch, so it is never old); how many."""
    root = exports_dir(settings)
    if not root.is_dir():
        return 0
    removed = 0
    for folder in root.iterdir():
        state = folder / "state.json"
        written = (state if state.exists() else folder).stat().st_mtime
        if now.timestamp() - written > keep.total_seconds():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def file_of(settings: Settings, token: str) -> Path:
    return exports_dir(settings) / token / "file"


def start_background(
    factory: sessionmaker[Session],
    settings: Settings,
    view: ListView,
    stmt: Select[Any],
    *,
    total: int,
    use_csv: bool,
    user_id: int | None,
) -> str:
    """Start writing ``stmt``'s rows into a file in the background; its token."""
    token = secrets.token_urlsafe(18)
    (exports_dir(settings) / token).mkdir(parents=True)
    state: dict[str, Any] = {
        "title": view.title,
        "user_id": user_id,
        "status": "running",
        "done": 0,
        "total": total,
        "filename": _filename(view, "csv" if use_csv else "xlsx"),
        "media_type": CSV if use_csv else XLSX,
    }
    _write_state(settings, token, state)

    def run() -> None:
        _run_background(factory, settings, view, stmt, token, state, use_csv=use_csv)

    if settings.list_export_threads:
        threading.Thread(target=run, name=f"jcjg-export-{token[:6]}", daemon=True).start()
    else:  # tests: the request's one connection cannot be shared with a thread
        run()
    return token


def _run_background(
    factory: sessionmaker[Session],
    settings: Settings,
    view: ListView,
    stmt: Select[Any],
    token: str,
    state: dict[str, Any],
    *,
    use_csv: bool,
) -> None:
    target = file_of(settings, token)
    try:
        # reads only: on SQLite a session that may write would hold the one write lock for
        # the whole export (minutes for a province's list)
        with reading_session(factory) as db:
            if use_csv:
                _write_csv(db, stmt, view, target, settings, token, state)
            else:
                _write_xlsx(db, stmt, view, target, settings, token, state)
        state["status"] = "done"
    except Exception:
        log.exception("background export %s failed", token)
        state["status"] = "failed"
    _write_state(settings, token, state)


def _progress(settings: Settings, token: str, state: dict[str, Any], n: int) -> None:
    state["done"] = state["done"] + n
    _write_state(settings, token, state)


def _write_csv(db: Session, stmt: Select[Any], view: ListView, target: Path,
               settings: Settings, token: str, state: dict[str, Any]) -> None:  # fmt: skip
    with target.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(view.header())
        for cells in _batches(db, stmt, view):
            writer.writerows([[_inert(c) for c in row] for row in cells])
            _progress(settings, token, state, len(cells))


def _write_xlsx(db: Session, stmt: Select[Any], view: ListView, target: Path,
                settings: Settings, token: str, state: dict[str, Any]) -> None:  # fmt: skip
    from openpyxl import Workbook  # openpyxl is imported by what exports, not at start

    book = Workbook(write_only=True)  # rows streamed out, not kept in memory
    sheet = book.create_sheet(view.title[:31])
    sheet.append(view.header())
    for cells in _batches(db, stmt, view):
        for row in cells:
            sheet.append([_inert(c) for c in row])
        _progress(settings, token, state, len(cells))
    book.save(target)
