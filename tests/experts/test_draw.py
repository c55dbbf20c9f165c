"""A panel draw end to end: notarised commitment and request, randomness from the first
checkpoint that includes the request, notarised result; the published inputs recomputed by the
standalone verifier (a subprocess, importing nothing of the platform), tampered inputs refused;
conflicting experts never drawn; a decline replaced by a new notarised draw."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from jcjg.experts import draw as algorithm
from jcjg.experts.models import PanelDraw
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf
from jcjg.notify.models import Notification
from tests.experts.conftest import auth, drawn_panel, panel_body
from tests.factories import login

VERIFIER = Path(algorithm.__file__)


def _verify(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # -I: isolated, so nothing of the platform can be imported from the working directory
    return subprocess.run(
        [sys.executable, "-I", str(VERIFIER), str(path), *extra],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_draw_is_recomputed_from_its_published_inputs(
    client, browser_client, db, factory, pool, tmp_path
):
    panel = drawn_panel(client, db, factory, pool)
    members = panel["members"]
    assert len(members) == 3
    assert sorted(m["specialty"] for m in members) == ["01", "01", "02"]
    conflicted = {e.id for e in pool.conflicted.values()}
    assert not conflicted & {m["expert_id"] for m in members}
    draw = panel["draws"][0]
    assert draw["commit_index"] < draw["request_index"] < draw["result_index"]
    types = db.scalars(
        select(LedgerLeaf.entry_type).where(
            LedgerLeaf.leaf_index.in_(
                [draw["commit_index"], draw["request_index"], draw["result_index"]]
            )
        )
    )
    assert sorted(types) == ["panel_draw:commit", "panel_draw:request", "panel_draw:result"]
    # the download a person makes on the panel's page
    login(browser_client, pool.officer.username)
    page = browser_client.get(f"/panels/draws/{draw['id']}/inputs.json")
    assert page.status_code == 200
    assert "attachment" in page.headers["content-disposition"]
    inputs = page.json()
    request = json.loads(inputs["request"]["entry_canonical"])["data"]
    assert "relation" in {c["excluded"] for c in request["candidates"]}
    assert "employer" in {c["excluded"] for c in request["candidates"]}
    assert "江西省建筑科学研究院" not in inputs["request"]["entry_canonical"]  # no relations
    path = tmp_path / "draw.json"
    path.write_text(page.text, encoding="utf-8")
    expert = members[0]["expert_id"]
    ok = _verify(path, "--expert", str(expert))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VERIFIED" in ok.stdout
    row = db.scalars(select(PanelDraw)).one()
    mine = next(p for p, i in row.candidates.items() if i == expert)
    assert f"pseudonym {mine}" in ok.stdout


def test_tampered_inputs_are_refused(client, db, factory, pool, tmp_path):
    panel = drawn_panel(client, db, factory, pool)
    draw_id = panel["draws"][0]["id"]
    inputs = client.get(
        f"/api/v1/panel-draws/{draw_id}/inputs", headers=auth(factory, pool.officer)
    ).json()
    result = json.loads(inputs["result"]["entry_canonical"])
    cases = {
        "secret": lambda d: d["randomness"].update(secret="00" * 32),
        "root": lambda d: d["randomness"].update(root_hash="11" * 32),
        "request": lambda d: d["request"].update(
            entry_canonical=d["request"]["entry_canonical"].replace(
                '"excluded":"relation"', '"excluded":null'
            )
        ),
        "drawn": lambda d: d["result"].update(
            entry_canonical=json.dumps(
                result | {"data": result["data"] | {"drawn": result["data"]["drawn"][::-1]}}
            )
        ),
        # a drawn pseudonym that is not the named expert's (a padded candidate list)
        "stand-in": lambda d: d["drawn_experts"][0].update(
            expert_id=d["drawn_experts"][0]["expert_id"] + 1000
        ),
        "unnamed": lambda d: d.pop("drawn_experts"),
        "result before request": lambda d: d["result"].update(index=d["request"]["index"]),
    }
    for name, spoil in cases.items():
        spoiled = json.loads(json.dumps(inputs))
        spoil(spoiled)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(spoiled), encoding="utf-8")
        answer = _verify(path)
        assert answer.returncode == 1, (name, answer.stdout)
        assert "NOT VERIFIED" in answer.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("[", encoding="utf-8")
    assert _verify(bad).returncode == 2


def test_no_randomness_before_a_checkpoint_includes_the_request(client, db, factory, pool):
    headers = auth(factory, pool.officer)
    panel = client.post("/api/v1/panels", json=panel_body(pool), headers=headers).json()
    draw = client.post(f"/api/v1/panels/{panel['id']}/draws", headers=headers).json()
    early = client.post(f"/api/v1/panel-draws/{draw['id']}/complete", headers=headers)
    assert early.json()["status"] == "requested"
    assert (
        client.get(f"/api/v1/panel-draws/{draw['id']}/inputs", headers=headers).status_code == 409
    )
    again = client.post(f"/api/v1/panels/{panel['id']}/draws", headers=headers)
    assert again.status_code == 409  # one draw at a time
    ledger.integrate(db)
    db.commit()
    done = client.post(f"/api/v1/panel-draws/{draw['id']}/complete", headers=headers)
    assert done.json()["status"] == "completed"


def test_a_decline_is_replaced_by_a_new_draw(client, db, factory, pool):
    panel = drawn_panel(client, db, factory, pool)
    headers = auth(factory, pool.officer)
    member = next(m for m in panel["members"] if m["expert_id"] in pool.accounts)
    expert_user = pool.accounts[member["expert_id"]]
    told = db.scalars(select(Notification).where(Notification.user_id == expert_user.id)).all()
    assert told
    assert told[0].link == f"/my/reviews/{member['id']}"
    mine = auth(factory, expert_user)
    no = client.post(
        f"/api/v1/panel-members/{member['id']}/answer",
        json={"accept": False, "reason": "与被评审机构有业务往来"},
        headers=mine,
    )
    assert no.status_code == 200, no.text
    assert no.json()["status"] == "declined"
    twice = client.post(
        f"/api/v1/panel-members/{member['id']}/answer", json={"accept": True}, headers=mine
    )
    assert twice.status_code == 409
    second = client.post(f"/api/v1/panels/{panel['id']}/draws", headers=headers)
    assert second.status_code == 201
    ledger.integrate(db)
    db.commit()
    client.post(f"/api/v1/panel-draws/{second.json()['id']}/complete", headers=headers)
    after = client.get(f"/api/v1/panels/{panel['id']}", headers=headers).json()
    assert len(after["draws"]) == 2
    replacement = [
        m for m in after["members"] if m["id"] not in {x["id"] for x in panel["members"]}
    ]
    assert len(replacement) == 1
    assert replacement[0]["specialty"] == member["specialty"]
    assert replacement[0]["expert_id"] != member["expert_id"]
    full = client.post(f"/api/v1/panels/{panel['id']}/draws", headers=headers)
    assert full.status_code == 409  # the panel is full again


def test_with_a_parent_platform_the_first_cosigned_checkpoint_gives_the_randomness(
    client, db, factory, pool, tmp_path
):
    """The parent cosigns whichever checkpoint it finds latest: a draw takes the first
    cosigned one including its request, and does not wait for ever on an earlier one."""
    from jcjg.ledger.note import Signer, Verifier, generate_signer, signature_line

    skey, vkey = generate_signer("province.example/ledger")
    log = ledger.log_identity()
    object.__setattr__(log, "witnesses", (Verifier(vkey),))
    try:
        headers = auth(factory, pool.officer)
        panel = client.post("/api/v1/panels", json=panel_body(pool), headers=headers).json()
        draw = client.post(f"/api/v1/panels/{panel['id']}/draws", headers=headers).json()
        ledger.integrate(db)  # the first checkpoint including the request: never cosigned
        ledger.notarise(db, "report:issue", {"report_number": "JJ-2026-7777"})
        ledger.integrate(db)
        db.commit()
        url = f"/api/v1/panel-draws/{draw['id']}/complete"
        assert client.post(url, headers=headers).json()["status"] == "requested"
        note = ledger.latest_checkpoint(db).note
        line = signature_line(note.split("\n\n")[0] + "\n", Signer(skey))
        ledger.add_cosignatures(db, int(note.splitlines()[1]), line)
        db.commit()
        assert client.post(url, headers=headers).json()["status"] == "completed"
        inputs = client.get(f"/api/v1/panel-draws/{draw['id']}/inputs", headers=headers).json()
        assert inputs["randomness"]["size"] == int(note.splitlines()[1])
        assert "province.example/ledger" in inputs["randomness"]["checkpoint"]
        path = tmp_path / "inputs.json"
        path.write_text(json.dumps(inputs), encoding="utf-8")
        assert _verify(path).returncode == 0
    finally:
        object.__setattr__(log, "witnesses", ())


def test_an_expert_finds_their_pseudonym_on_their_review_page(
    browser_client, client, db, factory, pool
):
    panel = drawn_panel(client, db, factory, pool)
    member = next(m for m in panel["members"] if m["expert_id"] in pool.accounts)
    row = db.get(PanelDraw, panel["draws"][0]["id"])
    request = json.loads(db.get(LedgerLeaf, row.request_index).entry)["data"]
    expected = algorithm.pseudonym(bytes.fromhex(request["salt"]), row.code, member["expert_id"])
    login(browser_client, pool.accounts[member["expert_id"]].username)
    page = browser_client.get(f"/my/reviews/{member['id']}", headers={"accept": "text/html"})
    assert f'data-testid="pseudonym">{expected}<' in page.text
    assert expected in {c["pseudonym"] for c in request["candidates"]}


def test_the_draw_checker_takes_the_logs_hash_from_its_key() -> None:
    """Inputs of a platform of the national profile (an SM2 log key) are checked in SM3: the
    leaves and the inclusion proof; SHA-256 leaves are refused there, and the other way round."""
    import pytest

    from jcjg.experts import draw as checker
    from jcjg.ledger import merkle
    from jcjg.ledger.note import generate_signer
    from jcjg.ledger.sm import new_sm3, sm3

    _, sm_key = generate_signer("jcjg.example.cn/ledger/sm", "sm2")
    _, ed_key = generate_signer("jcjg.example.cn/ledger")
    h = checker.log_hash({"key": sm_key})
    assert h is checker.sm3
    assert checker.log_hash({"key": ed_key}) is checker.sha256
    assert checker.log_hash({}) is checker.sha256  # older inputs carry no key: SHA-256
    text = json.dumps({"entry_type": "panel_draw:commit", "data": {"draw": "D1"}})
    sm_leaf = sm3(b"\x00" + text.encode())
    part = {"entry_canonical": text, "leaf_hash": sm_leaf.hex()}
    assert checker.entry(part, "panel_draw:commit", "commitment", h)[0] == sm_leaf
    with pytest.raises(checker.Invalid, match="SHA-256"):
        checker.entry(part, "panel_draw:commit", "commitment")
    leaves = [merkle.leaf_hash(bytes([n]), hasher=new_sm3) for n in range(6)] + [sm_leaf]
    proof = merkle.inclusion_proof(leaves, 6, 7, hasher=new_sm3)
    root = merkle.root_hash(leaves, hasher=new_sm3)
    assert checker.verify_inclusion(sm_leaf, 6, 7, proof, root, h)
    assert not checker.verify_inclusion(sm_leaf, 6, 7, proof, root)
