"""Settings: every knob of the platform, read from the environment with the prefix ``JCJG_``.

Outside ``JCJG_ENV=dev`` (and ``test``) the platform refuses to start with the default secret key:
a forgotten secret is how peers ended up with hard-coded MD5 keys.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - refused outside dev


def _sm2_installed() -> bool:
    """Whether the ``sm`` extra (tongsuopy, for SM2) is installed (jcjg.ledger.sm uses it)."""
    return importlib.util.find_spec("tongsuopy") is not None


class Settings(BaseSettings):
    """Platform configuration. Each field maps to ``JCJG_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="JCJG_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "sqlite:///var/jcjg.db"
    # PostgreSQL in production: the schema's owner, for `jcjg db upgrade|check|grant` only; the
    # processes then connect as an application role granted by `jcjg db grant` (database_url)
    # that cannot rewrite the audit trail, the ledger or the raw messages (security.md)
    migration_database_url: str = ""
    # Connections each process may hold: more than the 40 threads that run sync endpoints, so
    # a busy process never waits for a connection held by a request waiting for a thread.
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=40, ge=0)
    data_dir: Path = Path("var")
    secret_key: str = DEFAULT_SECRET_KEY
    # The public address printed in QR codes, links and e-mails. Unset: the address served,
    # http://<host>:<port> (127.0.0.1 for a wildcard host), so `jcjg serve --port 9000` links
    # to port 9000. Set it (https://...) wherever phones or other machines reach the platform.
    base_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # how long `jcjg serve` keeps an idle connection open: longer than clients keep theirs idle
    # (httpx 5 s, as uvicorn's own default: a request sent as the server closed the connection
    # was reset), as nginx's 75 s
    keep_alive_seconds: int = Field(default=75, ge=1, le=3600)
    display_timezone: str = "Asia/Shanghai"
    platform_name: str = "建设工程检测监管信息服务平台"
    # The region this platform serves (GB/T 2260: "360000" a province's platform, "360400" a
    # city's; "" the nation's). Rules, orders and publications cite the national basis and the
    # documents of this region, of the regions above it and of those under it, never another
    # region's (jcjg.catalogue.regulations, docs/regulations.md).
    region_code: str = Field(default="", pattern=r"^(|[1-9]\d{5})$")

    # Password policy (001 8.3.3: length, change interval, stored hashed).
    password_min_length: int = Field(default=8, ge=6)
    password_min_classes: int = Field(default=3, ge=1, le=4)
    # zxcvbn's score (0-4) a password must reach: 3 refuses the common passwords and their
    # variants (Password1!, Admin@123, P@ssw0rd); 0 turns the check off
    password_min_strength: int = Field(default=3, ge=0, le=4)
    password_max_age_days: int = Field(default=90, ge=0)  # 0 disables expiry
    password_history: int = Field(default=5, ge=0)
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    # failed logins from one network address, over every account, that stop its logins for
    # the window (password spraying: one guess at many accounts never locks any of them)
    login_address_failures: int = Field(default=20, ge=1)
    login_address_window_minutes: int = Field(default=15, ge=1)
    # failures from one address within that window before the login asks a captcha (0: never)
    login_captcha_after: int = Field(default=5, ge=0)

    # Sessions and tokens.
    session_idle_minutes: int = Field(default=30, ge=1)
    session_max_hours: int = Field(default=12, ge=1)
    session_cookie: str = "jcjg_session"
    csrf_cookie: str = "jcjg_csrf"
    api_token_days: int = Field(default=180, ge=1)
    # Strict-Transport-Security's max-age on answers served over https (0: none)
    hsts_seconds: int = Field(default=31_536_000, ge=0)
    totp_issuer: str = "JCJG"

    # Blob store: "local" (a folder under data_dir) or "s3".
    blob_backend: Literal["local", "s3"] = "local"
    s3_endpoint_url: str | None = None
    s3_bucket: str = "jcjg"
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None

    # Run periodic jobs in a thread of the web process (the embedded one-process default);
    # switch off when separate `jcjg worker` processes run them.
    embedded_worker: bool = True

    # Tamper-evident log: origin line of its checkpoints (default ``<host>/ledger``), its
    # Ed25519 note signer key (default: generated under data_dir/ledger), the cosigners whose
    # signatures it accepts on its checkpoints, and the promised maximum integration delay.
    ledger_origin: str | None = None
    # The national algorithms (GB/T 39786; docs/operations/cryptography.md): ``sm`` makes the
    # log an SM3 tree signed with SM2 (its own origin, ``<host>/ledger/sm``), seals secrets with
    # SM4 and lets labs sign with ``sm2-sm3``. Needs the ``sm`` extra (tongsuopy).
    crypto: Literal["standard", "sm"] = "standard"
    ledger_signing_key: SecretStr | None = None
    ledger_witness_keys: list[str] = Field(default_factory=list)
    ledger_max_delay_seconds: int = Field(default=60, ge=1)
    ledger_rate_limit_per_minute: int = Field(default=600, ge=1)
    worker_poll_seconds: float = Field(default=5.0, gt=0)
    # how long a worker holds a job it claimed without renewing the claim (renewed every third
    # of it while the job runs): a worker killed mid-job keeps it from the others this long
    job_lease_seconds: float = Field(default=20.0, ge=1, le=3600)

    # Alert rules run on the writes that trigger them, in the writing transaction (the daily
    # sweep runs them all regardless). Switch off for bulk loads; see docs/alerts.md.
    alerts_on_write: bool = True

    # Signed data exchange (000 6.0): signature freshness window, body limits, per-client rate
    # limit, key validity and rotation overlap, resumable upload expiry.
    exchange_max_skew_seconds: int = Field(default=300, ge=1, le=3600)
    exchange_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    exchange_max_blob_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    exchange_max_upload_bytes: int = Field(default=4 * 1024 * 1024 * 1024, ge=1024)
    exchange_upload_expiry_hours: int = Field(default=24, ge=1)
    exchange_rate_limit_per_minute: int = Field(default=1200, ge=1)
    # A client's bucket holds this many seconds of its rate (a burst after a pause; a client
    # sending at or below its rate is never refused). At most 120: an idle bucket is forgotten
    # (full again) after two minutes (jcjg.core.ratelimit.FORGET_SECONDS).
    exchange_rate_limit_burst_seconds: int = Field(default=60, ge=1, le=120)
    # Clients' own limits a minute without a code change or a page: a JSON object from a
    # client's number as in its key ids (``c12``) or its institution's code (every client of
    # it) to requests a minute. A limit set on the client's page comes first.
    exchange_client_rate_limits: dict[str, int] = Field(default_factory=dict)
    # Public report verification (/v/...): per client address, against code guessing.
    verify_rate_limit_per_minute: int = Field(default=300, ge=1)
    # Where the rate limits' buckets are kept (jcjg.core.ratelimit): auto is redis when
    # redis_url is set, the database on PostgreSQL, this process on SQLite.
    rate_limit_store: Literal["auto", "memory", "database", "redis"] = "auto"
    redis_url: str = ""
    redis_prefix: str = Field(default="jcjg", min_length=1, max_length=40)
    # Retention of test archives in years by test item or specialty code prefix, over the
    # defaults of jcjg.archives.retention (6 years; 20 for structural safety).
    archive_retention_years: dict[str, int] = Field(default_factory=dict)
    # Video supervision (jcjg.video, docs/video.md): where segments are kept (default
    # data_dir/video), their length, how long a recorder's lease on a camera lasts without a
    # heartbeat, when a camera counts as offline, segments per notarised batch, ffmpeg, and the
    # retention in months by region code prefix ("" the default; 6, never below 3).
    video_dir: Path | None = None
    video_segment_seconds: int = Field(default=4, ge=1, le=60)
    video_lease_seconds: int = Field(default=30, ge=3)
    video_offline_after_seconds: int = Field(default=60, ge=5)
    video_batch_segments: int = Field(default=30, ge=1)
    video_ffmpeg: str = "ffmpeg"
    video_recorder_capacity: int = Field(default=64, ge=1)
    video_retention_months: dict[str, int] = Field(default_factory=dict)
    # The conformance kit's sandbox (jcjg.exchange.conformance, docs/exchange-api/
    # conformance.md): a file where every exchange and ledger request is recorded and lost
    # answers are injected. Never on a real deployment.
    exchange_conformance_log: Path | None = None
    # Run a recorder (jcjg.video.recorder) as a thread of `jcjg worker` too (a small
    # deployment); otherwise `jcjg video record` runs on its own.
    video_record_in_worker: bool = False
    # Networks a camera's stream address may be in although they are private, loopback or
    # otherwise refused (jcjg.video.addresses): CIDRs separated by commas, e.g.
    # "192.168.10.0/24,10.20.0.0/16" where the cameras sit on the video network; empty: only
    # addresses on the internet. The platform's own addresses stay refused.
    video_allowed_networks: str = ""
    # Clip exports (jcjg.video.clip_limits): per account and per institution (its accounts
    # together) per day of the platform's time zone, and at once per institution (an account
    # of no institution: per account).
    video_clip_exports_per_day_account: int = Field(default=20, ge=1)
    video_clip_exports_per_day_institution: int = Field(default=100, ge=1)
    video_clip_exports_concurrent: int = Field(default=2, ge=1)
    # Scans of valid codes are logged in batches, this often (unknown ones at once); 0: each
    # scan written in its request.
    verify_scan_flush_seconds: float = Field(default=2.0, ge=0)
    # An anonymous genuine look-up's answer is given again while its report was seen unchanged
    # this recently (jcjg.reports.fastpath; looked at four times in this time): the other
    # processes know of a withdrawal within it. 0: every look-up is answered anew.
    verify_page_cache_seconds: float = Field(default=2.0, ge=0, le=3600)
    # Notifications (jcjg.notify): e-mail over SMTP when a host is set; SMS through an HTTP
    # gateway when its URL is set. Each user gets at most one message per channel per digest
    # period, with the counts of what happened.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: str = Field(default="starttls", pattern=r"^(none|starttls|ssl)$")
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "jcjg@localhost"
    smtp_timeout_seconds: float = Field(default=20.0, gt=0)
    sms_gateway_url: str | None = None
    sms_gateway_key: str | None = None  # HMAC-SHA256 key of the gateway's signature header
    notify_digest_minutes: int = Field(default=10, ge=1, le=1440)
    exchange_key_days: int = Field(default=365, ge=1)
    exchange_rotation_overlap_days: int = Field(default=7, ge=0)
    exchange_stats_flush_seconds: float = Field(default=10.0, gt=0)
    # Accepting and applying (docs/exchange-api): accepted messages are stored by one writer
    # per process, many per transaction (false: each request commits its own, as the tests
    # do on their one connection); each app process runs ``exchange_apply_workers`` threads
    # applying them behind (0: leave it to ``jcjg worker``), polling for messages other
    # processes stored every ``exchange_apply_poll_seconds``.
    # figures a page shows of a whole scope (an authority's home) are counted at most this
    # often per process and scope (the page says when); 0: on every visit
    # an analysis's result (the decision-analysis workbench, its API and exports) is counted at
    # most this often per process, reader's scope and definition; the answer says when; 0: always
    analysis_results_seconds: float = Field(default=30.0, ge=0, le=3600)
    # an institution's registry sent over the exchange is judged as a whole (staffing against
    # the standard ...) once its system says the sync is complete (registry.sync) or no
    # registry message came for this long; 0: at every message
    registry_quiet_seconds: float = Field(default=600.0, ge=0, le=86400)
    page_figures_seconds: float = Field(default=30.0, ge=0, le=3600)
    # a page its scope's readers share (an authority's lists: core.pagecache) is drawn at most
    # this often per process, scope, address and kind (whole, or the results alone); a reader
    # who changed something has theirs drawn afresh for this long; 0: every page drawn for its
    # request
    shared_pages_seconds: float = Field(default=2.0, ge=0, le=60)
    # requests a process answers at once, the others waiting their turn in order (0: all at
    # once); one answered longer than the lend gives its turn to the next and goes on beside
    # it (core.admission). The exchange's messages are not counted: they wait for the group
    # commit together.
    request_slots: int = Field(default=2, ge=0, le=1000)
    request_slot_lend_seconds: float = Field(default=0.1, gt=0, le=60)
    exchange_group_commit: bool = True
    # a list's export (?format=xlsx) beyond this many rows runs in the background (a thread;
    # with list_export_threads off, at once in its request: the tests' one connection)
    list_export_background_above: int = Field(default=50_000, ge=0)
    list_export_threads: bool = True
    # how long a process keeps client keys, institutions and regions in memory for the request
    # path (a revocation or suspension elsewhere takes effect within this many seconds)
    exchange_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    exchange_commit_max_batch: int = Field(default=500, ge=1, le=10_000)
    exchange_apply_workers: int = Field(default=1, ge=0, le=64)
    exchange_apply_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    # an apply worker begins a pass at most this often: what is stored meanwhile waits for
    # the next pass, so that a busy process's batches hold several messages a lane (a
    # batch's reads of a lane's rows, its rules and its commit are shared by them); 0: a
    # pass as soon as the one before ends (docs/development/performance.md, "Gathered passes")
    exchange_apply_gather_seconds: float = Field(default=0.5, ge=0, le=5)
    # a serving process's apply workers run this much lower in the scheduler's priority than
    # its threads answering requests (Linux: a nice value per thread; core.admission): the
    # answers first, the applying in the time they leave, at the cost of the apply lag while
    # the process is busy (docs/development/performance.md, "Twenty-fifth pass"); 0: the same
    exchange_apply_nice: int = Field(default=0, ge=0, le=19)
    # how long an apply worker holds a lane without renewing it: a worker that died (killed, its
    # machine gone) keeps the lane's messages waiting this long at most
    exchange_apply_lease_seconds: float = Field(default=30.0, ge=1, le=600)

    # Three-level networking (jcjg.networking, docs/networking.md). A platform with an upstream
    # (a city under its province, a province under the nation) forwards its log there: the
    # parent's base URL, the key id and key the parent issued to this platform (an Ed25519
    # private key as PEM or base64 seed, or an HMAC secret's base64; alg inferred unless
    # given), and the parent's ledger verifier key (what GET /ledger/key answers there), with
    # which the parent's forward receipts and cosignatures are checked.
    upstream_url: str = ""
    upstream_key_id: str = ""
    upstream_key: SecretStr | None = None
    upstream_key_alg: str = Field(default="", pattern=r"^(|ed25519|sm2-sm3|hmac-sha256)$")
    upstream_log_key: str = ""
    # entries a forward carries at most (and bytes, bodies included), how often an idle
    # forwarder looks for new ones, and whether this process runs a forwarder (the one that
    # holds the cursor's lease forwards; any number may try)
    upstream_batch: int = Field(default=200, ge=1, le=2000)
    upstream_batch_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024)
    upstream_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    upstream_forwarder: bool = True
    # how long a forwarder holds the cursor without renewing it (one that died: the wait)
    upstream_lease_seconds: float = Field(default=10.0, ge=1, le=600)
    # As a parent: the largest forward accepted, and whether a child's lab messages must carry
    # their lab's own signature (Ed25519) rather than only the child's attestation (HMAC labs)
    network_forward_max_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    network_require_lab_signature: bool = False
    # days a child's fact's content (what travelled beside its leaf: names, particulars) is
    # kept here once this platform's parent acknowledged the relay of it (with no parent: once
    # rebuilt); the rows it was rebuilt into keep what they need (networking.purge_content)
    network_content_days: int = Field(default=30, ge=0, le=3650)
    # Data sharing (docs/sharing.md): deliveries may go to loopback, private and link-local
    # addresses only when this is set (a consumer inside the deployment's own network)
    sharing_private_endpoints: bool = False
    # Applications for access from platforms below (POST /exchange/v1/platform-applications,
    # anyone may send one): requests per minute per client address
    network_application_rate_per_minute: int = Field(default=20, ge=1, le=10_000)

    # Operations (jcjg.operations, docs/operations/monitoring.md): /metrics answers a platform
    # administrator's token or session, and requests from these networks (CIDRs separated by
    # commas, e.g. the Prometheus server's "10.0.5.20/32"; empty: none). Behind a proxy the
    # address is the client's only when uvicorn trusts the proxy (--forwarded-allow-ips).
    metrics_allow: str = ""
    # how old the database's figures on /metrics may be (seconds; 0 reads them at each scrape)
    metrics_cache_seconds: float = Field(default=10.0, ge=0, le=300)
    # Backups (docs/operations/backups.md): where they go (the job operations.backup makes one
    # a day only when this is set; `jcjg backup` defaults to data_dir/backups) and how many are
    # kept (the oldest beyond go)
    backup_dir: Path | None = None
    backup_keep: int = Field(default=7, ge=1, le=1000)

    # Platform documents (witness records, later reports' covers) are PDF files signed (PAdES)
    # by the platform's document certificate: PEM files when given, otherwise a key and a
    # self-signed certificate generated under data_dir/documents on first use.
    document_key_file: Path | None = None
    document_certificate_file: Path | None = None

    # Sampling (003 I, 001 7.1.2): photo size limit on the phone pages and the exchange.
    sampling_photo_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # How long a seal statement prepared for signing stays valid, and the identity checker
    # (``module:attribute`` of a FaceMatcher; empty: dlib's face comparison, offline) with its
    # largest euclidean distance still taken for the same person, by region code prefix (the
    # longest matching prefix wins; 0.6 by default, docs/sampling.md says why).
    sampling_seal_window_seconds: int = Field(default=600, ge=30)
    identity_matcher: str = ""
    identity_threshold: dict[str, float] = Field(default_factory=dict)

    # whether JCJG_BASE_URL was given (the ledger's default origin follows only a given one)
    _base_url_given: bool = PrivateAttr(default=False)

    @property
    def base_url_given(self) -> bool:
        return self._base_url_given

    @model_validator(mode="after")
    def _served_address(self) -> Settings:
        self._base_url_given = bool(self.base_url.strip())
        if not self._base_url_given:
            host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104
            host = f"[{host}]" if ":" in host else host
            self.base_url = f"http://{host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != "dev" and self.secret_key == DEFAULT_SECRET_KEY:
            raise ValueError(
                "JCJG_SECRET_KEY 仍是默认值：生产环境必须设置自己的密钥 "
                "(refusing the default secret key outside JCJG_ENV=dev)"
            )
        if self.env == "prod" and len(self.secret_key) < 32:
            raise ValueError("JCJG_SECRET_KEY 至少 32 个字符 (secret key too short)")
        return self

    @model_validator(mode="after")
    def _crypto_available(self) -> Settings:
        if self.crypto == "sm" and not _sm2_installed():
            raise ValueError("JCJG_CRYPTO=sm 需要 SM2 库 tongsuopy：pip install 'jcjg[sm]'")
        return self

    @model_validator(mode="after")
    def _rate_limit_store(self) -> Settings:
        if self.rate_limit_store == "redis" and not self.redis_url:
            raise ValueError("JCJG_RATE_LIMIT_STORE=redis 需要 JCJG_REDIS_URL")
        if self.rate_limit_store == "database" and self.database_url.startswith("sqlite"):
            raise ValueError("JCJG_RATE_LIMIT_STORE=database 需要 PostgreSQL（SQLite 上用 memory）")
        for who, per_minute in self.exchange_client_rate_limits.items():
            if not who.strip() or not 1 <= per_minute <= 600_000:
                raise ValueError(
                    "JCJG_EXCHANGE_CLIENT_RATE_LIMITS：键为接入方编号（如 c12）或机构代码，"
                    f"值为每分钟 1 到 600000 次（{who!r}: {per_minute}）"
                )
        return self

    @model_validator(mode="after")
    def _no_sandbox_in_production(self) -> Settings:
        if self.env == "prod" and self.exchange_conformance_log is not None:
            raise ValueError(
                "JCJG_EXCHANGE_CONFORMANCE_LOG 只用于合规测试环境：生产环境会丢弃应答 "
                "(the conformance sandbox is refused under JCJG_ENV=prod)"
            )
        return self

    @model_validator(mode="after")
    def _video_retention_floor(self) -> Settings:
        short = {k: v for k, v in self.video_retention_months.items() if v < 3}
        if short:
            raise ValueError(f"JCJG_VIDEO_RETENTION_MONTHS 不得少于 3 个月（001 4.2.1.3）: {short}")
        return self

    @model_validator(mode="after")
    def _video_networks_readable(self) -> Settings:
        for name, value in (
            ("JCJG_VIDEO_ALLOWED_NETWORKS", self.video_allowed_networks),
            ("JCJG_METRICS_ALLOW", self.metrics_allow),
        ):
            try:
                _networks(value)
            except ValueError as exc:
                raise ValueError(
                    f"{name} 应为逗号分隔的网段（CIDR），如 192.168.10.0/24: {exc}"
                ) from exc
        return self

    @property
    def migration_url(self) -> str:
        """Where ``jcjg db upgrade|check|grant`` connect: the schema's owner (the migration
        role), else the one database URL."""
        return self.migration_database_url or self.database_url

    @property
    def metrics_allow_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """``metrics_allow`` read: where a scrape of /metrics may come from without a token."""
        return _networks(self.metrics_allow)

    @property
    def video_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """``video_allowed_networks`` read: the networks a stream address may be in."""
        return _networks(self.video_allowed_networks)

    @model_validator(mode="after")
    def _identity_threshold_range(self) -> Settings:
        wrong = {k: v for k, v in self.identity_threshold.items() if not 0 < v <= 2}
        if wrong:
            raise ValueError(f"JCJG_IDENTITY_THRESHOLD 应在 0 与 2 之间（欧氏距离）: {wrong}")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.display_timezone)

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def media_dir(self) -> Path:
        """Where recorded video segments are kept."""
        return self.video_dir or self.data_dir / "video"

    @property
    def upload_dir(self) -> Path:
        """Where tus uploads in progress keep their bytes."""
        return self.data_dir / "uploads"


@functools.cache
def _networks(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """CIDRs (or single addresses) separated by commas; ValueError on one that is not."""
    return tuple(ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


_IN_USE: ContextVar[Settings | None] = ContextVar("jcjg_settings", default=None)


@functools.cache
def _from_environment() -> Settings:
    return Settings()


def reread_settings() -> None:
    """Read the environment again at the next :func:`get_settings` (after a command changed it)."""
    _from_environment.cache_clear()


def get_settings() -> Settings:
    """The settings in use: those of the app a background job runs for (see
    :func:`settings_in_use`), otherwise the process-wide ones, read once from the environment."""
    return _IN_USE.get() or _from_environment()


# the environment is read again after this (tests and the command line change it)
get_settings.cache_clear = reread_settings  # type: ignore[attr-defined]


@contextmanager
def settings_in_use(settings: Settings | None) -> Iterator[None]:
    """Make ``settings`` what :func:`get_settings` gives in this thread (or task) for the block:
    jobs run by an app's embedded worker use that app's settings, not the environment's."""
    if settings is None:
        yield
        return
    token = _IN_USE.set(settings)
    try:
        yield
    finally:
        _IN_USE.reset(token)
