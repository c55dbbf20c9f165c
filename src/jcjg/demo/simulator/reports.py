"""Contracts and reports in ``jcjg simulate``: each lab's system sends a project's contract the
first time it tests for it, and a report for each day's tests of a commission; with the code
and token from the receipt it prints the QR on a one-page PDF, has its authorised signatory
sign it (a key registered with ``registry.signatories``) and uploads it (``report_file``).

``violations`` is the share of reports (and contracts) that break a rule, each lab taking the
ones it has broken least: signed by a key the lab never registered
(``report_signature_invalid``), altered after signing (the same), another report's QR printed
on it (``report_qr_mismatch``), a result that differs from the test records
(``report_data_mismatch``), a contract sent weeks after signing (``contract_late``); and a
party scanning a code that was never issued, as on a forged report (``unknown_code_scanned``).
The signature's two forgeries take turns. Besides, the first time a lab plants one of these it
skips a report number (``number_gap``, which waits 3 days for late numbers: run it with a later
``now`` to see it within a simulated run); the next time it gives the number of the report before
to another report (``number_reused``); and the first time it plants one whose report's PDF does
not matter, it never uploads the signed PDF of that report (``report_late``, due 24 hours after
the code: run it with a later ``now``).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from jcjg.core.db import utcnow
from jcjg.core.workdays import BEIJING, add_working_days
from jcjg.reports.codes import SUPERVISION
from jcjg.testing import judgement

# what a report plants, each lab taking in turn the one it has planted least
ROTATION = (
    "report_signature_invalid",
    "report_qr_mismatch",
    "report_data_mismatch",
    "contract_late",
    "unknown_code_scanned",
)
# and, besides, a report number it skips, one it gives twice, a signed PDF never uploaded
PLANTED = (*ROTATION, "number_gap", "number_reused", "report_late")
Message = Callable[..., dict[str, Any]]
# (message type, payload, files by SHA-256, what to send once its receipt's results are known)
Plan = tuple[str, dict[str, Any], dict[str, bytes], Callable[[Any], list[Any]] | None]


def report_pdf(number: str, qr_url: str | None, lines: tuple[str, ...] = ()) -> bytes:
    """A one-page report (A4) with its number, a few lines and, when given, the QR of
    ``qr_url`` at the top right, where labs print it."""
    from jcjg.documents.pdf import page_pdf

    return page_pdf(f"检测报告 {number}", lines or ("混凝土试块抗压强度：符合设计要求。",), qr_url)


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class LabReports:
    """What one simulated lab has reported so far."""

    code: str
    signer: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None
    # who that key is (name, ID number): the report's signatory, as its PDF's signature says
    signatory: dict[str, str] | None = None
    sequence: int = 0
    contract_sequence: int = 0
    contracted: set[str] = field(default_factory=set)  # project codes
    last_url: str = ""  # a genuine report's QR, for the copied-QR forgery
    plant_next: int = 0
    planted: Counter[str] = field(default_factory=Counter)
    # an inspector of another simulated lab (name, ID number), who signs one of this lab's
    # reports when it breaks a rule for the first time (report_signed_by_outsider)
    outsider: tuple[str, str] | None = None

    def next_violation(self, applicable: list[str], region: Counter[str]) -> str:
        """The rule the region's labs (``region``: what they planted so far) and then this lab
        have broken least of those this report can break; the rare chances (a project's first
        contract, a cube's stated result) first, then the lab's order. A short run plants each
        rule once before any twice."""
        rare = {"contract_late": 0, "report_data_mismatch": 1}
        return min(
            applicable,
            key=lambda r: (
                region[r],
                self.planted[r],
                rare.get(r, 2),
                (ROTATION.index(r) - self.plant_next) % len(ROTATION),
            ),
        )


def contract_plan(
    lab: LabReports, project_code: str, rng: random.Random, message: Message, late: bool
) -> Plan:
    """The project's contract with its PDF, sent within days of signing (weeks when late)."""
    lab.contract_sequence += 1
    today = utcnow().astimezone(BEIJING).date()
    signed = add_working_days(today, -rng.randint(12, 20) if late else -rng.randint(0, 3))
    number = f"SIM-{lab.code}-HT-{today.year}-{lab.contract_sequence:04d}"
    pdf = report_pdf(number, None, ("检测合同", f"工程项目 {project_code}"))
    digest = hashlib.sha256(pdf).hexdigest()
    payload = message(
        number=number,
        sequence=lab.contract_sequence,
        year=signed.year,
        project_code=project_code,
        client_unit="模拟建设单位",
        signed_on=signed.isoformat(),
        items=["0108", "0102"],
        amount_yuan=f"{rng.randint(50, 400) * 1000}.00",
        pdf_sha256=digest,
    )
    return ("contract", payload, {digest: pdf}, None)


# A report covers one kind of test (a rebar report lists rebar records only): its title and
# the line its PDF prints.
KINDS = {
    "concrete_compression": ("混凝土试块抗压强度检测报告", "混凝土试块抗压强度：符合设计要求。"),
    "rebar_tensile": ("钢筋拉伸检测报告", "钢筋屈服强度、抗拉强度、断后伸长率：符合标准要求。"),
    "mortar_strength": ("水泥胶砂强度检测报告", "水泥胶砂抗折、抗压强度：符合标准要求。"),
    "masonry_mortar": ("砂浆试块抗压强度检测报告", "砂浆试块抗压强度：符合设计要求。"),
    "rebar_splice": ("钢筋连接接头拉伸检测报告", "接头抗拉强度及断裂位置：符合标准要求。"),
    "brick_compression": (
        "烧结普通砖抗压强度检测报告",
        "抗压强度平均值及强度标准值：符合强度等级要求。",
    ),
    "block_compression": (
        "混凝土砌块抗压强度检测报告",
        "抗压强度平均值及单块最小值：符合强度等级要求。",
    ),
    "rock_compression": ("岩石单轴抗压强度检测报告", "岩石单轴抗压强度标准值：符合设计要求。"),
}
OTHER_KIND = ("检测报告", "所检项目：符合设计要求。")


def report_plans(
    lab: LabReports,
    records: list[dict[str, Any]],
    commission_number: str,
    project_code: str,
    rng: random.Random,
    message: Message,
    violations: float,
    region: Counter[str] | None = None,
) -> list[Plan]:
    """The reports of ``records`` (test_record payloads of one commission), one per kind of
    test, each with its signed PDF after the code comes back; and the project's contract the
    first time. ``region``: what the region's labs planted so far (see ``next_violation``)."""
    if lab.signer is None or not records:
        return []
    region = Counter() if region is None else region
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["kind"], []).append(record)
    cubes = groups.get("concrete_compression", [])
    first = project_code not in lab.contracted
    applicable = ["report_signature_invalid", "report_qr_mismatch", "unknown_code_scanned"]
    applicable += ["contract_late"] if first else []
    applicable += ["report_data_mismatch"] if len(cubes) == 1 else []
    planted = lab.next_violation(applicable, region) if rng.random() < violations else ""
    plans: list[Plan] = []
    if first:
        lab.contracted.add(project_code)
        plans.append(contract_plan(lab, project_code, rng, message, planted == "contract_late"))
    # a report number drawn and never reported (001 9.1.2): number_gap, once the later
    # number has waited its delay (3 days)
    # a report number given to two reports (001 9.1.2): number_reused, the time after
    reuse = bool(planted) and lab.planted["number_gap"] > 0 and not lab.planted["number_reused"]
    if reuse:
        lab.planted["number_reused"] += 1
    skip = bool(planted) and not lab.planted["number_gap"]
    if skip:
        lab.planted["number_gap"] += 1
        lab.sequence += 1
    # the report that breaks the planted rule: the cubes' for a stated result, else the first
    target = "concrete_compression" if planted == "report_data_mismatch" else next(iter(groups))
    for kind, group in groups.items():
        here = planted if kind == target and planted != "contract_late" else ""
        # a report whose PDF no planted rule needs: its signed PDF never uploaded (report_late)
        withheld = bool(planted) and here in ("", "report_data_mismatch")
        withheld = withheld and not lab.planted["report_late"]
        if withheld:
            lab.planted["report_late"] += 1
        plans.append(_report_plan(lab, kind, group, commission_number, project_code, here,
                                  rng, message, reuse=reuse, withheld=withheld))  # fmt: skip
        reuse = False
    if planted:
        lab.planted[planted] += 1
        if lab.outsider and not lab.planted["report_signed_by_outsider"]:
            name, id_number = lab.outsider
            report = next(p for p in plans if p[0] == "report")[1]
            report["signatories"] = [*report["signatories"], {"name": name, "id_number": id_number}]
            lab.planted["report_signed_by_outsider"] += 1
    return plans


def _report_plan(
    lab: LabReports,
    kind: str,
    records: list[dict[str, Any]],
    commission_number: str,
    project_code: str,
    planted: str,
    rng: random.Random,
    message: Message,
    *,
    reuse: bool = False,
    withheld: bool = False,
) -> Plan:
    """The report of one kind of test's ``records``: numbered on (with ``reuse``, under the
    sequence of the report before, another number), its signed PDF uploaded once the code
    comes back (never, when ``withheld``)."""
    lab.sequence += 0 if reuse else 1
    number = f"SIM-{lab.code}-BG-{utcnow().year}-{lab.sequence:06d}{'-1' if reuse else ''}"
    title, line = KINDS.get(kind, OTHER_KIND)
    results: dict[str, Any] = {}
    if kind == "concrete_compression" and len(records) == 1:
        loads = [float(s["values"]["peak_kn"]) for s in records[0]["specimens"]]
        outcome = judgement.concrete(loads, 150, records[0]["grade"])
        strength = outcome.values.get("strength_mpa")
        if strength is not None:
            factor = 1.12 if planted == "report_data_mismatch" else 1.0
            results["strength_mpa"] = round(strength * factor, 1)
    payload = message(
        number=number,
        sequence=lab.sequence,
        title=title,
        commission_number=commission_number,
        project_code=project_code,
        test_record_numbers=[r["number"] for r in records],
        items=sorted({r["item_code"] for r in records}),
        conclusion="所检项目符合标准及设计要求。",
        judgement="conforming",
        results=results,
        signatories=[lab.signatory] if lab.signatory else [],
        issued_on=utcnow().astimezone(BEIJING).date().isoformat(),
    )
    # the two forgeries of a signature in turn: a PDF altered after signing, then one signed
    # by a key never registered
    altered = planted == "report_signature_invalid" and lab.planted[planted] % 2 == 0
    if withheld:
        return ("report", payload, {}, None)
    follow = _file(lab, number, planted, altered, rng, message, (line,))
    return ("report", payload, {}, follow)


def _file(
    lab: LabReports, number: str, planted: str, altered: bool, rng: random.Random,
    message: Message, lines: tuple[str, ...] = (),
) -> Callable[[Any], list[Any]]:  # fmt: skip
    def then(results: Any) -> list[Any]:
        from jcjg.documents.signing import personal_identity, sign_pdf_as

        url = results["verify_url"]
        printed = url
        if planted == "report_qr_mismatch" and lab.last_url:
            printed = lab.last_url  # a genuine report's QR copied onto this one
        elif planted == "report_qr_mismatch":
            printed = url.replace(results["supervision_code"], _never(rng, results))
        else:
            lab.last_url = url
        assert lab.signer is not None
        key, certificate = lab.signer
        if planted == "report_signature_invalid" and not altered:
            key, certificate = personal_identity("冒名签字人")  # never registered
        pdf = sign_pdf_as(report_pdf(number, printed, lines), key, certificate)
        if altered:  # a figure changed after signing: the signed bytes no longer match
            at = pdf.index(b"ReportLab")
            pdf = pdf[:at] + b"ReportLAB" + pdf[at + 9 :]
        if planted == "unknown_code_scanned":  # a party checks a forged report's code
            base = urlsplit(url)
            httpx.get(f"{base.scheme}://{base.netloc}/v/{_never(rng, results)}", timeout=30)
        digest = hashlib.sha256(pdf).hexdigest()
        return [("report_file", message(number=number, pdf_sha256=digest), {digest: pdf}, None)]

    return then


def _never(rng: random.Random, results: dict[str, Any]) -> str:
    """A well-formed supervision code of the lab's region that was never issued."""
    code = results["supervision_code"]
    return SUPERVISION.make(code[:6], 2000 + int(code[6:8]), rng.randint(90_000_000, 99_999_999))
