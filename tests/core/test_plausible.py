"""core.plausible through TextModel (issue 40): every input model refuses a day outside
1900–2100 and a subnormal number in any field (in lists and dicts too), and its JSON Schema
states the text rule and the days."""

from __future__ import annotations

import datetime as dt
import random

import jsonschema_rs
import pytest
from pydantic import ConfigDict, Field, ValidationError

from jcjg.core import plausible, text
from jcjg.core.text import MultiLine, TextModel


class Sample(TextModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    day: dt.date | None = None
    at: dt.datetime | None = None
    force: float = 1.0
    points: list[list[float]] = Field(default_factory=list)
    values: dict[str, float | str | None] = Field(default_factory=dict)
    name: str = ""
    note: MultiLine = ""


def _error(**given: object) -> dict:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(given)
    [error] = caught.value.errors()
    return error


@pytest.mark.parametrize(
    "given",
    [
        {"day": "0001-01-01"},
        {"day": "1899-12-31"},
        {"day": "2101-01-01"},
        {"at": "9999-12-31T23:59:59Z"},
        {"at": "1800-01-01T00:00:00+08:00"},
    ],
)
def test_days_outside_1900_to_2100_are_refused(given: dict) -> None:
    error = _error(**given)
    assert error["type"] == "date_out_of_range"
    assert error["msg"] == "日期应在 1900-01-01 至 2100-12-31 之间"
    assert error["loc"] == (next(iter(given)),)


def test_the_edges_and_ordinary_values_are_taken() -> None:
    taken = Sample.model_validate(
        {"day": "1900-01-01", "at": "2100-12-31T23:00:00Z", "force": 0.0,
         "points": [[0.0, 1e-300], [1.0, -0.0]], "values": {"a": 1e-300, "b": "x", "c": None}}
    )  # fmt: skip
    assert taken.day == dt.date(1900, 1, 1)


@pytest.mark.parametrize("tiny", [5e-324, -5e-324, 1e-310, 2.2e-308, 9.9e-301])
@pytest.mark.parametrize(
    ("field", "place", "where"),
    [("force", None, ""), ("points", [[0.0, 1.0], [1.0, "TINY"]], "1.1："),
     ("values", {"peak_kn": "TINY"}, "peak_kn：")],
)  # fmt: skip
def test_subnormal_numbers_are_refused_anywhere(tiny, field, place, where) -> None:
    value = tiny if place is None else eval(repr(place).replace("'TINY'", repr(tiny)))  # noqa: S307
    error = _error(**{field: value})
    assert error["type"] == "number_too_small"
    assert error["loc"] == (field,)
    assert error["msg"] == where + "数值过小：非零数的绝对值不应小于 1e-300（为零请填 0）"


def test_the_json_schema_states_the_text_rule_and_the_days() -> None:
    schema = Sample.model_json_schema()
    props = schema["properties"]
    assert props["name"]["pattern"] == text.TRIMMED_PATTERN
    assert props["note"]["pattern"] == text.MULTILINE_PATTERN
    assert props["values"]["propertyNames"]["pattern"] == text.SINGLE_LINE_PATTERN
    day = next(b for b in props["day"]["anyOf"] if b.get("format") == "date")
    assert (day["formatMinimum"], day["formatMaximum"]) == ("1900-01-01", "2100-12-31")


@pytest.mark.parametrize(
    ("pattern", "options"),
    [
        (text.MULTILINE_PATTERN, {"multiline": True}),
        (text.SINGLE_LINE_PATTERN, {}),
        (text.TRIMMED_PATTERN, {"ends_trimmed": True}),
    ],
)
def test_the_patterns_take_exactly_what_the_boundary_takes(pattern: str, options: dict) -> None:
    validator = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    rng = random.Random(40)
    pool = [*range(0x00, 0xA1), *range(0x2000, 0x2070), 0x061C, 0x1680, 0x3000, 0xFEFF,
            0xFFFE, 0xFFFF, 0x4E2D, 0x1F600, ord("a"), ord(" ")]  # fmt: skip
    for _ in range(20_000):
        value = "".join(chr(rng.choice(pool)) for _ in range(rng.randint(0, 5)))
        assert validator.is_valid(value) == (text.problem(value, **options) is None), repr(value)


def test_the_quick_check_agrees_with_the_walk() -> None:
    day, early, at = (
        dt.date(2000, 1, 1),
        dt.date(1899, 12, 31),
        dt.datetime(2101, 1, 1, tzinfo=dt.UTC),
    )
    values: list[object] = [None, "x", 3, True, 0.0, -0.0, 1.5, float("nan"), float("inf")]
    values += [5e-324, -1e-301, 1e-300, day, early, at, dt.time(1), [1, "a", day], (1.0, 2)]
    values += [[[5e-324]], {"a": {"b": early}}, {1e-310}, frozenset({day}), {"k": [0.1, at]}]
    values += [[0.5] * 100, [0.5] * 99 + [5e-324], ["1e-310"] * 65]
    for value in values:
        quick, walked = plausible.fine(value), not list(plausible.problems(value))
        assert quick == walked or (not quick and len(value) > plausible._AT_ONCE), value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rows", "where"),
    [
        ([[0.1 * i, 1.0] for i in range(300)], None),  # a curve's points: read flat, none found
        ([[0.1 * i, 1.0] for i in range(299)] + [[30.0, 5e-324]], "299.1"),
        ([[0.1 * i, 1.0, 2.0] for i in range(100)] + [[1.0, -1e-310]], "100.1"),  # widths differ
        ([(0.5, 1.0)] * 80 + [(1e-305,)], "80.0"),  # tuples
        ([[0.5, 1.0]] * 80 + [[1.0, [5e-324]]], "80.1.0"),  # a row holding a list: walked
        ([[0.5, 1.0]] * 80 + [{"1": 5e-324}], "80.1"),  # a dict among the rows: walked
    ],
)
def test_long_lists_of_rows_are_read_flat_and_a_subnormal_named(rows, where) -> None:
    """A list of more than _AT_ONCE rows (a curve's points) is checked as one flat array; a
    subnormal number among them is named by its row and column, as the walk names it."""
    wanted = [] if where is None else [(where, plausible.NUMBER_CODE, plausible.NUMBER_PROBLEM)]
    assert list(plausible.problems(rows)) == wanted
