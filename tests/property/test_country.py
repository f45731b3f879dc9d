"""Country codes: policy.normalize_country(ies) against the shipped ISO 3166-1 table."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from joingate.errors import InvalidInput
from joingate.policy import normalize_countries, normalize_country
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


@given(st.one_of(country_like, any_value), field_names)
@example("XK", "countries")  # user-assigned, not ISO 3166-1
@example("C N", "countries")
def test_a_code_is_accepted_only_as_an_iso_code_written_in_ascii(value: object,
                                                                 field: str) -> None:
    try:
        code = normalize_country(value, TABLE, field)
    except InvalidInput as exc:
        assert exc.field == field
        return
    # Accepted: the input was that code, in some case, with ASCII spaces around it at most.
    assert isinstance(value, str)
    text = value.strip()
    assert set(text) <= set(string.ascii_letters), f"{value!r} accepted as {code}"
    assert text.upper() == code
    assert TABLE.is_country(code)


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


@given(st.lists(st.one_of(st.sampled_from(COUNTRIES), country_like, any_value), max_size=6),
       field_names)
def test_a_list_is_refused_naming_the_field_or_holds_only_iso_codes(values: list[object],
                                                                    field: str) -> None:
    try:
        result = normalize_countries(values, TABLE, field)
    except InvalidInput as exc:
        assert exc.field == field
        return
    assert result and all(TABLE.is_country(c) for c in result)
    assert len(set(result)) == len(result)


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_countries([], TABLE)
    assert caught.value.field == "countries"
