"""Domains register themselves: one :class:`Domain` object per package, one list of them.

Each package of the platform declares, in its own ``domain.py``, a ``DOMAIN`` naming what it adds
to the whole: its routers, periodic jobs, permissions and the roles granted them by default, menu
entries, exchange message types, alert rules, entity kinds, the Chinese labels of its choices,
and the hooks through which it takes part in another package's work (a panel on a project's page,
a link in an alert's evidence chain). The application layer keeps the one list of domains
(``jcjg.domains``) and installs it once per process (:func:`install`); the app factory, the
worker, the permission table, the menu and the generic tests read only :func:`installed`.

So a lower package never imports a higher one to find its contributions (the way Django's app
registry and Warehouse's ``includeme(config)`` work): a package that offers an extension point
names a hook (``"projects.panels"``), and the packages that take part list a function under
that name in their ``DOMAIN``; :func:`hooks` returns them in the list's order.

Nothing here knows any domain: the contributions are typed by what this module needs of them
(a name, an id, a title); their owners (``core.jobs``, ``alerts.engine``, ``exchange.types``,
``auth.permissions``) read them back with their own types.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import Enum
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from jcjg.config import Settings

T = TypeVar("T")


class Named(Protocol):
    """A job or a message type: known by its ``name``."""

    @property
    def name(self) -> str: ...


class Titled(Protocol):
    """An alert rule: known by its ``id``, shown by its Chinese ``title``."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class NavEntry:
    """One entry of the menu: its Chinese ``title``, where it leads, the ``group`` it is shown
    under, the permission a principal needs to see it (``None``: every logged-in account), and
    the roles that see it (``None``: every role that holds the permission). ``landing``: the
    roles it names open it after logging in instead of the home (a witness's and a sampler's
    work is on the phone pages, not behind the office's figures). ``phone``: its place in the
    phone's bottom bar (smaller first; ``None``: only under 更多), which shows the first
    :data:`PHONE_BAR` entries a principal sees. ``text``: what it is for, under the home's
    list of functions."""

    title: str
    href: str
    group: str
    permission: str | None = None
    roles: frozenset[str] | None = None
    order: int = 100  # within the group, smaller first
    landing: bool = False
    phone: int | None = None
    text: str = ""

    def leads_to(self, path: str) -> bool:
        """Whether ``path`` is this entry's page or a page under it (``/alerts/7``)."""
        href = self.href.rstrip("/")
        return path == self.href or (href != "" and path.startswith(href + "/"))

    def visible_to(self, role: str | None, can: Callable[[str], bool]) -> bool:
        if role is None:
            return False
        if self.roles is not None and role not in self.roles:
            return False
        return self.permission is None or can(self.permission)


# The menu's groups in the order they are shown; a group not listed comes last.
NAV_GROUPS: tuple[str, ...] = (
    "工作台",
    "检测机构",
    "工程与检测",
    "监督执法",
    "行业管理",
    "数据交换",
    "系统管理",
    "个人设置",
)


# A domain's hook: () -> the PortalEntry of each of its pages the public may open
PORTAL = "portal.services"
# the public portal's address: where "/" sends a visitor who is not logged in
PUBLIC_HOME = "/public"


@dataclass(frozen=True)
class PortalEntry:
    """A page anyone may open, listed on the public portal (公众服务, ``/public``): its Chinese
    ``title``, where it leads and one line of what a member of the public finds there."""

    title: str
    href: str
    text: str
    order: int = 100  # smaller first


def portal_entries() -> list[PortalEntry]:
    """Every installed domain's public pages, in order."""
    found = [entry for declared in hooks(PORTAL) for entry in declared()]
    return sorted(found, key=lambda e: (e.order, e.href))


@dataclass
class AppSetup:
    """What a domain may add to an app being built: state, middleware, background threads.

    ``threads`` are started when the app starts serving; each is called with an event that is
    set when the app shuts down, and should return soon after.
    """

    app: FastAPI
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    threads: list[tuple[str, Callable[[threading.Event], None]]] = field(default_factory=list)
    shutdown: list[Callable[[], None]] = field(default_factory=list)
    stopping: list[Callable[[], None]] = field(default_factory=list)

    def thread(self, name: str, run: Callable[[threading.Event], None]) -> None:
        """Run ``run(stop)`` in a daemon thread named ``name`` while the app serves."""
        self.threads.append((name, run))

    def on_stopping(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` as the app starts shutting down, right after its threads' stop
        event is set: for a thread that waits on something else between its passes."""
        self.stopping.append(wake)

    def on_shutdown(self, close: Callable[[], None]) -> None:
        """Call ``close()`` when the app shuts down, after its threads have stopped."""
        self.shutdown.append(close)


@dataclass(frozen=True, kw_only=True)
class Domain:
    """What one package adds to the platform. Every field but ``name`` and ``title`` is
    optional; see ``docs/development/adding-a-domain.md``."""

    name: str  # the package's name: "registry"; its tests live under tests/<name>/
    title: str  # Chinese, for people: "检测机构登记"
    models: Sequence[ModuleType] = ()  # modules of its SQLAlchemy models (for Alembic)
    # its routers, in the order their routes are matched: an APIRouter, or where it is found
    # ("jcjg.ledger.pages:router"), imported when an app is built (:meth:`routes`), so that a
    # process that serves no pages (a command, a worker) does not import them: ~40 % of a
    # command's start (docs/development/performance.md)
    routers: Sequence[APIRouter | str] = ()
    jobs: Sequence[Named] = ()  # core.jobs.Job
    permissions: Mapping[str, str] = field(default_factory=dict)  # "<entity>:<action>": 中文
    grants: Mapping[str, Iterable[str]] = field(default_factory=dict)  # role -> permissions
    nav: Sequence[NavEntry] = ()
    message_types: Sequence[Named] = ()  # exchange.types.MessageType
    rules: Sequence[Any] = ()  # alerts.engine.Rule and RuleExtension
    specs: Sequence[Any] = ()  # generic.spec.EntitySpec
    # The words pages show for identifiers (``core.labels``): a kind the domain owns, named by an
    # enum with labels (``{"role": Role}``), or its part of a shared kind, as a mapping
    # (``{"entity": {"test_record": "检测记录"}, "field": {"peak_kn": "破坏荷载（kN）"}}``).
    labels: Mapping[str, type[Enum] | Mapping[str, str]] = field(default_factory=dict)
    hooks: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    configure: Callable[[Settings], None] | None = None  # once per process, with the settings
    setup_app: Callable[[AppSetup], None] | None = None  # once per app built
    # its ``jcjg`` commands (click groups or commands, named uniquely across domains)
    commands: Sequence[Any] = ()
    # tables the application's database role may not rewrite (``jcjg db grant``): each with the
    # columns it may still update; none: append-only (no UPDATE, DELETE or TRUNCATE)
    protected: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def routes(self) -> list[APIRouter]:
        """Its routers, those given by where they are found imported now."""
        return [found(r) if isinstance(r, str) else r for r in self.routers]


def found(where: str) -> Any:
    """The object ``where`` names ("package.module:attribute"), its module imported now."""
    module, _, attribute = where.partition(":")
    return getattr(importlib.import_module(module), attribute)


def lazy(where: str) -> Callable[..., Any]:
    """A hook that imports the function ``where`` names ("package.module:function") when it
    is first called: a domain's hooks drawn by pages live with its pages, which a process that
    serves none never imports."""
    target: list[Callable[..., Any]] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not target:
            target.append(found(where))
        return target[0](*args, **kwargs)

    call.__qualname__ = call.__name__ = where
    return call


class DomainsNotInstalled(RuntimeError):
    """Something asked for the installed domains before the application installed them."""


class DomainConflict(ValueError):
    """Two domains declare the same name, permission, job, rule, message type or label."""


_lock = threading.Lock()
_installed: tuple[Domain, ...] | None = None
_generation = 0


def install(domains: Sequence[Domain]) -> None:
    """Make ``domains`` the platform's domains in this process (checked for conflicts)."""
    global _installed, _generation
    checked = tuple(domains)
    check(checked)
    with _lock:
        _installed = checked
        _generation += 1


def installed() -> tuple[Domain, ...]:
    """The installed domains, in the list's order."""
    if _installed is None:
        raise DomainsNotInstalled(
            "no domains installed: call jcjg.domains.install() (the app, the CLI and the test "
            "session do) before asking for routes, jobs, permissions, rules or message types"
        )
    return _installed


def is_installed() -> bool:
    return _installed is not None


def configure_installed(settings: Settings) -> tuple[Domain, ...]:
    """The installed domains, each configured with ``settings`` (ledger key, rule switch ...)."""
    found = installed()
    for domain in found:
        if domain.configure is not None:
            domain.configure(settings)
    return found


def generation() -> int:
    """Changes whenever :func:`install` runs: caches derived from the domains compare it."""
    return _generation


@contextmanager
def installed_with(
    *extra: Domain, keep: Callable[[Domain], Domain] | None = None
) -> Iterator[tuple[Domain, ...]]:
    """Install the current domains (each passed through ``keep`` when given) plus ``extra`` for
    the duration of the block, then restore the list as it was (tests)."""
    global _installed, _generation
    before = _installed
    current = installed()
    install([*(keep(d) if keep else d for d in current), *extra])
    try:
        yield installed()
    finally:
        with _lock:
            _installed = before
            _generation += 1


def stripped(*fields: str) -> Callable[[Domain], Domain]:
    """A ``keep`` for :func:`installed_with`: each domain without the given contributions
    (``stripped("rules")``: only the extra domains' rules count)."""

    empty: dict[str, Any] = dict.fromkeys(fields, ())

    def keep(domain: Domain) -> Domain:
        return replace(domain, **empty)

    return keep


def hooks(name: str) -> list[Callable[..., Any]]:
    """The functions the installed domains list under hook ``name``, in the list's order."""
    return [d.hooks[name] for d in installed() if name in d.hooks]


def labels() -> dict[str, type[Enum]]:
    """Every label kind owned by an enum (``role``, ``action`` ...) and that enum."""
    return {
        kind: given
        for d in installed()
        for kind, given in d.labels.items()
        if isinstance(given, type) and issubclass(given, Enum)
    }


def nav_for(role: str | None, can: Callable[[str], bool]) -> list[tuple[str, list[NavEntry]]]:
    """The menu a principal sees: (group, entries) in the groups' order, entries by order."""
    groups: dict[str, list[NavEntry]] = {}
    for domain in installed():
        for entry in domain.nav:
            if entry.visible_to(role, can):
                groups.setdefault(entry.group, []).append(entry)
    rank = {g: i for i, g in enumerate(NAV_GROUPS)}
    ordered = sorted(groups.items(), key=lambda item: rank.get(item[0], len(rank)))
    return [(group, sorted(entries, key=lambda e: e.order)) for group, entries in ordered]


PHONE_BAR = 4  # entries in the phone's bottom bar, besides 更多


@dataclass(frozen=True, eq=False)
class Menu:
    """The menu of a role with a set of permissions (:func:`menu_for`): its groups as
    :func:`nav_for` gives them and its phone bar (:func:`phone_bar`). Made once per role and
    permissions in a process, so it compares (and is a cache's key) by identity."""

    nav: tuple[tuple[str, tuple[NavEntry, ...]], ...]
    bar: tuple[NavEntry, ...]


_MENUS: dict[tuple[int, str | None, frozenset[str]], Menu] = {}
_MENUS_KEPT = 256  # role and permission sets a process keeps menus for (then made afresh)


def menu_for(role: str | None, permissions: frozenset[str]) -> Menu:
    """The menu of a principal of ``role`` holding ``permissions`` (every page draws it),
    made once per role, permissions and installed domains."""
    key = (_generation, role, permissions)
    menu = _MENUS.get(key)
    if menu is None:
        nav = nav_for(role, permissions.__contains__)
        menu = Menu(tuple((g, tuple(entries)) for g, entries in nav), tuple(phone_bar(nav)))
        if len(_MENUS) >= _MENUS_KEPT:
            _MENUS.clear()
        _MENUS[key] = menu
    return menu


def phone_bar(nav: Sequence[tuple[str, Sequence[NavEntry]]]) -> list[NavEntry]:
    """The entries of a menu (:func:`nav_for`) the phone's bottom bar shows, in their order."""
    entries = [e for _, group in nav for e in group if e.phone is not None]
    return sorted(entries, key=lambda e: e.phone or 0)[:PHONE_BAR]


def current_entry(nav: Sequence[tuple[str, Sequence[NavEntry]]], path: str) -> NavEntry | None:
    """The entry of a menu whose page ``path`` is or lies under (the longest match wins:
    ``/alerts/rules/x`` is under 预警规则, not 预警)."""
    found = [e for _, group in nav for e in group if e.leads_to(path)]
    return max(found, key=lambda e: len(e.href), default=None)


def landing_for(role: str | None) -> NavEntry | None:
    """Where ``role`` lands after logging in when no page was asked for (and what its home
    puts first): the first entry marked ``landing`` that names the role, or None (the home)."""
    for domain in installed():
        for entry in domain.nav:
            if entry.landing and entry.roles is not None and role in entry.roles:
                return entry
    return None


def collect(module: ModuleType, *kinds: type[T]) -> tuple[T, ...]:
    """The objects of the given kinds defined at the top of ``module``, in definition order:
    ``rules=collect(rules, Rule, RuleExtension)`` lists a module's decorated rules."""
    seen: set[int] = set()
    found: list[T] = []
    for value in vars(module).values():
        if isinstance(value, kinds) and id(value) not in seen:
            seen.add(id(value))
            found.append(value)
    return tuple(found)


def check(domains: Sequence[Domain]) -> None:
    """Refuse a list in which two domains claim the same thing."""
    _unique("domain", [d.name for d in domains])
    _unique("permission", [p for d in domains for p in d.permissions])
    _unique("job", [j.name for d in domains for j in d.jobs])
    _unique("command", [c.name for d in domains for c in d.commands])
    _unique("message type", [m.name for d in domains for m in d.message_types])
    _unique("rule", [r.id for d in domains for r in d.rules if _is_rule(r)])
    _check_labels(domains)
    known = {p for d in domains for p in d.permissions}
    for domain in domains:
        for role, granted in domain.grants.items():
            unknown = set(granted) - known
            if unknown:
                raise DomainConflict(
                    f"domain {domain.name!r} grants {role!r} unknown permissions {sorted(unknown)}"
                )
        for entry in domain.nav:
            if entry.permission is not None and entry.permission not in known:
                raise DomainConflict(
                    f"menu entry {entry.title!r} of {domain.name!r} needs unknown permission "
                    f"{entry.permission!r}"
                )


def _check_labels(domains: Sequence[Domain]) -> None:
    """An enum's kind belongs to one domain; a shared kind's key has one label."""
    owned = [k for d in domains for k, v in d.labels.items() if isinstance(v, type)]
    _unique("label kind", owned)
    words: dict[tuple[str, str], str] = {}
    for domain in domains:
        for kind, given in domain.labels.items():
            if isinstance(given, type):
                continue
            if kind in owned:
                raise DomainConflict(f"label kind {kind!r} is an enum's and a mapping's")
            for key, text in given.items():
                if words.setdefault((kind, key), text) != text:
                    raise DomainConflict(f"label {kind}:{key} is given two texts")


def rule_titles() -> dict[str, str]:
    """The id and Chinese title of every alert rule of the installed domains (for packages
    below the rules engine, such as notification preferences)."""
    return {r.id: r.title for d in installed() for r in d.rules if _is_rule(r)}


def _is_rule(value: object) -> bool:
    # A rule extension adds findings to a rule of another domain and has no id of its own.
    return isinstance(getattr(value, "id", None), str)


def _unique(what: str, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DomainConflict(f"{what} {name!r} is declared by two domains")
        seen.add(name)
