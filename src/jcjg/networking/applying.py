"""The applicant's side of an application for access (000 6.0.7): the key it will forward with,
the signed application, and asking how it stands (``jcjg network apply`` / ``application``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from jcjg.client.api import problem_of, tls_context
from jcjg.client.signing import infer_alg, load_key, signed_headers
from jcjg.exchange.signatures import ALG_ED25519, ALG_SM2_SM3, SigningKey, SM2SigningKey
from jcjg.ledger.note import NoteError, Signer, Verifier, sign_note
from jcjg.networking.applications import APPLICATIONS_PATH, key_id_for, proof_text

TIMEOUT = 15.0


class ApplyError(Exception):
    """The parent refused or could not be reached: why, in words."""


def key_from(path: Path, alg: str = ALG_ED25519) -> SigningKey:
    """The private key in ``path`` (PEM: Ed25519, or SM2), made there (mode 0600) when absent,
    of ``alg`` (``sm2-sm3`` on a platform of the national profile)."""
    if path.exists():
        pem = path.read_bytes()
        try:
            return load_key(infer_alg(pem), pem)
        except (ValueError, TypeError) as exc:
            raise ApplyError(f"{path} 中不是 Ed25519 或 SM2 私钥") from exc
    if alg == ALG_SM2_SM3:
        sm2 = SM2SigningKey.generate()
        key: SigningKey = sm2
        pem = sm2.private_pem()
    else:
        ed = Ed25519PrivateKey.generate()
        key = load_key(ALG_ED25519, ed)
        pem = ed.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key


def _public(key: SigningKey) -> Any:
    return key.verifying_key()  # type: ignore[attr-defined]


def public_pem(key: SigningKey) -> str:
    public = _public(key)
    if isinstance(key, SM2SigningKey):
        return str(public.public_pem().decode())
    raw = Ed25519PublicKey.from_public_bytes(public.public_bytes)
    return raw.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def _key_id(key: SigningKey) -> str:
    return key_id_for(_public(key).public_bytes)


def _answer(response: httpx.Response) -> dict[str, Any]:
    if response.status_code in (200, 201):
        data = response.json()
        if isinstance(data, dict):
            return data
    problem = problem_of(response)
    details = [f"{e.get('field')}：{e.get('message')}" for e in problem.get("errors") or []]
    why = "；".join(details) or str(problem.get("detail") or problem.get("title") or "")
    raise ApplyError(f"上级平台拒绝（HTTP {response.status_code}）：{why}")


def _request(http: httpx.Client | None, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        if http is not None:
            return _answer(http.request(method, url, **kwargs))
        with httpx.Client(timeout=TIMEOUT, verify=tls_context()) as own:
            return _answer(own.request(method, url, **kwargs))
    except httpx.TimeoutException as exc:
        raise ApplyError(f"连接上级平台 {url} 超时") from exc
    except httpx.HTTPError as exc:
        raise ApplyError(f"无法连接上级平台 {url}（{type(exc).__name__}）") from exc


def parent_origin(parent_url: str, http: httpx.Client | None = None) -> str:
    """The parent's log origin, from its verifier key (``GET /ledger/key``)."""
    url = parent_url.rstrip("/") + "/ledger/key"
    try:
        if http is not None:
            got = http.get(url)
        else:
            with httpx.Client(timeout=TIMEOUT, verify=tls_context()) as own:
                got = own.get(url)
    except httpx.HTTPError as exc:
        raise ApplyError(f"无法连接上级平台 {url}（{type(exc).__name__}）") from exc
    try:
        got.raise_for_status()
        return Verifier(got.text.strip()).name
    except (httpx.HTTPError, NoteError) as exc:
        raise ApplyError(f"{url} 没有回答上级平台的日志公钥") from exc


def send(
    parent_url: str,
    key: SigningKey,
    fields: dict[str, Any],
    log_signer: Signer,
    http: httpx.Client | None = None,
) -> dict[str, Any]:
    """Send the application (``fields``: name, region_code, base_url, log_key, contact_name,
    contact_phone, contact_email, note) signed with ``key``, with the proof that this platform
    holds its log (``log_signer``, its ledger's key); the parent's answer."""
    url = parent_url.rstrip("/") + APPLICATIONS_PATH
    proof = sign_note(proof_text(parent_origin(parent_url, http), _key_id(key)), log_signer)
    body = json.dumps(
        {**fields, "public_key": public_pem(key), "log_proof": proof.decode()}, ensure_ascii=False
    ).encode()
    headers = signed_headers(
        "POST",
        url,
        key_id=_key_id(key),
        key=key,
        body=body,
        content_type="application/json",
    )
    return _request(http, "POST", url, content=body, headers=headers)


def status(
    parent_url: str, reference: str, key: SigningKey, http: httpx.Client | None = None
) -> dict[str, Any]:
    """Where the application ``reference`` stands, asked with the key it was sent with."""
    url = f"{parent_url.rstrip('/')}{APPLICATIONS_PATH}/{reference}"
    headers = signed_headers("GET", url, key_id=_key_id(key), key=key)
    return _request(http, "GET", url, headers=headers)
