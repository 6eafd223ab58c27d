"""Demand comes in as counts only: person-level data is refused, naming the row and column."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.capacity.demand import DemandCount, DemandError, parse_rows, parse_week


def row(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "site": "lilleby",
        "type": "jobsamtale",
        "deadline_week": "2027-W07",
        "latest_date": "2027-02-26",
        "count": 14,
    }
    base.update(kw)
    return base


def test_counts_are_parsed_and_summed_per_site_team_type_and_week() -> None:
    out = parse_rows([row(), row(count="6"), row(team="Unge", count=3)])
    assert out == [
        DemandCount("lilleby", "jobsamtale", date(2027, 2, 15), date(2027, 2, 26), 20),
        DemandCount("lilleby", "jobsamtale", date(2027, 2, 15), date(2027, 2, 26), 3, "Unge"),
    ]


def test_danish_column_names_from_the_case_system_are_understood() -> None:
    out = parse_rows(
        [
            {
                "Matrikel": "lilleby",
                "Samtaletype": "jobsamtale",
                "Fristuge": "2027-02-17",
                "Sidste afholdelsesdato": "2027-02-26",
                "Antal": "9",
            }
        ]
    )
    assert out[0].count == 9 and out[0].deadline_week == date(2027, 2, 15)


@pytest.mark.parametrize("column", ["CPR", "cpr_nr", "Navn", "Borger", "citizen_ref", "E-mail"])
def test_a_person_level_column_is_refused_by_name(column: str) -> None:
    with pytest.raises(DemandError, match=f"column '{column}' looks like person-level data"):
        parse_rows([{**row(), column: "x"}])


def test_a_cpr_number_anywhere_is_refused_with_row_and_column() -> None:
    rows = [row(), row(), row(team="Team 010190-1234")]
    with pytest.raises(DemandError, match=r"row 3, column 'team': contains a CPR number"):
        parse_rows(rows)


def test_one_citizen_per_row_is_refused_as_a_list_of_people() -> None:
    rows = [row(count=1) for _ in range(8)]
    with pytest.raises(DemandError, match="looks like a list of people"):
        parse_rows(rows)


def test_small_honest_counts_of_one_are_accepted() -> None:
    rows = [
        row(deadline_week=f"2027-W{w:02d}", latest_date="2027-04-30", count=1) for w in range(3, 11)
    ]
    assert len(parse_rows(rows)) == 8


def test_every_bad_cell_is_named() -> None:
    with pytest.raises(DemandError) as err:
        parse_rows(
            [row(count="mange"), row(deadline_week="uge 7"), row(site="ukendt")],
            sites=["lilleby"],
        )
    text = str(err.value)
    assert "row 1, column 'count'" in text
    assert "row 2, column 'deadline_week'" in text
    assert "row 3, column 'site': unknown site 'ukendt'" in text


def test_missing_and_unknown_columns_are_refused() -> None:
    with pytest.raises(DemandError, match="missing column"):
        parse_rows([{"site": "x", "type": "y", "count": 1}])
    with pytest.raises(DemandError, match="unknown column 'farve'"):
        parse_rows([{**row(), "farve": "blå"}])


def test_weeks() -> None:
    assert parse_week("2027-W7") == date(2027, 2, 15)
    assert parse_week("2027W07") == date(2027, 2, 15)
    with pytest.raises(ValueError):
        parse_week("2027-W60")


cpr = st.builds(
    lambda d, m, y, n, sep: f"{d:02d}{m:02d}{y:02d}{sep}{n:04d}",
    st.integers(1, 28),
    st.integers(1, 12),
    st.integers(0, 99),
    st.integers(0, 9999),
    st.sampled_from(["", "-", " "]),
)


@given(
    cpr=cpr,
    column=st.sampled_from(["site", "type", "team", "latest_date", "count", "deadline_week"]),
    prefix=st.text(alphabet="abc ", max_size=4),
    at=st.integers(0, 4),
)
def test_property_a_cpr_number_in_any_cell_of_any_row_is_refused(
    cpr: str, column: str, prefix: str, at: int
) -> None:
    rows = [row(count=n + 2) for n in range(5)]
    rows[at][column] = prefix + cpr
    with pytest.raises(DemandError, match=f"row {at + 1}, column '{column}'"):
        parse_rows(rows)


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 500)), min_size=1))
def test_property_counts_are_never_lost_or_invented(items: list[tuple[str, int]]) -> None:
    rows = [row(site=s, count=n) for s, n in items]
    try:
        out = parse_rows(rows)
    except DemandError as exc:  # only refusal allowed: many rows of exactly one
        assert "list of people" in str(exc)
        return
    assert sum(d.count for d in out) == sum(n for _, n in items)
