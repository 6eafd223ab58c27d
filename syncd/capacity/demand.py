"""Demand in, as counts only: how many citizens have their deadline (frist) in a week, per site,
optional team and conversation type, and the latest date the conversation may be held.

The case system's report is aggregated. Anything that looks like a person-level row (a name, CPR
or citizen column, or counts of one per row next to identifying columns) or a CPR number anywhere
is refused with an error that names the row and column: this table must never hold a person.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from mappings.privacy import contains_cpr

FIELDS = ("site", "team", "type", "deadline_week", "latest_date", "count")
REQUIRED = ("site", "type", "deadline_week", "latest_date", "count")
# Column names that only a person-level report has (Danish and English, lower case, no spaces).
PERSON_COLUMNS = frozenset(
    {
        "cpr",
        "cprnr",
        "cprnummer",
        "personnummer",
        "navn",
        "name",
        "fornavn",
        "efternavn",
        "firstname",
        "lastname",
        "fullname",
        "borger",
        "borgerid",
        "borgernavn",
        "citizen",
        "citizenid",
        "citizenref",
        "citizenname",
        "person",
        "personid",
        "adresse",
        "address",
        "email",
        "mail",
        "telefon",
        "phone",
        "fodselsdato",
        "birthdate",
        "dateofbirth",
        "sagsnummer",
        "casenumber",
        "caseid",
    }
)
# Aliases the case systems' reports use for our columns.
ALIASES = {
    "matrikel": "site",
    "site_id": "site",
    "afdeling": "site",
    "hold": "team",
    "samtaletype": "type",
    "type_code": "type",
    "conversation_type": "type",
    "fristuge": "deadline_week",
    "frist_uge": "deadline_week",
    "sidste_afholdelsesdato": "latest_date",
    "sidsteafholdelsesdato": "latest_date",
    "antal": "count",
    "antal_borgere": "count",
}
# A report where most rows count one citizen and the rows still carry more than our columns is
# a list of people in disguise.
SINGLE_ROW_SHARE = 0.8
MAX_COUNT = 100_000
_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


class DemandError(ValueError):
    """The demand is unusable or looks like person-level data; the message says where."""


@dataclass(frozen=True)
class DemandCount:
    """Citizens of one site (and team) with their deadline in one ISO week, for one type."""

    site_id: str
    type_code: str
    deadline_week: date  # the Monday of the ISO week
    latest_date: date  # SidsteAfholdelsesdato: the conversation must be held by then
    count: int
    team: str | None = None

    @property
    def margin_days(self) -> int:
        """Days from the end of the deadline week (Friday) to the latest date. Each citizen
        is taken to have the same margin from her own deadline to her own latest date."""
        return max(0, (self.latest_date - self.deadline_week).days - 4)

    @property
    def week_label(self) -> str:
        iso = self.deadline_week.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def parse_week(value: str) -> date:
    """'2027-W07', '2027W7' or any date inside the week -> that week's Monday."""
    text = value.strip()
    m = _WEEK.match(text)
    if m:
        try:
            return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            raise ValueError(f"no such ISO week {text!r}") from None
    try:
        return monday_of(date.fromisoformat(text))
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO week (2027-W07) nor a date") from None


def _norm(column: str) -> str:
    key = re.sub(r"[\s\-.]+", "_", column.strip().lower())
    key = key.replace("ø", "o").replace("æ", "ae").replace("å", "aa")
    return ALIASES.get(key, key)


def _person_column(column: str) -> bool:
    key = re.sub(r"[^a-z]", "", _norm(column))
    return key in PERSON_COLUMNS or any(
        key.startswith(p) for p in ("cpr", "borger", "citizen", "person")
    )


def check_columns(columns: Iterable[str], where: str = "") -> list[str]:
    """Our names for ``columns``; refuses person-level and unknown ones, and missing ones."""
    at = f"{where}: " if where else ""
    names = []
    for col in columns:
        if _person_column(col):
            raise DemandError(
                f"{at}column {col!r} looks like person-level data; only counts per site, "
                "type and deadline week are accepted"
            )
        name = _norm(col)
        if name not in FIELDS:
            raise DemandError(
                f"{at}unknown column {col!r}; expected {', '.join(FIELDS)} (team is optional)"
            )
        names.append(name)
    missing = [f for f in REQUIRED if f not in names]
    if missing:
        raise DemandError(f"{at}missing column(s): {', '.join(missing)}")
    return names


def parse_rows(
    rows: Iterable[Mapping[str, object]],
    *,
    sites: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    where: str = "row",
    first_row: int = 1,
) -> list[DemandCount]:
    """Validate aggregated rows (CSV rows or JSON objects). Every problem names its row and
    column; rows for the same site, team, type and week are added up. A CPR number anywhere,
    or a report that is one citizen per row, refuses the whole input."""
    known_sites = set(sites) if sites is not None else None
    known_types = set(types) if types is not None else None
    items: list[tuple[int, dict[str, object]]] = []
    columns: set[str] = set()
    for n, raw in enumerate(rows, start=first_row):
        for col, value in raw.items():
            if value is not None and contains_cpr(str(value)):
                raise DemandError(
                    f"{where} {n}, column {col!r}: contains a CPR number; demand must be counts "
                    "only, never people"
                )
            if contains_cpr(str(col)):
                raise DemandError(f"{where} {n}: a column name contains a CPR number")
        columns.update(raw.keys())
        items.append((n, dict(raw)))
    if not items:
        return []
    names = dict(zip(sorted(columns), check_columns(sorted(columns), where="demand"), strict=True))
    errors: list[str] = []
    totals: dict[tuple[str, str | None, str, date], DemandCount] = {}
    singles = 0
    for n, raw in items:
        row = {names[k]: v for k, v in raw.items()}
        try:
            item = _one(row, known_sites, known_types)
        except ValueError as exc:
            errors.append(f"{where} {n}, {exc}")
            continue
        singles += item.count == 1
        key = (item.site_id, item.team, item.type_code, item.deadline_week)
        if key in totals:
            old = totals[key]
            item = DemandCount(
                item.site_id,
                item.type_code,
                item.deadline_week,
                max(old.latest_date, item.latest_date),
                old.count + item.count,
                item.team,
            )
        totals[key] = item
    if errors:
        raise DemandError("; ".join(errors[:20]) + (" ..." if len(errors) > 20 else ""))
    if len(items) >= 5 and singles / len(items) >= SINGLE_ROW_SHARE and len(items) > len(totals):
        raise DemandError(
            f"{singles} of {len(items)} rows count a single citizen and rows repeat the same "
            "site, type and week: this looks like a list of people; send one row per site, "
            "team, type and deadline week with the number of citizens"
        )
    return sorted(
        totals.values(), key=lambda d: (d.deadline_week, d.site_id, d.type_code, d.team or "")
    )


def csv_rows(text: str) -> list[dict[str, object]]:
    """Rows of a CSV report (``;`` or ``,``, with or without a BOM), as ``parse_rows`` takes
    them. The first line names the columns."""
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows = []
    for raw in reader:
        if None in raw:
            raise DemandError(f"line {reader.line_num}: more cells than columns")
        if any(v not in (None, "") for v in raw.values()):
            rows.append({k: v for k, v in raw.items() if k is not None})
    return rows


def _text(row: Mapping[str, object], name: str) -> str:
    value = row.get(name)
    return "" if value is None else str(value).strip()


def _one(row: Mapping[str, object], sites: set[str] | None, types: set[str] | None) -> DemandCount:
    site, ctype, team = _text(row, "site"), _text(row, "type"), _text(row, "team") or None
    if not site:
        raise ValueError("column 'site': empty")
    if sites is not None and site not in sites:
        raise ValueError(f"column 'site': unknown site {site!r}")
    if not ctype:
        raise ValueError("column 'type': empty")
    if types is not None and ctype not in types:
        raise ValueError(f"column 'type': unknown conversation type {ctype!r}")
    try:
        week = parse_week(_text(row, "deadline_week"))
    except ValueError as exc:
        raise ValueError(f"column 'deadline_week': {exc}") from None
    try:
        latest = date.fromisoformat(_text(row, "latest_date"))
    except ValueError:
        raise ValueError(
            f"column 'latest_date': {_text(row, 'latest_date')!r} is not a date (YYYY-MM-DD)"
        ) from None
    if latest < week:
        raise ValueError("column 'latest_date': before the deadline week")
    raw_count = row.get("count")
    try:
        if isinstance(raw_count, bool) or raw_count is None:
            raise ValueError
        count = int(str(raw_count).strip())
    except ValueError:
        raise ValueError(f"column 'count': {raw_count!r} is not a whole number") from None
    if not 0 <= count <= MAX_COUNT:
        raise ValueError(f"column 'count': {count} is outside 0..{MAX_COUNT}")
    return DemandCount(site, ctype, week, latest, count, team)
