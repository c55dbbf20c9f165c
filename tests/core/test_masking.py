"""Masking of personal data: what a page, an API answer or the change log shows of a person."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jcjg.core.masking import mask_email, mask_id_number, mask_name, mask_phone, mask_value

# no database: the same on both databases; hypothesis's examples (tests/conftest.py examples)
pytestmark = [pytest.mark.once, pytest.mark.property]

digits = st.text(alphabet="0123456789", max_size=30)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("110101199003071234", "110101********1234"),  # 18 digits: birth date hidden
        ("11010119900307123X", "110101********123X"),
        ("110101900307123", "110101*****7123"),  # the old 15-digit form
        ("E12345678", "*********"),  # a passport number: hidden whole
        ("H1234567801", "***********"),  # too short for an ID: nothing shown
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_mask_id_number(value: str, masked: str) -> None:
    assert mask_id_number(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+8613812345678", "+86*******5678"),
        ("0792-8123456", "079*****3456"),
        ("87654321", "****4321"),  # a landline without area code
        ("1234567", "*******"),  # short numbers: hidden whole
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("zhang.san@example.com", "z***@example.com"),
        ("a@b.cn", "a***@b.cn"),  # the length of the name is hidden too
        ("@example.com", "***@example.com"),
        ("not-an-email", "n***********"),  # no domain: masked as a name
        ("", ""),
    ],
)
def test_mask_email(value: str, masked: str) -> None:
    assert mask_email(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("张三丰", "张**"),
        ("李四", "李*"),
        ("欧阳娜娜", "欧***"),
        ("王", "王"),  # the family name alone is kept
        ("", ""),
    ],
)
def test_mask_name(value: str, masked: str) -> None:
    assert mask_name(value) == masked


@pytest.mark.parametrize(
    ("field", "value", "masked"),
    [
        ("id_number", "110101199003071234", "110101********1234"),
        ("phone", "13812345678", "138****5678"),
        ("mobile", "13812345678", "138****5678"),
        ("email", "zhang@example.com", "z***@example.com"),
        ("contact_person", "张三", "张*"),  # unknown kinds are masked as names
    ],
)
def test_mask_value_by_field(field: str, value: str, masked: str) -> None:
    assert mask_value(field, value) == masked


@given(digits)
def test_phone_mask_keeps_length_and_hides_at_least_four(value: str) -> None:
    masked = mask_phone(value)
    assert len(masked) == len(value)
    assert masked.count("*") >= min(len(value), 4)
    assert masked.count("*") < len(value) or len(value) < 8


@given(digits)
def test_id_mask_keeps_length_and_never_shows_the_birth_date(value: str) -> None:
    masked = mask_id_number(value)
    assert len(masked) == len(value)
    assert sum(c != "*" for c in masked) <= 10
    if len(value) == 18:
        assert masked[6:14] == "********"
