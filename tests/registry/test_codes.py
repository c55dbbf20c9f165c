"""The unified social credit code (GB 32100-2015): its check character and validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jcjg.registry.codes import check_character, is_valid_credit_code

# no database: the same on both databases; hypothesis's examples (tests/conftest.py examples)
pytestmark = [pytest.mark.once, pytest.mark.property]

# Written out again from GB 32100-2015 clause 5.2, independently of the code under test.
GB_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
GB_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
FORBIDDEN = "IOSVZ"

# The standard's own example, worked by hand: the values 9 1 3 5 0 1 0 0 M=21 0 0 0 1 0 0 Y=30 4
# times the weights give 9+3+27+135+26+420+8+900+112 = 1640; 1640 mod 31 = 28; 31-28 = 3.
VALID = "91350100M000100Y43"

bodies = st.text(alphabet=GB_ALPHABET, min_size=17, max_size=17)


def reference_check(first17: str) -> str:
    total = sum(GB_ALPHABET.index(c) * w for c, w in zip(first17, GB_WEIGHTS, strict=True))
    return GB_ALPHABET[(31 - total % 31) % 31]


def test_alphabet_has_31_characters_without_the_forbidden_letters() -> None:
    assert len(GB_ALPHABET) == 31
    assert not set(FORBIDDEN) & set(GB_ALPHABET)


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        ("91350100M000100Y4", "3"),
        # 9+3+27+162+104+34+420+290+75+130+88+288+130+420+28 = 2208; 2208 mod 31 = 7; 31-7 = 24
        ("91360402MA3ABCDE1", "Q"),
        ("10000000000000000", "Y"),  # total 1: 31-1 = 30, the last character
        ("01000000000000000", "W"),  # total 3: 31-3 = 28
        ("00000000000000001", "3"),  # total 28: 31-28 = 3
        ("00000000000000000", "0"),  # total 0: (31-0) mod 31 = 0, never a 32nd character
    ],
)
def test_check_character_known_answers(first17: str, check: str) -> None:
    assert check_character(first17) == check
    assert reference_check(first17) == check


@pytest.mark.parametrize(
    "code",
    [VALID, "91360402MA3ABCDE1Q", "10000000000000000Y", "01000000000000000W"],
)
def test_valid_codes(code: str) -> None:
    assert is_valid_credit_code(code)


def test_lower_case_and_surrounding_spaces_are_accepted() -> None:
    assert is_valid_credit_code(" 91350100m000100y43\n")


def test_every_single_changed_character_is_detected() -> None:
    # The weights are all coprime to 31, so any one substituted character changes the sum.
    for position in range(18):
        for replacement in GB_ALPHABET:
            if replacement == VALID[position]:
                continue
            changed = VALID[:position] + replacement + VALID[position + 1 :]
            assert not is_valid_credit_code(changed), changed


@pytest.mark.parametrize("code", ["", VALID[:17], VALID + "0", VALID[:-2] + "3", "9" * 30])
def test_wrong_length_is_invalid(code: str) -> None:
    assert not is_valid_credit_code(code)


@pytest.mark.parametrize("letter", list(FORBIDDEN))
def test_forbidden_letters_are_invalid(letter: str) -> None:
    assert not is_valid_credit_code(VALID[:8] + letter + VALID[9:])
    assert not is_valid_credit_code(VALID[:17] + letter)
    with pytest.raises(ValueError, match="GB 32100"):
        check_character(VALID[:8] + letter + VALID[9:17])


@pytest.mark.parametrize("body", ["", VALID[:16], VALID[:18], "9135010０M000100Y4", "-" * 17])
def test_check_character_refuses_a_bad_body(body: str) -> None:
    with pytest.raises(ValueError, match="17 characters"):
        check_character(body)


@given(bodies)
def test_generated_codes_validate_and_match_the_standard(body: str) -> None:
    check = check_character(body)
    assert check == reference_check(body)
    assert is_valid_credit_code(body + check)
