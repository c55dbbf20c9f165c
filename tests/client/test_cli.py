"""``jcjg-client`` against the live platform: send, outbox, retry, run, put."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jcjg.client.cli import main
from tests.client.live import Lab, LiveExchange


def _key_file(lab: Lab, folder: Path) -> Path:
    path = folder / "lims.key"
    if isinstance(lab.material, Ed25519PrivateKey):
        path.write_bytes(
            lab.material.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    else:
        path.write_text(lab.material + "\n")
    return path


def _options(exchange: LiveExchange, lab: Lab, folder: Path, url: str | None = None) -> list[str]:
    return [
        "--url",
        url or exchange.url,
        "--key-id",
        lab.key_id,
        "--key-file",
        str(_key_file(lab, folder)),
        "--outbox",
        str(folder / "outbox.sqlite3"),
    ]


def _json_file(folder: Path, data: object) -> str:
    path = folder / f"{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return str(path)


@pytest.mark.parametrize("alg", ["ed25519", "hmac-sha256"])
def test_send_with_a_file_then_an_empty_outbox(
    exchange: LiveExchange, tmp_path: Path, capsys: pytest.CaptureFixture[str], alg: str
) -> None:
    lab = exchange.lab(alg)
    options = _options(exchange, lab, tmp_path)
    certificate = tmp_path / "cert.pdf"
    certificate.write_bytes(b"%PDF " + uuid.uuid4().bytes)
    sha256 = hashlib.sha256(certificate.read_bytes()).hexdigest()
    message = _json_file(tmp_path, lab.equipment_message(sha256))
    code = main([*options, "send", "registry.equipment", message, "--file", str(certificate)])
    receipt = json.loads(capsys.readouterr().out)
    assert code == 0
    assert receipt["status"] == "accepted"
    assert receipt["entry"]["key_id"] == lab.key_id
    assert exchange.stored_file(lab, sha256) is not None
    assert main([*options, "outbox"]) == 0
    assert "发件箱为空" in capsys.readouterr().out


def test_refused_then_retried(
    exchange: LiveExchange, lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = _options(exchange, lab, tmp_path)
    equipment = {
        "institution_code": lab.institution_code,
        "equipment": [{"asset_number": "A-1", "name": "万能试验机", "lab_name": "化学室"}],
    }
    assert main([*options, "send", "registry.equipment", _json_file(tmp_path, equipment)]) == 1
    sent = json.loads(capsys.readouterr().out)
    assert sent["status"] == "accepted"  # accepted, then rejected when applied
    assert sent["outcome"]["status"] == "rejected"
    assert sent["outcome"]["problem"]["status"] == 422
    assert main([*options, "outbox", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["message_id"], listed["status"]) == (sent["message_id"], "rejected")
    assert "化学室" in json.dumps(listed["problem"], ensure_ascii=False)
    labs = _json_file(tmp_path, lab.labs_message("化学室"))
    assert main([*options, "send", "registry.labs", labs]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"]["status"] == "applied"
    assert main([*options, "retry"]) == 2  # an id or --all
    assert main([*options, "retry", sent["message_id"]]) == 0
    assert "以新编号" in capsys.readouterr().out
    assert main([*options, "run", "--until-empty", "--max-time", "30"]) == 0
    out = capsys.readouterr().out
    assert "已发送 1 条" in out
    assert "平台已处理 1 条，未通过 0 条" in out
    assert main([*options, "outbox"]) == 0
    assert "发件箱为空" in capsys.readouterr().out


def test_unreachable_platform_keeps_the_message(
    exchange: LiveExchange,
    lab: Lab,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    refused_port: int,
) -> None:
    down = _options(exchange, lab, tmp_path, url=f"http://127.0.0.1:{refused_port}")
    message = _json_file(tmp_path, lab.labs_message())
    assert main([*down, "send", "registry.labs", message]) == 3
    pending = json.loads(capsys.readouterr().out)
    assert (pending["status"], pending["attempts"]) == ("pending", 1)
    assert main([*down, "outbox"]) == 0
    listing = capsys.readouterr().out
    assert pending["message_id"] in listing
    assert "attempts=1" in listing
    assert "ConnectError" in listing
    up = _options(exchange, lab, tmp_path)
    assert main([*up, "run", "--until-empty", "--max-time", "20"]) == 0
    assert main([*up, "outbox"]) == 0
    assert "发件箱为空" in capsys.readouterr().out


def test_put_by_the_installed_command_with_environment(
    exchange: LiveExchange, lab: Lab, tmp_path: Path
) -> None:
    upload = tmp_path / "photo.jpg"
    upload.write_bytes(b"\xff\xd8\xff" + os.urandom(5000))
    env = {
        **os.environ,
        "JCJG_CLIENT_URL": exchange.url,
        "JCJG_CLIENT_KEY_ID": lab.key_id,
        "JCJG_CLIENT_KEY_FILE": str(_key_file(lab, tmp_path)),
    }
    command = Path(sys.executable).with_name("jcjg-client")
    argv = [str(command)] if command.exists() else [sys.executable, "-m", "jcjg.client.cli"]
    done = subprocess.run(
        [*argv, "--outbox", str(tmp_path / "o.sqlite3"), "put", str(upload)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    sha256 = hashlib.sha256(upload.read_bytes()).hexdigest()
    assert done.stdout.strip() == sha256
    stored = exchange.stored_file(lab, sha256)
    assert stored is not None
    assert stored.content_type == "image/jpeg"


def test_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JCJG_CLIENT_URL", "JCJG_CLIENT_KEY_ID", "JCJG_CLIENT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    outbox = ["--outbox", str(tmp_path / "o.sqlite3")]
    assert main([*outbox, "put", __file__]) == 2
    assert "--url" in capsys.readouterr().err
    key = tmp_path / "raw.key"
    key.write_bytes(b"x" * 10)
    bad = ["--url", "http://x", "--key-id", "k", "--key-file", str(key), *outbox]
    assert main([*bad, "put", __file__]) == 2
    assert "密钥文件" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2


@pytest.mark.parametrize("alg", ["ed25519", "sm2-sm3"])
def test_keygen_writes_a_private_key_only_its_owner_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alg: str
) -> None:
    from jcjg.client.signing import infer_alg, load_key
    from jcjg.exchange.clients import parse_public_key, parse_sm2_public_key

    path = tmp_path / "lab.pem"
    assert main(["keygen", "--alg", alg, str(path)]) == 0
    public = capsys.readouterr().out
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    assert path.stat().st_mode & 0o777 == 0o600
    private = path.read_bytes()
    assert infer_alg(private) == alg
    key = load_key(alg, private)
    parse = parse_sm2_public_key if alg == "sm2-sm3" else parse_public_key
    raw = parse(public.encode())
    assert raw == (key.verifying_key().public_bytes)  # type: ignore[attr-defined]
    assert main(["keygen", "--alg", alg, str(path)]) == 2  # never overwrites a key
    assert path.read_bytes() == private
