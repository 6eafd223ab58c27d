"""Rules: shipped defaults, a municipality's override file, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings.errors import RulesError
from mappings.rules import Rules, default_rules, load_rules, merge, rules_from_toml


def test_defaults_are_the_documented_ones() -> None:
    rules = load_rules()
    assert rules == default_rules()
    assert rules.windows.categories == ("Selvbook",)
    assert rules.busy.tentative_is_busy and rules.busy.all_day_is_busy
    assert rules.booking.title == "{type_title} (selvbooket) - {mode_label}"
    assert rules.booking.location == "{room_name}, {site_name}"
    assert rules.booking.category == "Selvbook-booking"
    assert not rules.booking.show_citizen_name
    labels = rules.booking.mode_labels
    assert (labels.in_person, labels.phone, labels.video) == ("fremmøde", "telefon", "video")
    assert "{booking_reference}" in rules.booking.description


def test_shipped_toml_agrees_with_the_model_defaults() -> None:
    """The TOML file is what municipalities read; the model defaults must say the same."""
    assert default_rules() == Rules()


def test_override_file_merges_key_by_key(tmp_path: Path) -> None:
    path = tmp_path / "lilleby.toml"
    path.write_text(
        """
        [windows]
        categories = ["Selvbook", "Borgertid"]

        [busy]
        tentative_is_busy = false

        [booking]
        show_citizen_name = true

        [booking.mode_labels]
        video = "skærm"
        """,
        encoding="utf-8",
    )
    rules = load_rules(path)
    assert rules.windows.categories == ("Selvbook", "Borgertid")  # lists replace
    assert rules.windows.summary_pattern == default_rules().windows.summary_pattern  # kept
    assert not rules.busy.tentative_is_busy and rules.busy.all_day_is_busy
    assert rules.booking.show_citizen_name
    assert rules.booking.mode_labels.video == "skærm"
    assert rules.booking.mode_labels.phone == "telefon"  # the rest of the table stays
    assert rules.booking.title == default_rules().booking.title


def test_merge_is_deep_and_leaves_its_inputs_alone() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    override = {"a": {"c": [3]}, "e": 2}
    assert merge(base, override) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


@pytest.mark.parametrize(
    ("toml", "key", "problem"),
    [
        ("[windows]\ncategoriez = ['x']", "windows.categoriez", "unknown key"),
        ("[windows]\ncategories = 'Selvbook'", "windows.categories", "tuple"),
        ("[windows]\ncategories = ['']", "windows.categories", "empty"),
        ("[windows]\nsummary_pattern = '(unclosed'", "windows.summary_pattern", "regular"),
        ("[windows]\nsummary_pattern = '(?P<kind>x)'", "windows.summary_pattern", "types"),
        ("[windows]\ntype_separator = ',*'", "windows.type_separator", "empty string"),
        ("[windows]\ntype_separator = '(,)'", "windows.type_separator", "capturing"),
        ("[busy]\ntentative_is_busy = 'maybe'", "busy.tentative_is_busy", "boolean"),
        ("[booking]\ntitle = '{type_titel}'", "booking.title", "{type_titel}"),
        ("[booking]\ntitle = '  '", "booking.title", "empty"),
        ("[booking]\nlocation = '{room_name'", "booking.location", "template"),
        ("[booking]\ndescription = '{cpr}'", "booking.description", "unknown placeholder"),
        ("[booking]\ncitizen_name_line = '{citizen_name!r}'", "booking.citizen_name_line", "{"),
        ("[booking.mode_labels]\nphone = ''", "booking", "mode_labels.phone"),
        ("[booking.mode_labels]\nfax = 'fax'", "booking.mode_labels.fax", "unknown key"),
        ("[extra]\nx = 1", "extra", "unknown key"),
    ],
)
def test_validation_errors_name_the_key(toml: str, key: str, problem: str) -> None:
    with pytest.raises(RulesError) as caught:
        rules_from_toml(toml, source="lilleby.toml")
    message = str(caught.value)
    assert message.startswith("lilleby.toml: ")
    assert f"{key}: " in message
    assert problem in message
    assert caught.value.__cause__ is None


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[windows\ncategories = 1", encoding="utf-8")
    with pytest.raises(RulesError, match=r"broken\.toml: not valid TOML.*line 1"):
        load_rules(broken)
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules(tmp_path / "missing.toml")


def test_rules_are_immutable() -> None:
    rules = default_rules()
    with pytest.raises(ValueError):
        rules.busy.tentative_is_busy = False  # type: ignore[misc]
