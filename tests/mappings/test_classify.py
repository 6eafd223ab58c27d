"""classify: window, busy, ignore or own."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.classify import classify, match_types, name_keys
from mappings.rules import default_rules, rules_from_toml
from tests.mappings.helpers import cph, item

TYPES = {
    "jobsamtale": "Jobsamtale",
    "opf": "Opfølgningssamtale",
    "faelles": "Fællessamtale med a-kassen",
    "raad": "Rådighedssamtale",
}
RULES = default_rules()


def timed(summary: str = "Møde", **kwargs: object):
    return item(cph(2026, 3, 10, 9), cph(2026, 3, 10, 12), summary=summary, **kwargs)


@pytest.mark.parametrize(
    ("summary", "types"),
    [
        ("Selvbook", None),
        ("selvbook", None),
        ("  SELVBOOK  ", None),
        ("Selvbooking", None),
        ("Selvbook:", None),
        ("Selvbook: Jobsamtale", ("jobsamtale",)),
        ("Selvbook: JOBSAMTALE", ("jobsamtale",)),
        ("Selvbook - jobsamtale", ("jobsamtale",)),
        ("Selvbook: opf", ("opf",)),  # by code
        ("Selvbook: Opfolgningssamtale", ("opf",)),  # ø typed as o
        ("Selvbook: Opfoelgningssamtale", ("opf",)),  # ø spelled out
        ("Selvbook: faellessamtale med A-kassen", ("faelles",)),
        ("Selvbook: Radighedssamtale", ("raad",)),  # å typed as a
        ("Selvbook: Jobsamtale, Opfølgningssamtale", ("jobsamtale", "opf")),
        ("Selvbook: Jobsamtale og rådighedssamtale", ("jobsamtale", "raad")),
        ("Selvbook: Jobsamtale / jobsamtale", ("jobsamtale",)),
    ],
)
def test_window_by_title(summary: str, types: tuple[str, ...] | None) -> None:
    result = classify(timed(summary), RULES, TYPES)
    assert result.kind == "window"
    assert result.conversation_types == types
    assert result.unknown_types == ()


def test_unknown_type_in_title_offers_nothing_and_says_so() -> None:
    result = classify(timed("Selvbook: Jobsamtale, Kaffesnak"), RULES, TYPES)
    assert result.kind == "window"
    assert result.conversation_types == ("jobsamtale",)
    assert result.unknown_types == ("Kaffesnak",)
    only_unknown = classify(timed("Selvbook: Kaffesnak"), RULES, TYPES)
    assert only_unknown.conversation_types == () and only_unknown.unknown_types == ("Kaffesnak",)


@pytest.mark.parametrize(
    "summary",
    ["Jobsamtale (selvbooket) - fremmøde", "Selvbooket", "Selvbook-booking", "Ikke selvbook", ""],
)
def test_titles_that_are_not_windows(summary: str) -> None:
    assert classify(timed(summary), RULES, TYPES).kind == "busy"


def test_window_by_category_with_any_title() -> None:
    result = classify(timed("Formiddag", categories=("Arbejde", "SELVBOOK")), RULES, TYPES)
    assert result.kind == "window" and result.conversation_types is None
    typed = classify(timed("Formiddag", categories=("Selvbook: Jobsamtale",)), RULES, TYPES)
    assert typed.kind == "window" and typed.conversation_types == ("jobsamtale",)
    both = classify(timed("Selvbook: Opfølgningssamtale", categories=("Selvbook",)), RULES, TYPES)
    assert both.conversation_types == ("opf",)  # the title's types win over "all"


def test_window_is_a_window_even_when_shown_as_free_or_tentative() -> None:
    assert classify(timed("Selvbook", transparent=True), RULES, TYPES).kind == "window"
    assert classify(timed("Selvbook", status="TENTATIVE"), RULES, TYPES).kind == "window"


def test_cancelled_window_is_ignored() -> None:
    assert classify(timed("Selvbook", status="CANCELLED"), RULES, TYPES).kind == "ignore"


def test_busy_and_ignorable_items() -> None:
    assert classify(timed("Teammøde"), RULES, TYPES).kind == "busy"
    assert classify(timed("Frokost", transparent=True), RULES, TYPES).kind == "ignore"
    assert classify(timed("Aflyst", status="CANCELLED"), RULES, TYPES).kind == "ignore"
    assert classify(timed("Måske", status="TENTATIVE"), RULES, TYPES).kind == "busy"
    fri = item(date(2026, 3, 13), date(2026, 3, 14), summary="Fri")
    result = classify(fri, RULES, TYPES)
    assert result.kind == "busy" and "day" in result.reason
    free_day = item(date(2026, 3, 13), date(2026, 3, 14), summary="Fødselsdag", transparent=True)
    assert classify(free_day, RULES, TYPES).kind == "ignore"


def test_configurable_busy_rules() -> None:
    rules = rules_from_toml(
        """
        [busy]
        tentative_is_busy = false
        all_day_is_busy = false
        ignore_categories = ["Privat-info"]
        """
    )
    assert classify(timed("Måske", status="TENTATIVE"), rules, TYPES).kind == "ignore"
    fri = item(date(2026, 3, 13), date(2026, 3, 14), summary="Fri")
    assert classify(fri, rules, TYPES).kind == "ignore"
    assert classify(timed("Note", categories=("privat-INFO",)), rules, TYPES).kind == "ignore"
    assert classify(timed("Teammøde"), rules, TYPES).kind == "busy"


def test_configurable_window_markers() -> None:
    rules = rules_from_toml(
        """
        [windows]
        categories = ["Borgertid"]
        summary_pattern = '^\\s*borgertid(?:\\s*:\\s*(?P<types>.*?))?\\s*$'
        """
    )
    assert classify(timed("Møde", categories=("borgertid",)), rules, TYPES).kind == "window"
    assert classify(timed("Borgertid: Jobsamtale"), rules, TYPES).conversation_types == (
        "jobsamtale",
    )
    assert classify(timed("Selvbook"), rules, TYPES).kind == "busy"


def test_own_items_are_never_windows_or_busy() -> None:
    for own in (
        timed("Selvbook", external_id="bk-1"),
        timed("Jobsamtale (selvbooket) - fremmøde", external_id="bk-2"),
        timed("x", external_id="bk-3", status="CANCELLED"),
    ):
        assert classify(own, RULES, TYPES).kind == "own"


def test_name_keys_fold_case_accents_and_danish_letters() -> None:
    assert name_keys("Opfølgning") & name_keys("OPFOLGNING")
    assert name_keys("Opfølgning") & name_keys("opfoelgning")
    assert name_keys("Fællessamtale") & name_keys("faellessamtale")
    assert name_keys("Rådighed") & name_keys("raadighed")
    assert name_keys("Rådighed") & name_keys("RADIGHED")
    assert name_keys("Café  samtale") & name_keys("cafe samtale")
    assert not name_keys("Jobsamtale") & name_keys("Rådighedssamtale")


@given(
    title=st.text(
        alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzæøåéüABCÆØÅ "), min_size=1, max_size=25
    ).filter(lambda t: t.strip() and not set(t.lower().split()) & {"og"}),
    upper=st.booleans(),
)
def test_any_type_title_matches_itself_in_any_case(title: str, upper: bool) -> None:
    written = title.upper() if upper else title.lower()
    codes, unknown = match_types(written, {"t1": title}, RULES)
    assert codes == ("t1",) and unknown == ()
