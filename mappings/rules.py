"""Declarative rules a municipality can change without code.

Defaults live in ``default_rules.toml`` next to this module; a municipality's own TOML file is
merged over them key by key. Everything is validated up front, and every error names the key
(``booking.title``), so a wrong rules file stops the daemon at start-up with a clear message
instead of mis-reading calendars later.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mappings.errors import RulesError

# Placeholders each booking template may use; anything else is a typo caught at load time.
TITLE_FIELDS = frozenset({"type_title", "mode_label"})
LOCATION_FIELDS = frozenset({"room_name", "site_name"})
DESCRIPTION_FIELDS = frozenset({"booking_reference", "type_title", "mode_label"})
CITIZEN_FIELDS = frozenset({"citizen_name"})
CONTACT_FIELDS = frozenset({"booking_reference"})
CITIZEN_CONTACT_FIELDS = frozenset({"citizen_contact"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _regex(value: str, *, group: str | None = None) -> str:
    try:
        compiled = re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    if group and group not in compiled.groupindex and compiled.groupindex:
        raise ValueError(f"named groups must include (?P<{group}>...)")
    return value


def _template(value: str, allowed: frozenset[str]) -> str:
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"not a valid template: {exc}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed or spec or conversion:
            raise ValueError(
                f"unknown placeholder {{{name}}}; allowed: "
                + ", ".join(f"{{{n}}}" for n in sorted(allowed))
            )
    return value


class WindowRules(_Strict):
    """What marks a self-booking window in a caseworker's calendar."""

    categories: tuple[str, ...] = ("Selvbook",)
    summary_pattern: str = r"^\s*selvbook(?:ing)?(?:(?:\s*:|\s+[-–])\s*(?P<types>.*?))?\s*$"
    type_separator: str = r"\s*(?:[,;/+&]|\bog\b)\s*"

    @field_validator("summary_pattern")
    @classmethod
    def _summary(cls, value: str) -> str:
        return _regex(value, group="types")

    @field_validator("type_separator")
    @classmethod
    def _separator(cls, value: str) -> str:
        _regex(value)
        if re.compile(value).groups:
            raise ValueError("must not contain capturing groups; use (?:...)")
        if re.compile(value).match(""):
            raise ValueError("must not match the empty string")
        return value

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not c.strip() for c in value):
            raise ValueError("categories must not be empty strings")
        return value

    def summary_regex(self) -> re.Pattern[str]:
        return _compiled(self.summary_pattern)

    def separator_regex(self) -> re.Pattern[str]:
        return _compiled(self.type_separator)


class BusyRules(_Strict):
    """What in a caseworker's calendar blocks offers."""

    tentative_is_busy: bool = True
    all_day_is_busy: bool = True
    ignore_categories: tuple[str, ...] = ()


class ModeTexts(_Strict):
    in_person: str = ""
    phone: str = ""
    video: str = ""


class BookingRules(_Strict):
    """How a booked conversation looks in the caseworker's calendar (Danish, user-visible)."""

    title: str = "{type_title} (selvbooket) - {mode_label}"
    location: str = "{room_name}, {site_name}"
    description: str = "Selvbooket samtale via Jobnet.\nBookingreference: {booking_reference}"
    category: str = "Selvbook-booking"
    # A conversation staff booked on the citizen's behalf is not "selvbooket".
    staff_title: str = "{type_title} (booket af jobcentret) - {mode_label}"
    staff_description: str = (
        "Booket af jobcentret for borgeren.\nBookingreference: {booking_reference}"
    )
    show_citizen_name: bool = False
    citizen_name_line: str = "Borger: {citizen_name}"
    mode_labels: ModeTexts = ModeTexts(in_person="fremmøde", phone="telefon", video="video")
    mode_lines: ModeTexts = ModeTexts(
        phone="Samtalen foregår telefonisk: du ringer til borgeren.",
        video="Samtalen foregår som videomøde.",
    )
    # How to reach the citizen: through the case system, by the booking reference. Contact
    # details themselves only if the municipality turns them on (and the store has them).
    contact_line: str = (
        "Borgerens kontaktoplysninger står i sagssystemet: søg på {booking_reference}."
    )
    show_citizen_contact: bool = False
    citizen_contact_line: str = "Kontakt: {citizen_contact}"
    # The location while an in-person conversation has no room (the coordinator is told).
    room_missing: str = "Lokale mangler - koordinator er underrettet"
    # A reminder in the caseworker's calendar (VALARM on CalDAV, Outlook's reminder on
    # Exchange), set when the event is created.
    reminder: bool = True
    reminder_minutes: int = Field(15, ge=0, le=40320)

    @field_validator("title", "staff_title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return _template(value, TITLE_FIELDS)

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        return _template(value, LOCATION_FIELDS)

    @field_validator("description", "staff_description")
    @classmethod
    def _description(cls, value: str) -> str:
        return _template(value, DESCRIPTION_FIELDS)

    @field_validator("citizen_name_line")
    @classmethod
    def _citizen(cls, value: str) -> str:
        return _template(value, CITIZEN_FIELDS)

    @field_validator("contact_line")
    @classmethod
    def _contact(cls, value: str) -> str:
        return _template(value, CONTACT_FIELDS)

    @field_validator("citizen_contact_line")
    @classmethod
    def _citizen_contact(cls, value: str) -> str:
        return _template(value, CITIZEN_CONTACT_FIELDS)

    @model_validator(mode="after")
    def _labels(self) -> BookingRules:
        for mode in ("in_person", "phone", "video"):
            if not getattr(self.mode_labels, mode).strip():
                raise ValueError(f"mode_labels.{mode} must not be empty")
        return self


class Rules(_Strict):
    """All rules; ``Rules()`` equals the shipped ``default_rules.toml`` (a test keeps it so)."""

    windows: WindowRules = WindowRules()
    busy: BusyRules = BusyRules()
    booking: BookingRules = BookingRules()


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: tables merge key by key, everything else replaces."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML: {exc}") from None


def _validate(data: Mapping[str, Any], source: str) -> Rules:
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"{key}: {message}")
        raise RulesError(f"{source}: " + "; ".join(problems)) from None


def default_data() -> dict[str, Any]:
    """The shipped defaults as plain data (the package's only file read)."""
    text = Path(__file__).with_name("default_rules.toml").read_text("utf-8")
    return _parse_toml(text, "default_rules.toml")


@lru_cache(maxsize=1)
def default_rules() -> Rules:
    return _validate(default_data(), "default_rules.toml")


def rules_from_toml(text: str, *, source: str = "rules override") -> Rules:
    """The defaults with the TOML ``text`` merged over them."""
    return _validate(merge(default_data(), _parse_toml(text, source)), source)


def load_rules(override: str | os.PathLike[str] | None = None) -> Rules:
    """The defaults, with the municipality's TOML file at ``override`` merged over them."""
    if override is None:
        return default_rules()
    path = Path(override)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read rules file: {exc.strerror or exc}") from None
    return rules_from_toml(text, source=str(path))
