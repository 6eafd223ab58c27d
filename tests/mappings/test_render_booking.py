"""render_booking: what a booked conversation looks like in the caseworker's calendar."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.ical import parse_resource, render_event
from mappings.privacy import contains_cpr
from mappings.render import BookingView, render_booking
from mappings.rules import default_rules, rules_from_toml
from tests.mappings.helpers import cph

RULES = default_rules()


def view(**changes: object) -> BookingView:
    base = BookingView(
        external_id="bk-7f3a",
        type_title="Jobsamtale",
        mode="in_person",
        start=cph(2026, 3, 10, 9, 40),
        end=cph(2026, 3, 10, 10, 10),
        room_name="Mødelokale L2",
        site_name="Jobcenter Lilleby",
        room_email="l2@jobcenter.dk",
        booking_reference="R-8K2Q",
        citizen_name="Karen Hansen",
    )
    return replace(base, **changes)


def test_story_3_in_person_booking() -> None:
    draft = render_booking(view(), RULES)
    assert draft.summary == "Jobsamtale (selvbooket) - fremmøde"
    assert draft.location == "Mødelokale L2, Jobcenter Lilleby"
    assert draft.start == cph(2026, 3, 10, 9, 40) and draft.end == cph(2026, 3, 10, 10, 10)
    assert draft.private is True and draft.transparent is False
    assert draft.external_id == "bk-7f3a"
    assert draft.categories == ("Selvbook-booking",)
    assert draft.resources == ("l2@jobcenter.dk",)
    assert "Bookingreference: R-8K2Q" in draft.description
    assert "Karen" not in draft.description  # names are off by default


@pytest.mark.parametrize(
    ("mode", "label", "line"),
    [("phone", "telefon", "telefonisk"), ("video", "video", "videomøde")],
)
def test_phone_and_video_have_no_location_and_a_danish_line(
    mode: str, label: str, line: str
) -> None:
    draft = render_booking(view(mode=mode, room_email=None), RULES)
    assert draft.summary == f"Jobsamtale (selvbooket) - {label}"
    assert draft.location == ""
    assert line in draft.description
    assert "R-8K2Q" in draft.description
    assert draft.resources == ()


def test_partial_room_information() -> None:
    assert render_booking(view(site_name=None), RULES).location == "Mødelokale L2"
    assert render_booking(view(room_name=None), RULES).location == "Jobcenter Lilleby"
    assert render_booking(view(room_name=None, site_name=None), RULES).location == ""
    assert render_booking(view(room_email="  "), RULES).resources == ()


def test_a_conversation_without_its_room_says_the_coordinator_knows() -> None:
    draft = render_booking(view(room_name=None, site_name=None, room_missing=True), RULES)
    assert draft.location == "Lokale mangler - koordinator er underrettet"
    assert render_booking(view(room_missing=True), RULES).location.startswith("Mødelokale L2")
    phone = render_booking(view(mode="phone", room_name=None, room_missing=False), RULES)
    assert phone.location == ""


def test_how_to_reach_the_citizen_is_the_case_system_never_contact_details() -> None:
    draft = render_booking(view(mode="phone", citizen_contact="+45 12 34 56 78"), RULES)
    assert "du ringer til borgeren" in draft.description
    assert "sagssystemet: søg på R-8K2Q" in draft.description
    assert "12 34" not in draft.description
    allowing = rules_from_toml("[booking]\nshow_citizen_contact = true")
    shown = render_booking(view(mode="phone", citizen_contact="+45 12 34 56 78"), allowing)
    assert "Kontakt: +45 12 34 56 78" in shown.description


def test_a_staff_booking_is_not_called_selvbooket() -> None:
    draft = render_booking(view(booked_by="staff"), RULES)
    assert draft.summary == "Jobsamtale (booket af jobcentret) - fremmøde"
    assert "selvbooket" not in draft.description.lower()
    assert "Bookingreference: R-8K2Q" in draft.description


def test_reminder_follows_the_rules() -> None:
    assert render_booking(view(), RULES).reminder_minutes == 15
    assert (
        render_booking(view(), rules_from_toml("[booking]\nreminder_minutes = 5")).reminder_minutes
        == 5
    )
    assert (
        render_booking(view(), rules_from_toml("[booking]\nreminder = false")).reminder_minutes
        is None
    )


def test_citizen_name_only_when_the_rules_allow_it() -> None:
    allowing = rules_from_toml("[booking]\nshow_citizen_name = true")
    assert "Borger: Karen Hansen" in render_booking(view(), allowing).description
    assert "Borger:" not in render_booking(view(citizen_name=None), allowing).description


def test_municipal_wording() -> None:
    rules = rules_from_toml(
        """
        [booking]
        title = "Selvbooket {type_title} ({mode_label})"
        location = "{site_name} - {room_name}"
        description = "Ref. {booking_reference}"
        category = "Jobnet"

        contact_line = ""

        [booking.mode_lines]
        phone = ""
        """
    )
    draft = render_booking(view(), rules)
    assert draft.summary == "Selvbooket Jobsamtale (fremmøde)"
    assert draft.location == "Jobcenter Lilleby - Mødelokale L2"
    assert draft.categories == ("Jobnet",)
    assert render_booking(view(mode="phone"), rules).description == "Ref. R-8K2Q"


@pytest.mark.parametrize(
    "field",
    [
        "external_id",
        "type_title",
        "room_name",
        "site_name",
        "room_email",
        "booking_reference",
        "citizen_name",
    ],
)
def test_refuses_a_cpr_number_in_any_field(field: str) -> None:
    with pytest.raises(ValueError, match=f"{field} contains a CPR number") as caught:
        render_booking(view(**{field: "Borger 010203-1234"}), RULES)
    assert not contains_cpr(str(caught.value))


def test_refuses_a_cpr_number_in_rule_texts() -> None:
    rules = rules_from_toml('[booking]\ncategory = "0102031234"')
    with pytest.raises(ValueError, match="rule text"):
        render_booking(view(), rules)


@pytest.mark.parametrize(
    "changes",
    [
        {"mode": "fax"},
        {"start": cph(2026, 3, 10, 9, 40).replace(tzinfo=None)},
        {"end": cph(2026, 3, 10, 9, 40)},
    ],
)
def test_booking_view_validates_itself(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        view(**changes)


def test_rendered_booking_survives_the_trip_through_icalendar() -> None:
    draft = render_booking(view(), RULES)
    item = parse_resource(render_event(draft), "/cal/bk-7f3a.ics")
    assert item.summary == draft.summary and item.location == draft.location
    assert item.description == draft.description and item.external_id == "bk-7f3a"


@given(
    reference=st.text(min_size=1, max_size=30),
    title=st.text(min_size=1, max_size=30),
    name=st.text(max_size=30),
)
def test_nothing_rendered_ever_holds_a_cpr_number(reference: str, title: str, name: str) -> None:
    rules = rules_from_toml("[booking]\nshow_citizen_name = true")
    try:
        draft = render_booking(
            view(booking_reference=reference, type_title=title, citizen_name=name), rules
        )
    except ValueError:
        assert any(contains_cpr(t) for t in (reference, title, name))
        return
    for text in (draft.summary, draft.location, draft.description, *draft.categories):
        assert not contains_cpr(text)
