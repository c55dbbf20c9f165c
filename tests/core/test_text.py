"""The text boundary's rules (jcjg.core.text): which characters, where line breaks go, NFC,
secrets as typed, what exports write, and that every input model takes its text through it."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any, Literal

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from openpyxl import load_workbook
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from jcjg.core import listing, plausible, text
from jcjg.core.text import MultiLine, TextModel
from jcjg.documents.pdf import Label, RecordDocument, label_sheet_pdf, record_pdf
from jcjg.exchange.types import message_types
from jcjg.exchange.uploads import parse_metadata
from tests.factories import all_routes

REFUSED = [
    "\x00",
    "\x01",
    "\x07",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x1f",
    "\x7f",
    "\x80",
    "\x85",
    "\x9f",
    "\u061c",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202e",
    "\u2060",
    "\u2066",
    "\u2069",
    "\ufeff",
    "\ud800",
    "\udfff",
    "\ufffe",
    "\uffff",
]
BREAKS = ["\t", "\n", "\r", "\u2028", "\u2029"]
ACCEPTED = ["张三", "C30 混凝土 ≥ 30.0 MPa", "P·O 42.5", "Ⅴ 级 ℃", "😀", "\u00a0", "\u3000"]


@pytest.mark.parametrize("char", REFUSED)
def test_a_refused_character_is_refused_in_any_field(char: str) -> None:
    for multiline in (False, True):
        reason = text.problem(f"a{char}b", multiline=multiline)
        assert reason is not None
        assert f"U+{ord(char):04X}" in reason


@pytest.mark.parametrize("char", BREAKS)
def test_a_line_break_or_tab_only_in_a_multi_line_field(char: str) -> None:
    assert text.problem(f"a{char}b", multiline=True) is None
    reason = text.problem(f"a{char}b")
    assert reason is not None
    assert "只能填一行" in reason
    assert text.problem(f"{char}ab{char}", ends_trimmed=True) is None


@pytest.mark.parametrize("value", ACCEPTED)
def test_ordinary_text_passes(value: str) -> None:
    assert text.problem(value) is None


def test_clean_normalises_to_nfc_but_leaves_a_password_as_typed() -> None:
    assert text.clean("Jose\u0301 \uf900") == "Jos\u00e9 \u8c48"
    assert text.clean("Jose\u0301", name="new_password") == "Jose\u0301"
    with pytest.raises(text.TextProblem):
        text.clean("a\x00b", name="password")


def test_printable_drops_what_cannot_be_written_and_keeps_line_breaks() -> None:
    assert text.printable("张\x1b三\x07\u202e\u200b\ud800\ufffe\x00") == "张三"
    assert text.printable("第一行\r\n\t第二行") == "第一行\r\n\t第二行"


def test_scan_names_the_path_of_each_bad_string_and_key() -> None:
    data = {"people": [{"name": "ok"}, {"name": "a\x00b"}], "k\x1b": 1, "note": "a\nb"}
    found = {(e.field, e.code) for e in text.scan(data)}
    assert found == {("body.people.1.name", text.CODE), ("body", text.CODE)}
    assert text.normalise({"e\u0301": ["e\u0301"], "password": "e\u0301"}) == {
        "\u00e9": ["\u00e9"],
        "password": "e\u0301",
    }


# --- pydantic models -----------------------------------------------------------------------------


class _Part(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(max_length=8)


class _Message(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = ""
    reason: MultiLine = ""
    notes: MultiLine | None = None
    pems: list[MultiLine] = Field(default_factory=list)
    codes: list[str] = Field(default_factory=list)
    values: dict[str, float | str | None] = Field(default_factory=dict)
    parts: list[_Part] = Field(default_factory=list)
    password: str = ""
    count: int = 0


def _errors(**data: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        _Message.model_validate(data)
    return {".".join(map(str, e["loc"])): e["type"] for e in caught.value.errors()}


def test_a_model_refuses_bad_text_in_every_kind_of_field_naming_it() -> None:
    assert _errors(title="a\x00b") == {"title": text.CODE}
    assert _errors(title="a\nb") == {"title": text.CODE}
    assert _errors(reason="a\x1bb") == {"reason": text.CODE}
    assert _errors(notes="a\u202eb") == {"notes": text.CODE}
    assert _errors(codes=["01", "0\u200b2"]) == {"codes": text.CODE}
    assert _errors(values={"x": "1\x00"}) == {"values": text.CODE}
    assert _errors(values={"x\x00": 1}) == {"values": text.CODE}
    assert _errors(parts=[{"name": "ok"}, {"name": "a\x07"}]) == {"parts.1.name": text.CODE}
    assert _errors(password="a\x00b") == {"password": text.CODE}


def test_a_model_keeps_line_breaks_where_declared_and_normalises_to_nfc() -> None:
    message = _Message.model_validate(
        {
            "title": "  Cafe\u0301  \n",
            "reason": "第一行\n\t第二行",
            "notes": "a\r\nb",
            "pems": ["-----BEGIN-----\nAAAA\n-----END-----\n"],
            "values": {"e\u0301": "e\u0301", "n": 1.5},
            "parts": [{"name": "\uf900"}],
            "password": "e\u0301",
        }
    )
    assert message.title == "Caf\u00e9"
    assert message.reason == "第一行\n\t第二行"
    assert message.notes == "a\r\nb"
    assert message.pems == ["-----BEGIN-----\nAAAA\n-----END-----"]
    assert message.values == {"\u00e9": "\u00e9", "n": 1.5}
    assert message.parts[0].name == "\u8c48"
    assert message.password == "e\u0301"


class _Dated(TextModel):
    day: dt.date
    part: _Part
    size: float = 0.0


class _Later(_Dated):  # a subclass's own fields are decided for it
    kind: Literal["a", "b"] = "a"
    tags: list[str] = Field(default_factory=list)


class _Readings(TextModel):
    points: list[list[float]]
    by_name: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    mixed: list[float | dt.date] = Field(default_factory=list)
    when: list[dt.datetime] = Field(default_factory=list)
    size: float | None = None
    count: int | None = None  # nothing to check


class _Parsed(BeforeValidator):
    """A converter of the project's own (as exchange.types.DecimalText)."""


class _ReadOutOfText(TextModel):
    """Numbers a validator may read out of text: never taken as written plainly."""

    points: list[float]
    other: Annotated[list[float], _Parsed(lambda v: v)] = Field(default_factory=list)

    @field_validator("points", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return [float(x) for x in value.split(",")] if isinstance(value, str) else value


class _Converted(TextModel):
    other: Annotated[list[float], _Parsed(lambda v: v)] = Field(default_factory=list)
    plain: list[float] = Field(default_factory=list)


def test_numbers_a_validator_may_read_out_of_text_are_always_checked() -> None:
    """A model with a field or model validator that runs before pydantic's parsing, or a
    field with a validator in its annotation (a subclass of pydantic's too), has no field of
    numbers only: what it holds may have been text, which plausible.plain_numbers does not
    read."""
    assert not _fields(_ReadOutOfText, "_plausible_numbers")
    assert _fields(_ReadOutOfText, "_plausible") == {"points", "other"}
    assert _fields(_Converted, "_plausible_numbers") == {"plain"}
    with plausible.numbers_plain(), pytest.raises(ValidationError):
        _ReadOutOfText.model_validate({"points": "1.5,5e-324"})


def _fields(model: type[BaseModel], validator: str) -> set[str]:
    return set(model.__pydantic_decorators__.field_validators[validator].info.fields)


def test_numbers_written_plainly_are_not_read_again_and_days_still_are() -> None:
    """Within plausible.numbers_plain (a message whose text holds no number written small
    enough) a field of numbers only is taken as it is; a field that may hold a day is still
    checked, and outside it a subnormal number is refused anywhere."""
    tiny = [[0.5, 5e-324]] * 100  # long: read as one array when checked
    day = dt.datetime(1800, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(ValidationError, match="1e-300"):
        _Readings.model_validate({"points": tiny})
    with plausible.numbers_plain():
        assert _Readings.model_validate({"points": tiny, "by_name": {"a": (5e-324,)}}).points
        with pytest.raises(ValidationError) as caught:
            _Readings.model_validate({"points": tiny, "when": [day]})
        with pytest.raises(ValidationError):
            _Readings.model_validate({"points": [[1.0]], "mixed": [5e-324]})
    assert [e["loc"] for e in caught.value.errors()] == [("when",)]
    assert plausible.plain_numbers(b'[true,false,null,{"":[12.5,-0.0,3]}]')
    assert not plausible.plain_numbers(b"[1.5,2e-3]")
    assert not plausible.plain_numbers(b"[1E3]")
    assert not plausible.plain_numbers(b"[0." + b"0" * 299 + b"1]")  # 1e-300, written out
    assert plausible.plain_numbers(b"[0." + b"0" * 298 + b"1]")


def test_the_validators_run_only_on_the_fields_that_need_them() -> None:
    def fields(model: type[BaseModel], validator: str) -> set[str]:
        return set(model.__pydantic_decorators__.field_validators[validator].info.fields)

    assert fields(_Message, "_boundary") == {"title", "reason", "notes", "pems", "codes"} | {
        "values",
        "password",
    }
    assert fields(_Message, "_plausible") == {"pems", "codes", "values", "parts"}
    assert fields(_Later, "_boundary") == {"tags"}
    assert fields(_Later, "_plausible") == {"day", "tags"}
    assert fields(_Later, "_plausible_numbers") == {"size"}  # numbers only
    assert fields(_Readings, "_plausible_numbers") == {"points", "by_name", "size"}
    assert fields(_Readings, "_plausible") == {"when", "mixed"}  # may hold a day
    day = dt.date(2026, 1, 1)
    later = _Later.model_validate({"day": day, "part": {"name": " Cafe\u0301 "}, "tags": ["x"]})
    assert later.part.name == "Caf\u00e9"  # the nested model checks its own text
    for bad, where in (
        ({"part": {"name": "a\x00"}}, "part.name"),
        ({"day": "1800-01-01"}, "day"),
        ({"size": 5e-324}, "size"),
        ({"tags": ["a\u200bb"]}, "tags"),
    ):
        with pytest.raises(ValidationError) as caught:
            _Later.model_validate({"day": day, "part": {"name": "ok"}} | bad)
        assert [".".join(map(str, e["loc"])) for e in caught.value.errors()] == [where]


def _input_models(app: FastAPI) -> list[type[BaseModel]]:
    roots: list[type[BaseModel]] = [kind.schema for kind in message_types().values()]
    for route in all_routes(app.routes):
        field = getattr(route, "body_field", None) if isinstance(route, APIRoute) else None
        annotation = getattr(getattr(field, "field_info", None), "annotation", None)
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if is_model and annotation.__module__.startswith("jcjg."):  # not FastAPI's form models
            roots.append(annotation)
    return [model for root in roots for model in text.input_models(root)]


def test_every_input_model_takes_its_text_through_the_boundary(app: FastAPI) -> None:
    models = _input_models(app)
    assert len(models) > 30
    outside = sorted(m.__qualname__ for m in models if not issubclass(m, TextModel))
    assert outside == [], "input models must extend jcjg.core.text.TextModel"


# --- forms: declarations -------------------------------------------------------------------------


def test_a_declaration_names_its_fields_in_a_tuple_or_all() -> None:
    with pytest.raises(ValueError, match="tuple"):
        text.text_fields(multiline="note")

    @text.text_fields(multiline=("note",), own="*")
    def endpoint() -> None: ...

    rules = text.declared(endpoint)
    assert rules.is_multiline("note")
    assert not rules.is_multiline("name")
    assert rules.is_own("anything")
    assert text.declared(lambda: None) == text.SINGLE_LINE


def test_form_problems_names_fields_and_respects_the_declaration() -> None:
    rules = text.TextFields(multiline=frozenset({"note"}), own=frozenset({"username"}))
    items = [("name", "a\nb"), ("note", "a\nb"), ("username", "a\x00b"), ("x", "a\x1bb")]
    assert [e.field for e in text.form_problems(items, rules)] == ["name", "x"]


# --- what goes out ------------------------------------------------------------------------------


def test_a_spreadsheet_cell_drops_what_openpyxl_refuses() -> None:
    table = [["名称"], ["张\x1b三\x00\ud800\ufffe"], ["=1+1\x07"]]
    sheet = load_workbook(io.BytesIO(listing.to_xlsx(table, "人员"))).active
    assert sheet is not None
    assert [row[0] for row in sheet.iter_rows(values_only=True)] == ["名称", "张三", "'=1+1"]
    csv_text = listing.to_csv(table).decode("utf-8-sig")
    assert "张三" in csv_text
    assert "\x1b" not in csv_text


def test_a_pdf_writes_text_with_controls_and_lone_surrogates() -> None:
    bad = "张\x1b三\x07\u202e\ud800\x00"
    pdf = record_pdf(
        RecordDocument(title=bad, subtitle=bad, fields=[("名称", bad)], images=[], footer=bad)
    )
    assert pdf.startswith(b"%PDF-")
    sheet = label_sheet_pdf([Label(code="YP\x1b1", qr_payload="q", lines=(bad,))], title=bad)
    assert sheet.startswith(b"%PDF-")


# --- tus metadata -------------------------------------------------------------------------------


def test_upload_metadata_with_a_control_character_is_a_bad_request() -> None:
    import base64

    from jcjg.core.errors import BadRequest

    def encoded(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    assert parse_metadata("filename " + encoded("报告.pdf")) == {"filename": "报告.pdf"}
    for name in ("报告\x00.pdf", "报告\u202efdp.exe"):
        with pytest.raises(BadRequest):
            parse_metadata("filename " + encoded(name))


class _Form(TextModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=8)]
    label: str = ""


def test_line_breaks_around_a_value_count_only_where_the_field_keeps_them() -> None:
    assert _Form.model_validate({"name": "\u3000张三\n\u3000"}).name == "张三"
    with pytest.raises(ValidationError):
        _Form.model_validate({"name": "张\n三"})
    with pytest.raises(ValidationError):
        _Form.model_validate({"name": "张三", "label": "张三\n"})


def test_a_figure_is_written_as_people_write_it() -> None:
    from jcjg.core.text import figure

    assert figure(3170.4) == "3170"  # a mortar prism's loading rate in N/s, not 3.17e+03
    assert figure(0.5123) == "0.512"
    assert figure(12.345) == "12.3"
    assert figure(0.0004567) == "0.000457"
    assert figure(999.6) == "1000"
    assert figure(0) == "0"
    assert figure(2.0) == "2"
    assert figure(1e-05, 4) == "0.00001"
    assert figure(123456789.0) == "123000000"
    assert figure(1.23456e22) == "12300000000000000000000"  # no binary noise after rounding
    assert figure(-0.0) == "0"
    assert figure(-2.5) == "-2.5"
    assert figure(float("nan")) == "—"
    assert figure(float("inf")) == "—"


def test_a_chance_is_written_as_people_read_it() -> None:
    from jcjg.core.text import chance

    assert chance(5.1e-05) == "0.0051%（约 1/20000）"
    assert chance(0.25) == "25%"
    assert chance(3e-9) == "不到百万分之一"
    assert chance(0.009999) == "1%"  # rounds to a whole percent: no "1/100" beside it
    assert chance(float("nan")) == "—"
