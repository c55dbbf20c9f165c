"""The registry's entities as generic specs: fields, labels, validation and masking."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jcjg.auth.choices import ScopeKind
from jcjg.core.errors import FieldError
from jcjg.core.patterns import EMAIL, MOBILE, PHONE
from jcjg.core.regioncodes import in_subtree, is_valid_code
from jcjg.generic.spec import (
    BOOL,
    CHOICE,
    DATE,
    DECIMAL,
    INT,
    LONGTEXT,
    MULTI,
    PAIRS,
    REF,
    REGION_REF,
    EntitySpec,
    FieldSpec,
)
from jcjg.registry import models as m
from jcjg.registry.choices import (
    AssessmentResult,
    CertificateStatus,
    ELicenceKind,
    EquipmentStatus,
    FilingStatus,
    Gender,
    KeyRole,
    Title,
)
from jcjg.registry.codes import id_number_problem, is_valid_credit_code
from jcjg.tenancy.models import Institution


def _credit(value: str) -> str | None:
    return (
        None if is_valid_credit_code(value) else "统一社会信用代码无效（长度或校验位不符 GB 32100）"
    )


def _region(value: str) -> str | None:
    return None if is_valid_code(value) else "应为 6 位 GB/T 2260 行政区划代码"


def F(name: str, label: str, kind: str = "text", **kw: object) -> FieldSpec:
    return FieldSpec(name, label, kind, **kw)  # type: ignore[arg-type]


INSTITUTION = EntitySpec(
    kind="institutions",
    model=Institution,
    label="检测机构",
    is_institution=True,
    searchable=("name", "code", "credit_code"),
    order_by="code",
    description="000 4.1.1 第 1 项：机构基本信息。机构编号由平台统一分配（003 三（五））。",
    fields=(
        F("name", "单位名称", required=True, max_length=200, in_list=True),
        F(
            "credit_code",
            "统一社会信用代码",
            required=True,
            max_length=18,
            validate=_credit,
            in_list=True,
        ),
        F(
            "region_code",
            "行政区划代码",
            required=True,
            max_length=6,
            validate=_region,
            in_list=True,
            ref=REGION_REF,
        ),
        F("founded_date", "成立日期", DATE),
        F("registered_address", "登记地址", max_length=200),
        F("phone", "联系电话", max_length=32, pattern=PHONE),
        F("postcode", "邮政编码", max_length=6, pattern=r"[0-9]{6}"),
        F("fax", "传真", max_length=32, pattern=PHONE),
        F("email", "电子邮箱", max_length=254, pattern=EMAIL),
        F("registration_authority", "登记机关", max_length=100),
        F("registered_capital", "注册资本（万元）", DECIMAL, minimum=0),
        F("registration_type", "登记类型", max_length=64, help="如：有限责任公司、事业单位"),
        F("investors", "投资人及投资比例", PAIRS, help="名称:比例%；名称:比例%"),
        F("insured_staff_count", "社保人员总数", INT, minimum=0),
        F("technical_staff_count", "专业技术人员总数", INT, minimum=0),
        F("intermediate_title_count", "中级职称人数", INT, minimum=0),
        F("senior_title_count", "高级职称人数", INT, minimum=0),
        F("equipment_set_count", "仪器设备总台套数", INT, minimum=0),
        F("equipment_original_value", "仪器设备固定资产原值（万元）", DECIMAL, minimum=0),
        F("floor_area_m2", "固定场所建筑面积（m²）", DECIMAL, minimum=0),
        F("testing_area_m2", "检测场所面积（m²）", DECIMAL, minimum=0),
    ),
)

LAB = EntitySpec(
    kind="labs",
    model=m.Lab,
    label="检测场所",
    searchable=("name", "address"),
    description="机构的检测场所（一个地址一处），及在此开展的检测专项。",
    fields=(
        F("name", "场所名称", required=True, max_length=100, in_list=True),
        F("address", "地址", required=True, max_length=200, in_list=True),
        F("area_m2", "面积（m²）", DECIMAL, required=True, minimum=0, in_list=True),
        F("specialties", "开展的检测专项", MULTI, ref="specialty", in_list=True),
    ),
)

PERSON = EntitySpec(
    kind="people",
    model=m.Person,
    label="人员",
    searchable=("name", "inspector_certificate_no", "registered_certificate_no"),
    description=(
        "法定代表人、技术负责人、质量负责人、注册人员和检测人员（000 4.1.1 第 2–4 项）。"
        "身份证号、手机号默认脱敏显示。"
    ),
    fields=(
        F("name", "姓名", required=True, max_length=64, in_list=True),
        F("gender", "性别", CHOICE, choices=Gender),
        F("birth_date", "出生日期", DATE),
        F(
            "id_number",
            "身份证号",
            required=True,
            max_length=18,
            mask="id_number",
            validate=id_number_problem,
            in_list=True,
        ),
        F("key_role", "关键岗位", CHOICE, choices=KeyRole, in_list=True),
        F("position", "职务", max_length=64),
        F("title", "职称等级", CHOICE, choices=Title, required=True, in_list=True),
        F("title_major", "职称专业", max_length=64),
        F("title_certificate_no", "职称证书号", max_length=64),
        F("education", "学历", max_length=32),
        F("major", "专业", max_length=64),
        F("years_in_testing", "从事检测工作年限", INT, required=True, minimum=0, maximum=70),
        F("is_inspector", "检测人员", BOOL, in_list=True, default=True),
        F("inspector_certificate_no", "检测人员证书号", max_length=64),
        F("specialties", "可从事的检测专项", MULTI, ref="specialty", in_list=True),
        F("registered_certificate_no", "执业资格证书号（注册人员）", max_length=64),
        F("registration_kind", "注册类别", max_length=64, help="如：一级注册结构工程师"),
        F("lab_id", "所在检测场所", REF, ref="lab"),
        F("office_phone", "办公室电话", max_length=32, pattern=PHONE),
        F("mobile", "移动电话", max_length=11, pattern=MOBILE, mask="phone", in_list=True),
        F("employed_from", "入职日期", DATE),
        F("employed_until", "离职日期", DATE, help="在职人员留空"),
        F("resume", "工作简历", LONGTEXT, max_length=4000),
    ),
)

TRAINING = EntitySpec(
    kind="trainings",
    model=m.Training,
    label="培训考核",
    searchable=("course", "organiser", "certificate_no"),
    order_by="start_date",
    description=(
        "检测人员的培训与考核（000 4.2.4）：培训内容、大纲、学时，考核成绩与是否合格，"
        "取得的证书及其有效期。"
    ),
    fields=(
        F("person_id", "人员", REF, ref="person", required=True, in_list=True),
        F("course", "培训内容", required=True, max_length=200, in_list=True),
        F("syllabus", "培训大纲", LONGTEXT, max_length=4000),
        F("organiser", "培训机构", max_length=100, in_list=True),
        F("start_date", "培训日期", DATE, required=True, in_list=True),
        F("hours", "学时", INT, minimum=0, maximum=2000),
        F("exam_score", "考核成绩", DECIMAL, minimum=0, maximum=100, in_list=True),
        F("passed", "考核合格", BOOL, in_list=True),
        F("result", "结果说明", max_length=64),
        F("certificate_no", "培训证书号", max_length=64, in_list=True),
        F("valid_until", "证书有效期至", DATE, in_list=True, help="长期有效留空"),
    ),
)

ASSESSMENT = EntitySpec(
    kind="assessments",
    model=m.CapabilityAssessment,
    label="能力考核",
    searchable=("method", "assessor"),
    order_by="assessed_on",
    description="检测人员能力信息（000 4.2.4）：按检测专项的考核、成绩、结论与有效期。",
    fields=(
        F("person_id", "人员", REF, ref="person", required=True, in_list=True),
        F("specialty_id", "检测专项", REF, ref="specialty", required=True, in_list=True),
        F("assessed_on", "考核日期", DATE, required=True, in_list=True),
        F("method", "考核方式", required=True, max_length=100, help="如：盲样考核、现场操作"),
        F("score", "考核成绩", DECIMAL, minimum=0, maximum=100),
        F("result", "结果", CHOICE, choices=AssessmentResult, required=True, in_list=True),
        F("assessor", "考核人", max_length=64),
        F("valid_until", "有效期至", DATE, in_list=True),
    ),
)

ASSIGNMENT = EntitySpec(
    kind="assignments",
    model=m.Assignment,
    label="岗位安排",
    searchable=(),
    order_by="start_date",
    description="机构安排检测人员从事某检测专项的工作；与其可从事的专项不符时预警（无证上岗）。",
    fields=(
        F("person_id", "人员", REF, ref="person", required=True, in_list=True),
        F("specialty_id", "检测专项", REF, ref="specialty", required=True, in_list=True),
        F("lab_id", "检测场所", REF, ref="lab"),
        F("start_date", "开始日期", DATE, required=True, in_list=True),
        F("end_date", "结束日期", DATE, in_list=True),
    ),
)

EQUIPMENT = EntitySpec(
    kind="equipment",
    model=m.Equipment,
    label="仪器设备",
    searchable=("name", "model", "asset_number"),
    description="主要仪器设备（000 4.1.1 第 5 项）。",
    fields=(
        F("name", "设备名称", required=True, max_length=100, in_list=True),
        F("asset_number", "设备编号", max_length=64, in_list=True),
        F("model", "型号", max_length=64, in_list=True),
        F("specification", "规格", max_length=100),
        F("measuring_range", "测量范围", max_length=100),
        F("accuracy", "准确度等级/不确定度", max_length=64),
        F("calibration_body", "检定/校准机构", max_length=100),
        F("calibration_valid_until", "检定/校准有效期至", DATE, in_list=True),
        F("self_check_items", "自检/校项目", max_length=200),
        F("self_check_method", "自检/校规范名称及编号", max_length=200),
        F("test_items", "用于检测项目", MULTI, ref="test_item"),
        F("lab_id", "所在检测场所", REF, ref="lab"),
        F(
            "status",
            "状态",
            CHOICE,
            choices=EquipmentStatus,
            required=True,
            in_list=True,
            default="in_use",
        ),
    ),
)

CAPABILITY = EntitySpec(
    kind="capabilities",
    model=m.Capability,
    label="检测能力",
    searchable=(),
    description="检测场所可检测的参数（000 4.1.1 第 6 项）。",
    fields=(
        F("lab_id", "检测场所", REF, ref="lab", required=True, in_list=True),
        F("parameter_id", "参数", REF, ref="parameter", required=True, in_list=True),
    ),
)

CERTIFICATE = EntitySpec(
    kind="certificates",
    model=m.QualificationCertificate,
    label="资质证书",
    title_field="number",
    searchable=("number", "issued_by"),
    description="检测机构资质证书及其专项范围、有效期。",
    fields=(
        F("number", "证书编号", required=True, max_length=64, in_list=True, unique=True),
        F("issued_by", "发证机关", required=True, max_length=100, in_list=True),
        F("issue_date", "发证日期", DATE, required=True),
        F("valid_until", "有效期至", DATE, required=True, in_list=True),
        F(
            "status",
            "状态",
            CHOICE,
            choices=CertificateStatus,
            required=True,
            in_list=True,
            default="valid",
        ),
        F("specialties", "资质范围（检测专项）", MULTI, ref="specialty", in_list=True),
    ),
)

SIGNATORY = EntitySpec(
    kind="signatories",
    model=m.Signatory,
    label="报告批准人",
    searchable=("position",),
    description="报告批准人（授权签字人）及其签字范围（000 4.1.1 第 7 项）。",
    fields=(
        F("person_id", "人员", REF, ref="person", required=True, in_list=True),
        F("position", "职务", max_length=64, in_list=True),
        F("title", "职称", CHOICE, choices=Title),
        F("lab_id", "对应检测场所", REF, ref="lab"),
        F("specialties", "签字范围（检测专项）", MULTI, ref="specialty", in_list=True),
    ),
)

E_LICENCE_FIELDS = (
    F("kind", "证照类型", CHOICE, choices=ELicenceKind, required=True),
    F("number", "证照编号", required=True, max_length=64),
    F("valid_until", "有效期至", DATE),
)


def _filing_problems(row: m.InstitutionFiling) -> list[FieldError]:
    """A filing's period runs forwards, and its region is not the institution's own (nor one
    above or below it, which its own authorities already supervise)."""
    out = []
    if row.valid_until < row.valid_from:
        out.append(FieldError("valid_until", "备案有效期的截止日期不能早于起始日期"))
    home, filed = row.region_code, row.filed_region_code
    if home and filed and (in_subtree(filed, home) or in_subtree(home, filed)):
        out.append(FieldError("filed_region_code", "备案地区须为机构所在地以外的地区"))
    return out


def _filing_guard(
    principal: Any, row: m.InstitutionFiling, values: Mapping[str, Any] | None
) -> str | None:
    """A filing gives the filed region its view of the institution: only that region's
    authorities (or the platform's) end it early, withdraw it, move it or delete it; the
    institution and its own authorities may extend it and correct the rest."""
    if principal.scope_kind is ScopeKind.GLOBAL or principal.covers_region(row.filed_region_code):
        return None
    if values is None:
        return "备案只能由备案地主管部门注销，不能删除"
    ends = values.get("valid_until", row.valid_until)
    starts = values.get("valid_from", row.valid_from)
    withdrawn = row.status == FilingStatus.FILED and values.get("status", row.status) != row.status
    moved = values.get("filed_region_code", row.filed_region_code) != row.filed_region_code
    if withdrawn or moved or ends < row.valid_until or starts > row.valid_from:
        return "注销、缩短或变更备案须由备案地主管部门办理"
    return None


FILING = EntitySpec(
    kind="filings",
    model=m.InstitutionFiling,
    label="外地机构备案",
    title_field="filing_number",
    searchable=("filing_number", "local_office"),
    order_by="valid_from",
    description=(
        "外地检测机构在本地开展检测前备案。备案在有效期内时，"
        "备案地区（省级备案含其下各市县）的主管部门和监督站像监管本地机构一样看到并监管它的数据。"
    ),
    check=_filing_problems,
    guard=_filing_guard,
    filed_writes=True,
    fields=(
        F("filing_number", "备案编号", required=True, max_length=64, in_list=True, unique=True),
        F(
            "filed_region_code",
            "备案地区",
            required=True,
            max_length=6,
            validate=_region,
            in_list=True,
            ref=REGION_REF,
            help="行政区划代码，如 440300；省级备案填省的代码",
        ),
        F("valid_from", "备案有效期自", DATE, required=True, in_list=True),
        F("valid_until", "备案有效期至", DATE, required=True, in_list=True),
        F(
            "status",
            "备案状态",
            CHOICE,
            choices=FilingStatus,
            required=True,
            in_list=True,
            default="filed",
        ),
        F("local_office", "在备案地的办公或检测地址", max_length=200),
        F("scope_note", "备案的检测范围", LONGTEXT),
    ),
)
