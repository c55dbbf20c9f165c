"""The public endpoints, the explorer page, the CLI and the standalone verifier."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jcjg.ledger import merkle, service, standalone
from jcjg.ledger.note import Verifier, open_checkpoint
from tests.conftest import demo_template


@pytest.fixture
def filled(db, app):
    """A log with a few committed entries (in the test's transaction)."""
    receipts = [
        service.notarise(db, "report:issue", {"report_number": f"JJ-2026-{i:04d}", "结论": "合格"})
        for i in range(11)
    ]
    while service.integrate(db):
        pass
    db.commit()
    return receipts


def test_checkpoint_verifies_with_the_published_key(client, filled):
    note = client.get("/ledger/checkpoint")
    assert note.headers["content-type"].startswith("text/plain")
    assert "max-age" in note.headers["cache-control"]
    vkey = client.get("/ledger/key").text.strip()
    checkpoint, _ = open_checkpoint(note.text.encode(), [Verifier(vkey)])
    assert checkpoint.size >= 11
    # and with the standalone verifier's independent implementation of the note format
    text = standalone.verify_note(note.text, vkey)
    assert text.splitlines()[1] == str(checkpoint.size)


def test_entry_and_proofs(client, filled):
    receipt = filled[4]
    entry = client.get(f"/ledger/entries/{receipt.index}")
    assert entry.status_code == 200
    body = entry.json()
    assert set(body) >= {"index", "entry_type", "entry", "leaf_hash"}
    assert body["leaf_hash"] == receipt.leaf_hash.hex()
    assert merkle.leaf_hash(body["canonical"].encode()).hex() == body["leaf_hash"]
    assert "immutable" in entry.headers["cache-control"]

    checkpoint, _ = open_checkpoint(
        client.get("/ledger/checkpoint").text.encode(),
        [Verifier(client.get("/ledger/key").text.strip())],
    )
    size = checkpoint.size
    proof = client.get(f"/ledger/proof/inclusion?index={receipt.index}&size={size}").json()
    assert (proof["index"], proof["size"]) == (receipt.index, size)
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    assert merkle.verify_inclusion(receipt.leaf_hash, receipt.index, size, hashes, checkpoint.root)

    by_hash = client.get(f"/ledger/proof/by-hash?leaf_hash={receipt.leaf_hash.hex()}&size={size}")
    assert by_hash.json()["hashes"] == proof["hashes"]

    cons = client.get(f"/ledger/proof/consistency?first=3&second={size}").json()
    assert cons["second_root"] == checkpoint.root.hex()
    assert merkle.verify_consistency(
        3,
        size,
        [bytes.fromhex(h) for h in cons["hashes"]],
        bytes.fromhex(cons["first_root"]),
        checkpoint.root,
    )


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/ledger/entries/-1", 400),
        ("/ledger/entries/abc", 400),
        ("/ledger/entries/99999999", 404),
        ("/ledger/proof/inclusion?index=-1", 400),
        ("/ledger/proof/inclusion?index=abc", 400),
        ("/ledger/proof/inclusion?index=0&size=0", 400),
        ("/ledger/proof/inclusion?index=0&size=99999999", 400),
        ("/ledger/proof/inclusion?index=99999999", 400),
        ("/ledger/proof/inclusion?index=1&size=1", 400),
        ("/ledger/proof/inclusion", 400),
        ("/ledger/proof/by-hash?leaf_hash=zz", 400),
        ("/ledger/proof/by-hash?leaf_hash=" + "g" * 64, 400),
        ("/ledger/proof/by-hash?leaf_hash=" + "0" * 64, 404),
        ("/ledger/proof/consistency?first=0&second=3", 400),
        ("/ledger/proof/consistency?first=5&second=3", 400),
        ("/ledger/proof/consistency?first=1&second=99999999", 400),
        ("/ledger/proof/consistency?first=x", 400),
        ("/ledger/proof/inclusion?index=99999999999999999999999", 400),
    ],
)
def test_bad_parameters_are_400_never_500(client, filled, url, status):
    response = client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]


def test_rate_limited(client, app, filled):
    from jcjg.core.ratelimit import RateLimiter

    app.state.rate_limiters["ledger"] = RateLimiter(per_minute=3)
    codes = [client.get("/ledger/key").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3] == 429
    limited = client.get("/ledger/key")
    assert limited.json()["type"] == "/problems/too-many-requests"
    assert int(limited.headers["retry-after"]) >= 1


def test_cosignature_endpoint(client, filled, settings):
    from jcjg.ledger.note import Signer, generate_signer, signature_line

    skey, vkey = generate_signer("province.example/ledger")
    note = client.get("/ledger/checkpoint").text
    size = int(note.splitlines()[1])
    line = signature_line(note.split("\n\n")[0] + "\n", Signer(skey))
    refused = client.post(f"/ledger/checkpoint/{size}/cosignatures", content=line)
    assert refused.status_code == 400  # no cosigners configured
    log = service.log_identity()
    object.__setattr__(log, "witnesses", (Verifier(vkey),))
    try:
        ok = client.post(f"/ledger/checkpoint/{size}/cosignatures", content=line)
        assert ok.status_code == 200
        assert "province.example/ledger" in client.get("/ledger/checkpoint").text
        forged = client.post(
            f"/ledger/checkpoint/{size}/cosignatures", content=line[:-6] + "AAAAAA"
        )
        assert forged.status_code == 400
    finally:
        object.__setattr__(log, "witnesses", ())


def test_explorer_page(client, filled):
    page = client.get("/ledger", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "透明日志" in page.text
    assert "哈希为 SM3" not in page.text  # the standard profile's log: SHA-256 and Ed25519
    assert "检测报告签发" in page.text  # the entry type by its label
    receipt = filled[2]
    found = client.get(
        f"/ledger?leaf_hash={receipt.leaf_hash.hex()}", headers={"accept": "text/html"}
    )
    assert "包含证明验证通过" in found.text
    assert "JJ-2026-0002" in found.text
    missing = client.get("/ledger?leaf_hash=" + "0" * 64, headers={"accept": "text/html"})
    assert "没有这个叶哈希" in missing.text
    consistent = client.get("/ledger?first=2&second=9", headers={"accept": "text/html"})
    assert 'class="badge ok">一致' in consistent.text
    bad = client.get("/ledger?first=9&second=2", headers={"accept": "text/html"})
    assert "first 不能大于 second" in bad.text


def test_explorer_links_lead_to_pages_that_exist(client, filled, db):
    """Every link of the recent entries opens the entry with its proof; an entry not yet in a
    checkpoint has no link (its proof does not exist yet)."""
    import re

    pending = service.notarise(db, "report:issue", {"report_number": "JJ-2026-9999"})
    db.commit()
    page = client.get("/ledger", headers={"accept": "text/html"}).text
    table = page.split('data-testid="ledger-entries"')[1]
    links = re.findall(r'href="(/ledger\?leaf_hash=[0-9a-f]{64})"', table)
    assert len(links) >= len(filled)
    for href in links:
        shown = client.get(href, headers={"accept": "text/html"})
        assert shown.status_code == 200
        assert "包含证明验证通过" in shown.text
    assert f"/ledger?leaf_hash={pending.leaf_hash.hex()}" not in table  # not yet integrated
    assert "待整合" in table


# --- the standalone verifier -------------------------------------------------------------------


def test_standalone_verifier_imports_nothing_of_the_platform():
    tree = ast.parse(Path(standalone.__file__).read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            assert not any((n or "").startswith("jcjg") for n in names)


def test_standalone_inclusion_matches_known_answers():
    data = json.loads((Path(__file__).parent / "data/rfc6962_vectors.json").read_text())
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in data["leaf_inputs_hex"]]
    for size in range(1, len(leaves) + 1):
        root = merkle.root_hash(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(leaves, index, size)
            assert standalone.verify_inclusion(leaves[index], index, size, proof, root)
            if proof:
                bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
                assert not standalone.verify_inclusion(leaves[index], index, size, bad, root)
            assert not standalone.verify_inclusion(leaves[index], index, size, [*proof, root], root)


def _verify_cli(key: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", standalone.__file__, "--key", key, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_prove_and_verify_offline(db, filled, tmp_path):
    bundle = service.proof_bundle(db, filled[7].index)
    key = service.log_identity().vkey  # what the verifier got through a trusted channel
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False), "utf-8")
    run = _verify_cli(key, path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("是 / YES")
    assert key.split("+")[1] in run.stdout  # the key id it trusted is said
    assert "JJ-2026-0007" in run.stdout
    key_file = tmp_path / "log.key"
    key_file.write_text(key + "\n", "ascii")
    assert _verify_cli(str(key_file), path).returncode == 0

    # the object form gives the same answer
    without = {k: v for k, v in bundle.items() if k != "entry_canonical"}
    assert standalone.verify_bundle(without, key)["index"] == filled[7].index

    tampered = dict(bundle, entry_canonical=bundle["entry_canonical"].replace("合格", "不合格"))
    path.write_text(json.dumps(tampered, ensure_ascii=False), "utf-8")
    run = _verify_cli(key, path)
    assert run.returncode == 1
    assert run.stdout.startswith("否 / NO")

    with pytest.raises(standalone.Invalid):
        standalone.verify_bundle(dict(bundle, size=bundle["size"] + 1), key)
    assert standalone.main(["-h"]) == 2
    assert standalone.main(["bundle-without-key.json"]) == 2


def test_a_forged_log_does_not_fool_the_verifier(db, filled, tmp_path):
    """An attacker signs a one-leaf log of a fake report with a key named like ours."""
    from jcjg.ledger.canonical import canonical_json
    from jcjg.ledger.note import Signer, format_checkpoint, generate_signer, sign_note

    real_key = service.log_identity().vkey
    origin = service.log_identity().origin
    skey, fake_key = generate_signer(origin)
    entry = canonical_json({"data": {"report_number": "FAKE-1"}, "entry_type": "report:issue"})
    root = merkle.leaf_hash(entry)
    forged = {
        "entry_canonical": entry.decode(),
        "index": 0,
        "size": 1,
        "hashes": [],
        "checkpoint": sign_note(format_checkpoint(origin, 1, root), Signer(skey)).decode(),
        "key": fake_key,
    }
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged), "utf-8")
    run = _verify_cli(real_key, path)
    assert run.returncode == 1
    assert run.stdout.startswith("否 / NO")
    without_key = {k: v for k, v in forged.items() if k != "key"}
    with pytest.raises(standalone.Invalid, match="no signature"):
        standalone.verify_bundle(without_key, real_key)
    # a genuine checkpoint under a key of another log's name is refused too
    other_skey, other_vkey = generate_signer("other.example/ledger")
    bundle = service.proof_bundle(db, filled[1].index)
    text_part = bundle["checkpoint"].split("\n\n")[0] + "\n"
    resigned = dict(bundle, checkpoint=sign_note(text_part, Signer(other_skey)).decode())
    resigned.pop("key")
    with pytest.raises(standalone.Invalid, match="log"):
        standalone.verify_bundle(resigned, other_vkey)


# --- the CLI -----------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # the CLI runs on a SQLite file of its own whatever the backend
def test_cli_ledger_commands(tmp_path, monkeypatch):
    from jcjg.cli import main
    from jcjg.config import get_settings
    from jcjg.core.db import make_engine

    # the demo region (`jcjg db upgrade`, then `jcjg demo load`: it notarised 3 institutions
    # and the sampling chain's facts), with the files of its data folder (the log's key)
    url, data_dir, _ = demo_template().copy(tmp_path)
    monkeypatch.setenv("JCJG_DATABASE_URL", url)
    monkeypatch.setenv("JCJG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("JCJG_ENV", "dev")
    get_settings.cache_clear()
    saved = service.log_identity()
    try:
        runner = CliRunner()
        integrated = runner.invoke(main, ["ledger", "integrate"])
        found = re.search(r"整合 (\d+) 条", integrated.output)
        assert found is not None
        cp = runner.invoke(main, ["ledger", "checkpoint"])
        assert cp.exit_code == 0
        # the demo integrates some itself (a panel draw waits for a checkpoint): the checkpoint
        # covers those and the ones integrated now
        size = int(cp.output.splitlines()[1])
        assert size >= int(found.group(1)) > 3
        assert (data_dir / "ledger/signing.key").stat().st_mode & 0o777 == 0o600
        proved = runner.invoke(main, ["ledger", "prove", "1"])
        bundle = json.loads(proved.output)
        assert standalone.verify_bundle(bundle, bundle["key"])["index"] == 1
        assert runner.invoke(main, ["ledger", "prove", str(size + 5)]).exit_code != 0
        ok = runner.invoke(main, ["ledger", "verify"])
        assert ok.exit_code == 0
        assert "日志完好" in ok.output
        # tamper with a stored entry directly in the database
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE ledger_leaf SET entry = CAST(? AS BLOB) WHERE leaf_index = 2",
                ('{"forged":true}',),
            )
        engine.dispose()
        bad = runner.invoke(main, ["ledger", "verify"])
        assert bad.exit_code == 1
        assert "序号 2 " in bad.output
    finally:
        get_settings.cache_clear()
        service._identity = saved  # the run's own key again


def test_a_parent_configured_by_its_log_key_cosigns_in_the_c2sp_format(client, filled, settings):
    """JCJG_UPSTREAM_LOG_KEY is the parent's log key (type 0x01); its cosignature/v1 line (type
    0x04, the same Ed25519 key) is accepted, shown, and counted as the parent's."""
    from jcjg.ledger.keys import identity
    from jcjg.ledger.note import Signer, generate_signer, signature_line

    skey, vkey = generate_signer("province.example/ledger")
    cosigner = Signer(skey).cosigner()
    assert cosigner is not None
    witnesses = identity(settings.model_copy(update={"upstream_log_key": vkey})).witnesses
    assert {w.key_type for w in witnesses} == {b"\x01", b"\x04"}
    note = client.get("/ledger/checkpoint").text
    size = int(note.splitlines()[1])
    line = signature_line(note.split("\n\n")[0] + "\n", cosigner)
    log = service.log_identity()
    object.__setattr__(log, "witnesses", witnesses)
    try:
        ok = client.post(f"/ledger/checkpoint/{size}/cosignatures", content=line)
        assert ok.status_code == 200, ok.text
        assert line.strip() in client.get("/ledger/checkpoint").text
        page = client.get("/ledger", headers={"accept": "text/html"})
        assert "province.example/ledger" in page.text
    finally:
        object.__setattr__(log, "witnesses", ())
