"""docs/exchange-api reproduced: the signing examples byte for byte, the messages, the errors.

The worked examples of signing.md are read from the markdown (each fenced block follows a marker
``<!-- example:<example>:<part> -->``), recomputed from their documented inputs with our signer,
checked with nothing but ``cryptography``/``hmac``, and the documented requests are sent to the
platform's verifier and, with the clock set to their ``created``, to the platform itself.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import io
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from jcjg.client.receipt import Receipt
from jcjg.client.signing import COVERED, COVERED_WITH_BODY, load_key, signed_headers
from jcjg.config import Settings
from jcjg.core.errors import (
    BAD_REQUEST,
    INTERNAL,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    PROBLEM_TYPES,
    TOO_LARGE,
    UNSUPPORTED_MEDIA,
    VALIDATION,
)
from jcjg.core.ratelimit import TOO_MANY
from jcjg.exchange import auth, keystore, problems, types
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.clients import create_client, parse_public_key
from jcjg.exchange.digest import verify_content_digest
from jcjg.exchange.models import ClientKey, ExchangeFile
from jcjg.exchange.signatures import (
    CreatedOutOfWindow,
    Ed25519SigningKey,
    Ed25519VerifyingKey,
    HmacSha256Key,
    NotYetValid,
    Request,
    SignatureParams,
    VerifyingKey,
    check_policy,
    signature_base,
    verify_request,
)
from jcjg.exchange.types import json_schema
from jcjg.ledger.note import Verifier, open_note
from jcjg.ledger.service import PROMISE_HEADER
from tests.exchange.conftest import apply_waiting
from tests.factories import Factory, catalogue

DOCS = Path(__file__).resolve().parents[2] / "docs" / "exchange-api"
EXAMPLES = ("ed25519", "hmac-sha256", "hmac-sha256-head")
_MARKED = re.compile(r"^<!-- example:(\S+) -->\n```[^\n]*\n(.*?)\n```$", re.MULTILINE | re.DOTALL)


@functools.cache
def doc(name: str) -> str:
    return (DOCS / name).read_text("utf-8")


@functools.cache
def blocks(name: str) -> dict[str, str]:
    """The marked fenced blocks of a page: marker name -> the block's text (no final newline)."""
    found: dict[str, str] = {}
    for marker, text in _MARKED.findall(doc(name)):
        assert marker not in found, f"{name}: marker {marker!r} used twice"
        found[marker] = text
    return found


@dataclass(frozen=True)
class Example:
    """One worked example of signing.md, as documented."""

    name: str
    inputs: dict[str, str]
    part: Callable[[str], str]

    @property
    def alg(self) -> str:
        return self.inputs["alg"]

    @property
    def key_id(self) -> str:
        return self.inputs["key id"]

    @property
    def method(self) -> str:
        return self.inputs["method"]

    @property
    def url(self) -> str:
        return self.inputs["target URI"]

    @property
    def created(self) -> int:
        return int(self.inputs["created"])

    @property
    def nonce(self) -> str:
        return self.inputs["nonce"]

    @property
    def body(self) -> bytes | None:
        return self.part("body").encode("utf-8") if "body" in self.inputs else None

    @property
    def content_type(self) -> str | None:
        return self.inputs.get("content type")

    @property
    def covered(self) -> tuple[str, ...]:
        return COVERED_WITH_BODY if self.body else COVERED

    def material(self) -> bytes:
        """The private seed or the HMAC secret."""
        if self.alg == "ed25519":
            return bytes.fromhex(self.inputs["private key (seed, hex)"])
        return base64.b64decode(self.inputs["secret (base64)"], validate=True)

    def public_key(self) -> bytes:
        return bytes.fromhex(self.inputs["public key (hex)"])

    def verifying_key(self) -> VerifyingKey:
        if self.alg == "ed25519":
            return Ed25519VerifyingKey(self.public_key())
        return HmacSha256Key(self.material())

    def signed(self) -> dict[str, str]:
        """The headers our signer makes from the documented inputs."""
        return signed_headers(
            self.method,
            self.url,
            key_id=self.key_id,
            key=load_key(self.alg, self.material()),
            body=self.body,
            content_type=self.content_type,
            created=self.created,
            nonce=self.nonce,
        )


def example(name: str) -> Example:
    marked = blocks("signing.md")

    def part(what: str) -> str:
        key = f"{name}:{what}"
        assert key in marked, f"signing.md has no block marked example:{key}"
        return marked[key]

    inputs: dict[str, str] = {}
    for line in part("inputs").splitlines():
        field, sep, value = line.partition(":")
        assert sep, f"not 'name: value': {line!r}"
        inputs[field.strip()] = value.strip()
    return Example(name, inputs, part)


@dataclass(frozen=True)
class Sent:
    """The documented HTTP request: request line, header lines in order, body."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) == 1, (name, values)
        return values[0]

    @property
    def url(self) -> str:
        return f"https://{self.header('host')}{self.target}"


def sent(ex: Example) -> Sent:
    head, blank, body = ex.part("request").partition("\n\n")
    request_line, *lines = head.split("\n")
    method, target, version = request_line.split(" ")
    assert version == "HTTP/1.1"
    headers = []
    for line in lines:
        name, sep, value = line.partition(": ")
        assert sep, line
        assert name, line
        assert value == value.strip(), line
        headers.append((name, value))
    assert bool(blank) == bool(ex.body), "a blank line and a body, or neither"
    return Sent(method, target, headers, body.encode("utf-8"))


# --- signing.md: the worked examples ----------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_worked_example_is_what_our_signer_makes(name: str) -> None:
    ex = example(name)
    headers = ex.signed()
    if ex.body is not None:
        size, _, sha = ex.inputs["body"].partition(" bytes, SHA-256 ")
        assert len(ex.body) == int(size)
        assert hashlib.sha256(ex.body).hexdigest() == sha
        assert headers["Content-Digest"] == ex.part("content-digest")
        assert headers["Content-Type"] == ex.content_type
    else:
        assert "Content-Digest" not in headers
    assert headers["Signature-Input"] == ex.part("signature-input")
    assert headers["Signature"] == ex.part("signature")
    base = signature_base(
        Request(ex.method, ex.url, list(headers.items())),
        ex.covered,
        SignatureParams(created=ex.created, keyid=ex.key_id, nonce=ex.nonce),
    )
    assert base.decode("ascii") == ex.part("signature-base")


@pytest.mark.parametrize("name", EXAMPLES)
def test_worked_example_checks_out_without_our_code(name: str) -> None:
    """What a vendor does by hand: digest, base from the rules, signature from the key."""
    ex = example(name)
    if ex.body is not None:
        digest = base64.b64encode(hashlib.sha256(ex.body).digest()).decode()
        assert ex.part("content-digest") == f"sha-256=:{digest}:"
    signature_input = ex.part("signature-input")
    label, _, params = signature_input.partition("=")
    assert label == "sig1"
    assert params == (
        "(" + " ".join(f'"{c}"' for c in ex.covered) + ")"
        f';created={ex.created};keyid="{ex.key_id}";nonce="{ex.nonce}"'
    )
    values = {"@method": ex.method, "@target-uri": ex.url}
    if ex.body is not None:
        values |= {"content-digest": ex.part("content-digest"), "content-type": ex.content_type}
    lines = [f'"{c}": {values[c]}' for c in ex.covered] + [f'"@signature-params": {params}']
    base = "\n".join(lines).encode("ascii")
    assert base == ex.part("signature-base").encode("ascii")
    signature_field = ex.part("signature")
    assert signature_field.startswith("sig1=:")
    assert signature_field.endswith(":")
    signature = base64.b64decode(signature_field[len("sig1=:") : -1], validate=True)
    if ex.alg == "ed25519":
        public = Ed25519SigningKey(ex.material()).verifying_key().public_bytes
        assert public == ex.public_key()
        assert base64.b64decode(ex.inputs["public key (base64)"]) == public
        Ed25519PublicKey.from_public_bytes(public).verify(signature, base)  # raises if wrong
    else:
        assert ex.inputs.get("secret (hex)", ex.material().hex()) == ex.material().hex()
        assert len(ex.material()) == 32
        assert signature == hmac.new(ex.material(), base, hashlib.sha256).digest()


@pytest.mark.parametrize("name", EXAMPLES)
def test_documented_request_passes_the_verifier(name: str) -> None:
    ex = example(name)
    request = sent(ex)
    assert (request.method, request.url) == (ex.method, ex.url)
    assert request.body == (ex.body or b"")
    unsigned = {"host", "content-length"}
    assert [(k, v) for k, v in request.headers if k.lower() not in unsigned] == list(
        ex.signed().items()
    )
    if ex.body is not None:
        assert request.header("content-length") == str(len(ex.body))
        assert verify_content_digest(request.header("content-digest"), request.body)

    keys = {ex.key_id: ex.verifying_key()}
    verified = verify_request(
        Request(request.method, request.url, request.headers), resolve_key=keys.get
    )
    assert (verified.keyid, verified.covered) == (ex.key_id, ex.covered)
    required = auth.REQUIRED_WITH_BODY if ex.body else auth.REQUIRED
    for now in (ex.created - 300, ex.created, ex.created + 300):
        check_policy(verified, required=required, now=now, max_skew=300)
    with pytest.raises(CreatedOutOfWindow):
        check_policy(verified, required=required, now=ex.created + 301, max_skew=300)
    with pytest.raises(NotYetValid):
        check_policy(verified, required=required, now=ex.created - 301, max_skew=300)


def test_documented_pem_keys_are_the_example_key() -> None:
    ex = example("ed25519")
    pem = blocks("signing.md")["ed25519:private-key-pem"]
    from_pem = load_key("ed25519", pem)
    assert isinstance(from_pem, Ed25519SigningKey)
    assert from_pem.verifying_key().public_bytes == ex.public_key()
    public_pem = blocks("signing.md")["ed25519:public-key-pem"]
    assert parse_public_key(public_pem.encode()) == ex.public_key()
    assert parse_public_key(ex.inputs["public key (base64)"].encode()) == ex.public_key()


def _header_lines(ex: Example) -> list[str]:
    return [f"{k}: {v}" for k, v in sent(ex).headers if k.lower() not in {"host", "content-length"}]


def test_python_snippet_runs_and_prints_the_documented_headers() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks("signing.md")["python"], "signing.md", "exec"), {})  # noqa: S102
    assert out.getvalue().splitlines() == _header_lines(example("ed25519"))


def test_node_snippet_prints_the_documented_headers(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = tmp_path / "sign.mjs"
    script.write_text(blocks("signing.md")["node"], "utf-8")
    done = subprocess.run(
        [node, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == _header_lines(example("ed25519"))


# --- the documented requests, sent to the platform with its clock at their `created` ----------


@pytest.fixture
def documented_client(
    db: Session, settings: Settings, factory: Factory
) -> Callable[[Example], Any]:
    """Register the example's institution, client and key (with the documented key id)."""
    institution = factory.institution()
    institution.code = json.loads(example("ed25519").body or b"{}")["institution_code"]
    for code in ("01", "02"):
        catalogue(db, code)

    def register(ex: Example) -> Any:
        client = create_client(
            db, name="示例 LIMS", institution=institution, status=ClientStatus.ACTIVE
        )
        created = dt.datetime.fromtimestamp(ex.created, dt.UTC)
        material = (
            ex.public_key()
            if ex.alg == "ed25519"
            else keystore.seal(settings.secret_key, ex.material(), ex.key_id)
        )
        db.add(
            ClientKey(
                client_id=client.id,
                institution_id=institution.id,
                region_code=institution.region_code,
                key_id=ex.key_id,
                alg=ex.alg,
                key_material=material,
                valid_from=created - dt.timedelta(days=30),
                valid_until=created + dt.timedelta(days=335),
            )
        )
        db.commit()
        return client

    return register


def _send(http: TestClient, request: Sent) -> Any:
    headers = {k: v for k, v in request.headers if k.lower() not in {"host", "content-length"}}
    return http.request(request.method, request.target, content=request.body, headers=headers)


@pytest.mark.parametrize("name", EXAMPLES)
def test_documented_request_is_accepted_by_the_platform(
    name: str,
    app: FastAPI,
    db: Session,
    documented_client: Callable[[Example], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ex = example(name)
    client = documented_client(ex)
    request = sent(ex)
    if ex.body is None:  # the HEAD asks for a file: let the client have uploaded it
        sha256 = request.target.rsplit("/", 1)[1]
        db.add(
            ExchangeFile(
                sha256=sha256,
                size=123,
                client_id=client.id,
                institution_id=client.institution_id,
                region_code=client.region_code,
            )
        )
        db.commit()
    moment = dt.datetime.fromtimestamp(ex.created, dt.UTC)
    monkeypatch.setattr(auth, "utcnow", lambda: moment)
    host = request.header("host")
    with TestClient(
        app, base_url=f"https://{host}", headers={"accept": "application/json"}
    ) as http:
        response = _send(http, request)
        if ex.body is None:
            assert response.status_code == 200, response.text
            assert response.headers["content-length"] == "123"
            return
        assert response.status_code == 202, response.text
        receipt = response.json()
        assert receipt["status"] == "accepted"
        assert receipt["entry"]["key_id"] == ex.key_id
        assert set(receipt) == set(_receipt_fields())
        check_receipt = _receipt_checker()
        check_receipt(request.body, receipt, ex.key_id)
        apply_waiting(http)
        status = _status(http, ex, receipt["status_url"])
        assert status["status"] == "applied"
        assert status["results"] == {"created": 1, "updated": 0, "unchanged": 0}
        assert status["receipt"] == receipt
        assert set(status) == set(_status_fields()) - {"problem"}
        # The same request again is a replay; signed anew it is a duplicate with the receipt.
        again = _send(http, request)
        assert again.status_code == 401
        assert again.json()["type"] == problems.NONCE_REPLAYED.uri
        fresh = signed_headers(
            ex.method,
            ex.url,
            key_id=ex.key_id,
            key=load_key(ex.alg, ex.material()),
            body=ex.body,
            content_type=ex.content_type,
            created=ex.created,
        )  # a new random nonce
        headers = [(k, fresh.get(k, v)) for k, v in request.headers]
        resent = Sent(request.method, request.target, headers, request.body)
        duplicate = _send(http, resent)
        assert duplicate.status_code == 200, duplicate.text
        assert duplicate.json() == {**receipt, "status": "duplicate"}


# --- README.md: receipts ----------------------------------------------------------------------


def _receipt_checker() -> Callable[[bytes, dict[str, Any], str], None]:
    """The README's `check_receipt`, run from the markdown."""
    namespace: dict[str, Any] = {}
    exec(compile(blocks("README.md")["verify-receipt"], "README.md", "exec"), namespace)  # noqa: S102
    return namespace["check_receipt"]


def test_documented_receipt_is_that_of_example_1() -> None:
    """The README's receipt checks out with its own recipe and is signed by the shown key."""
    ex = example("ed25519")
    receipt = json.loads(blocks("README.md")["receipt"])
    assert ex.body is not None
    _receipt_checker()(ex.body, receipt, ex.key_id)
    with pytest.raises(ValueError, match="another message"):
        _receipt_checker()(ex.body.replace(b"320.00", b"320.50"), receipt, ex.key_id)
    note = open_note(receipt["promise"], [Verifier(blocks("README.md")["log-key"])])
    header, origin, leaf, moment, delay = note.text.splitlines()
    assert header == PROMISE_HEADER
    assert origin == Verifier(blocks("README.md")["log-key"]).name
    assert base64.b64decode(leaf).hex() == receipt["leaf_hash"]
    assert moment == receipt["notarised_at"]
    assert int(delay) == receipt["max_delay_seconds"]
    assert int(delay) == Settings(env="test", secret_key="x" * 32).ledger_max_delay_seconds
    assert receipt["status_url"] == f"/exchange/v1/messages/registry.labs/{receipt['message_id']}"
    # the Python client reads and verifies the same receipt
    message = json.loads(ex.body)
    Receipt.from_json(receipt).verify(
        message,
        key_id=ex.key_id,
        message_type="registry.labs",
        log_key=blocks("README.md")["log-key"],
    )
    assert set(receipt) == set(_receipt_fields())


def _receipt_fields() -> list[str]:
    """The fields the README's receipt table explains."""
    section = doc("README.md").split("## Receipts", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE)


def _status_fields() -> list[str]:
    """The fields the README's status table explains (and those of its example)."""
    section = doc("README.md").split("## Status of a message", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)? \|", section, re.MULTILINE)
    fields = [n for pair in names for n in pair if n]
    example_fields = json.loads(blocks("README.md")["status"])
    assert set(example_fields) <= {*fields, "message_id", "message_type"}
    return [*fields, "message_id", "message_type"]


def _status(http: TestClient, ex: Example, path: str) -> dict[str, Any]:
    """The signed GET of a message's status, with the example's key, at the example's time."""
    url = f"{ex.url.split('/exchange/', 1)[0]}{path}"
    key = load_key(ex.alg, ex.material())
    headers = signed_headers("GET", url, key_id=ex.key_id, key=key, created=ex.created)
    response = http.get(path, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- messages.md ------------------------------------------------------------------------------


def _message_section(name: str) -> str:
    parts = re.split(r"^## ", doc("messages.md"), flags=re.MULTILINE)
    found = [p for p in parts if p.startswith(f"`{name}` — ")]
    assert len(found) == 1, f"messages.md needs one section '## `{name}` — <title>'"
    return found[0]


def _schema_fields(schema: dict[str, Any]) -> dict[str, bool]:
    """Every field of a message's JSON Schema (``list[].field`` inside lists) -> required."""
    defs = schema.get("$defs", {})
    out: dict[str, bool] = {}
    for name, prop in schema["properties"].items():
        out[name] = name in schema.get("required", ())
        ref = prop.get("items", {}).get("$ref")
        if ref:
            record = defs[ref.rsplit("/", 1)[1]]
            for inner in record["properties"]:
                out[f"{name}[].{inner}"] = inner in record.get("required", ())
    return out


@pytest.fixture(scope="module")
def message_types() -> dict[str, Any]:
    registered = types.message_types()
    assert registered, "no message type registered"
    return registered


def test_every_message_type_has_a_section_with_its_title(message_types: dict[str, Any]) -> None:
    documented = re.findall(r"^## `([a-z0-9_.]+)` — ", doc("messages.md"), re.MULTILINE)
    assert sorted(documented) == sorted(message_types)
    for name, kind in message_types.items():
        assert _message_section(name).splitlines()[0] == f"`{name}` — {kind.title}"


def test_every_registered_example_validates_and_is_the_documented_one(
    message_types: dict[str, Any],
) -> None:
    for name, kind in message_types.items():
        kind.schema.model_validate(kind.example)
        assert json.loads(blocks("messages.md")[f"message:{name}"]) == kind.example, name


def test_field_tables_match_the_schemas(message_types: dict[str, Any]) -> None:
    for name, kind in message_types.items():
        rows = re.findall(
            r"^\| `([a-z0-9_\[\].]+)` \| [^|]+ \| (yes|no)\b[^|]* \| [^|]+ \|$",
            _message_section(name),
            re.MULTILINE,
        )
        documented = {field: required == "yes" for field, required in rows}
        assert len(documented) == len(rows), f"{name}: a field twice"
        assert documented == _schema_fields(kind.schema.model_json_schema()), name


def test_schemas_are_served_for_every_type(
    client: TestClient, message_types: dict[str, Any]
) -> None:
    listing = client.get("/exchange/v1/schemas")
    assert listing.status_code == 200
    assert listing.json() == {
        name: f"http://testserver/exchange/v1/schemas/{name}" for name in sorted(message_types)
    }
    for name, kind in message_types.items():
        response = client.get(f"/exchange/v1/schemas/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/schema+json")
        # the code's schema, as the data standard in force (the baseline, version 1) states it
        assert response.json() == {
            **json_schema(kind, "http://testserver"),
            "x-data-standard-version": 1,
        }
        assert response.json()["examples"] == [kind.example]


# --- errors.md --------------------------------------------------------------------------------

GENERIC = (VALIDATION, TOO_LARGE, UNSUPPORTED_MEDIA, TOO_MANY, NOT_FOUND, BAD_REQUEST)
GENERIC += (INTERNAL, METHOD_NOT_ALLOWED)


def _catalogue_rows() -> dict[str, tuple[int, str]]:
    rows = re.findall(
        r"^\| `/problems/([a-z-]+)` \| (\d{3}) \| ([^|]+?) \|", doc("errors.md"), re.MULTILINE
    )
    found = {slug: (int(status), title) for slug, status, title in rows}
    assert len(found) == len(rows), "a problem type listed twice"
    return found


def test_every_exchange_problem_type_is_catalogued() -> None:
    rows = _catalogue_rows()
    for kind in (*problems.ALL, *GENERIC):
        assert rows.get(kind.slug) == (kind.status, kind.title), kind.slug
    stale = set(rows) - set(PROBLEM_TYPES)
    assert not stale, f"errors.md lists problem types that do not exist: {sorted(stale)}"


# --- the settings -----------------------------------------------------------------------------


def test_every_exchange_setting_is_in_the_configuration_page() -> None:
    page = (DOCS.parent / "operations" / "configuration.md").read_text("utf-8")
    for name in Settings.model_fields:
        if name.startswith("exchange_"):
            assert f"`JCJG_{name.upper()}`" in page, name


def test_the_sm2_example_verifies_and_its_key_is_the_standards() -> None:
    """signing.md's SM2 example: the base is Example 1's under another key id, the signature
    verifies with the public key, and the private key is GB/T 32918.5 Annex A's."""
    from jcjg.exchange.signatures import SM2SigningKey, SM2VerifyingKey

    text = (DOCS / "signing.md").read_text("utf-8")
    blocks = dict(
        re.findall(r"^<!-- sm2-example:(\S+) -->\n```[^\n]*\n(.*?)\n```$", text, re.M | re.S)
    )
    public = SM2VerifyingKey(blocks["public-key-pem"].encode())
    private = SM2SigningKey(blocks["private-key-pem"].encode())
    assert private.public_bytes == public.public_bytes
    assert private.private_bytes_raw().hex().upper() == (
        "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
    )
    base = blocks["signature-base"].encode("ascii")
    assert base == example("ed25519").part("signature-base").replace(
        'keyid="c12-5b0e4f7a9c21"', 'keyid="c14-3f2a6b9d0e17"'
    ).encode("ascii")
    field = blocks["signature"]
    signature = base64.b64decode(field[len("sig1=:") : -1], validate=True)
    assert public.verify(base, signature)
    assert not public.verify(base + b" ", signature)
    assert public.verify(base, private.sign(base))
