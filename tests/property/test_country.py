"""Country codes: policy.normalize_country(ies) against the shipped ISO 3166-1 table."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from joingate.errors import InvalidInput
from joingate.restrictions import normalize_countries, normalize_country
from tests.property.strategies import (
    COUNTRIES,
    TABLE,
    any_value,
    country_like,
    spaces,
)

field_names = st.sampled_from(["countries", "jurisdiction", "country"])


@given(st.sampled_from(COUNTRIES), st.sampled_from([str.lower, str.upper, str.title]),
       spaces, spaces)
def test_every_iso_code_is_accepted_in_any_case_and_stored_upper_case(
        code: str, case: object, before: str, after: str) -> None:
    assert normalize_country(before + case(code) + after, TABLE) == code  # type: ignore[operator]


def valid_code(value: object) -> bool:
    """What must be accepted: an ISO 3166-1 code, ASCII letters in any case, ASCII spaces
    around it at most."""
    return (isinstance(value, str) and value.strip().isascii() and value.strip().isalpha()
            and value.strip().upper() in COUNTRIES)


invalid_codes = st.one_of(country_like, any_value).filter(lambda v: not valid_code(v))


@given(invalid_codes, field_names)
@example("XK", "countries")  # user-assigned, not ISO 3166-1
@example("C N", "countries")
@example("XX", "countries")
@example("\u00df", "countries")
def test_anything_but_an_iso_code_written_in_ascii_is_refused_naming_the_field(
        value: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_country(value, TABLE, field)
    assert caught.value.field == field


# Found by the property above: a restriction for countries ["\u00df"] was stored as SS.
LOOKALIKES = {
    "\u00df": "SS",  # sharp s (South Sudan)
    "\u017fe": "SE",  # long s (Sweden)
    "\u0131d": "ID",  # dotless i (Indonesia)
    "\ufb01": "FI",  # fi ligature (Finland)
}


def test_non_ascii_letters_that_upper_case_to_a_code_are_refused() -> None:
    accepted = {}
    for text in LOOKALIKES:
        try:
            accepted[text] = normalize_country(text, TABLE, "countries")
        except InvalidInput as exc:
            assert exc.field == "countries"
    assert accepted == {}


@given(st.lists(st.one_of(st.sampled_from(COUNTRIES).map(str.lower), st.sampled_from(COUNTRIES)),
                min_size=1, max_size=8))
def test_a_list_is_upper_cased_and_deduplicated_in_order(codes: list[str]) -> None:
    result = normalize_countries(codes, TABLE)
    assert list(result) == list(dict.fromkeys(c.upper() for c in codes))
    assert normalize_countries(result, TABLE) == result


@given(st.lists(st.sampled_from(COUNTRIES), max_size=5), st.integers(0, 5), invalid_codes,
       field_names)
def test_a_list_with_anything_but_an_iso_code_is_refused_naming_the_field(
        codes: list[str], at: int, bad: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_countries([*codes[:at], bad, *codes[at:]], TABLE, field)
    assert caught.value.field == field


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_countries([], TABLE)
    assert caught.value.field == "countries"
