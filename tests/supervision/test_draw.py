"""A spot-check draw end to end: the published inputs recomputed independently (by the
standalone verifier as a subprocess, and by a reimplementation here from docs/supervision.md),
tampered inputs refused, a related officer never sent to the institution."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path

from jcjg.experts import draw as algorithm
from tests.factories import login
from tests.supervision.conftest import auth, drawn_plan

VERIFIER = Path(algorithm.__file__)


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(VERIFIER), str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _recompute(inputs: dict) -> list[dict]:
    """docs/supervision.md, written again without the platform's code."""
    request_text = inputs["request"]["entry_canonical"].encode()
    request = json.loads(request_text)["data"]
    secret = bytes.fromhex(inputs["randomness"]["secret"])
    root = bytes.fromhex(inputs["randomness"]["root_hash"])
    seed = _sha(_sha(b"\x00" + request_text) + _sha(secret + root)).hex()

    def rank(a: str, b: str) -> str:
        return hashlib.sha256(f"{seed}\x00{a}\x00{b}".encode()).hexdigest()

    free = [i["pseudonym"] for i in request["institutions"] if not i["excluded"]]
    chosen = sorted(free, key=lambda p: (rank("institution", p), p))
    load = {o["pseudonym"]: 0 for o in request["officers"]}
    out = []
    for place, inst in enumerate(chosen[: request["institution_count"]], start=1):
        ok = [o["pseudonym"] for o in request["officers"] if inst not in o["conflicts"]]
        ok.sort(key=lambda p: (load[p], rank(inst, p), p))
        team = ok[: request["officers_per_check"]]
        for p in team:
            load[p] += 1
        out.append({"place": place, "institution": inst, "officers": team})
    salt = bytes.fromhex(request["salt"])
    for d in inputs["drawn_institutions"]:
        msg = (
            f"{request['draw']}/institution".encode() + b"\x00" + str(d["institution_id"]).encode()
        )
        assert hmac.new(salt, msg, hashlib.sha256).hexdigest() == d["pseudonym"]
    return out


def test_a_spot_check_draw_is_recomputed_from_its_published_inputs(
    client, browser_client, db, factory, city, tmp_path
):
    plan = drawn_plan(client, db, factory, city)
    assert len(plan["checks"]) == 4
    assert all(len(c["officers"]) == 2 for c in plan["checks"])
    # people with enforcement cards only: the station's own account is never drawn
    drawn = {o["user_id"] for c in plan["checks"] for o in c["officers"]}
    assert drawn <= {o.id for o in city.officers}
    related, institution = city.related
    for c in plan["checks"]:
        ids = {o["user_id"] for o in c["officers"]}
        if c["institution_id"] == institution.id:
            assert related.id not in ids  # a declared relation: never sent there
    login(browser_client, city.officer.username)
    page = browser_client.get(f"/supervision/plans/{plan['id']}/draw/inputs.json")
    assert page.status_code == 200, page.text
    assert "attachment" in page.headers["content-disposition"]
    inputs = page.json()
    assert inputs["format"] == "jcjg-supervision-draw/1"
    result = json.loads(inputs["result"]["entry_canonical"])["data"]
    assert _recompute(inputs) == result["checks"]
    path = tmp_path / "inputs.json"
    path.write_text(page.text, encoding="utf-8")
    ok = _verify(path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VERIFIED" in ok.stdout
    api = client.get(
        f"/api/v1/supervision/plans/{plan['id']}/draw/inputs", headers=auth(factory, city.officer)
    )
    assert api.json() == inputs
    # the same page for the plan, in Chinese, with the download
    assert "下载抽取输入" in browser_client.get(f"/supervision/plans/{plan['id']}").text


def test_tampered_spot_check_inputs_are_refused(client, db, factory, city, tmp_path):
    plan = drawn_plan(client, db, factory, city)
    inputs = client.get(
        f"/api/v1/supervision/plans/{plan['id']}/draw/inputs", headers=auth(factory, city.officer)
    ).json()
    result = json.loads(inputs["result"]["entry_canonical"])
    checks = result["data"]["checks"]
    cases = {
        "secret": lambda d: d["randomness"].update(secret="00" * 32),
        "conflict dropped": lambda d: d["request"].update(
            entry_canonical=d["request"]["entry_canonical"].replace(
                '"conflicts":["', '"conflicts":["x'
            )
        ),
        "checks": lambda d: d["result"].update(
            entry_canonical=json.dumps(result | {"data": result["data"] | {"checks": checks[::-1]}})
        ),
        "stand-in": lambda d: d["drawn_institutions"][0].update(
            institution_id=d["drawn_institutions"][0]["institution_id"] + 1000
        ),
        "unnamed officers": lambda d: d.pop("drawn_officers"),
    }
    for name, spoil in cases.items():
        spoiled = json.loads(json.dumps(inputs))
        spoil(spoiled)
        path = tmp_path / "spoiled.json"
        path.write_text(json.dumps(spoiled), encoding="utf-8")
        answer = _verify(path)
        assert answer.returncode == 1, (name, answer.stdout)


def test_a_drawn_plan_is_not_drawn_again_and_other_regions_see_nothing(client, db, factory, city):
    from jcjg.auth.choices import Role

    plan = drawn_plan(client, db, factory, city, institution_count=2)
    again = client.post(
        f"/api/v1/supervision/plans/{plan['id']}/draw", headers=auth(factory, city.officer)
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    other = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    assert (
        client.get(
            f"/api/v1/supervision/plans/{plan['id']}", headers=auth(factory, other)
        ).status_code
        == 404
    )
    bad = client.post(
        "/api/v1/supervision/plans",
        json={"title": "", "region_code": "360400", "period_start": "2026-12-01",
              "period_end": "2026-11-01", "basis": "002 第十六条", "institution_count": 0,
              "officers_per_check": 1},
        headers=auth(factory, city.officer),
    )  # fmt: skip
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    outside = client.post(
        "/api/v1/supervision/plans",
        json={"title": "越权", "region_code": "360100", "period_start": "2026-11-01",
              "period_end": "2026-12-01", "basis": "002 第十六条", "institution_count": 1},
        headers=auth(factory, city.officer),
    )  # fmt: skip
    assert outside.status_code == 422
