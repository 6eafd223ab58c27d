"""Planning helpers: names told apart, natural room order, the grid's filters, and a block's
dry run that changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from syncd.domain.model import Caseworker
from syncd.store import planning
from syncd.store.directory import caseworker_labels, natural_key
from syncd.store.tables import AuditRow, RoomBlockRow
from tests.support.jobcentre import TUESDAY, at
from tests.web.helpers import book, coordination, open_tuesday, room_of


def test_namesakes_are_told_apart_by_team_or_initials():
    labels = caseworker_labels(
        [
            Caseworker("tima", "Tina Madsen", "s", team="Dagpenge"),
            Caseworker("tmad", "Tina Madsen", "s", team="Sygedagpenge"),
            Caseworker("tm2", "Tina Madsen", "s", team="Sygedagpenge"),
            Caseworker("bo", "Bo Berg", "s", team="Dagpenge"),
        ]
    )
    assert labels == {
        "tima": "Tina Madsen (Dagpenge)",
        "tmad": "Tina Madsen (tmad)",
        "tm2": "Tina Madsen (tm2)",
        "bo": "Bo Berg",
    }


def test_rooms_sort_naturally():
    names = ["L10", "L2", "L1", "Kantine", "l3"]
    assert sorted(names, key=natural_key) == ["Kantine", "L1", "L2", "l3", "L10"]


def test_grid_filters_and_search(rt):
    open_tuesday(rt)
    talks = {cw: book(rt, cw, at(0, 9)) for cw in ("mette", "lars", "pia")}
    days = [TUESDAY]

    def refs(**kw):
        with rt.db.read() as s:
            g = planning.grid(s, rt.index, "lilleby", days, rt.zone, planning.Filters(**kw))
        return sorted(c.reference for r in g.rows for c in r.cells[TUESDAY].conversations)

    assert len(refs()) == 3
    assert refs(team="Sygedagpenge") == [talks["pia"].reference]
    assert refs(q="lars j") == [talks["lars"].reference]
    assert refs(q=talks["mette"].reference.lower()) == [talks["mette"].reference]
    wheelchair = [t.reference for t in talks.values() if t.room_id == "L9"]
    assert refs(feature="wheelchair") == wheelchair
    assert refs(mode="phone") == []


def test_block_dry_run_changes_nothing(rt):
    open_tuesday(rt, "mette")
    talk = book(rt, "mette", at(0, 9))
    with rt.db.read() as s:
        audits = s.scalar(select(func.count()).select_from(AuditRow))
    changes = coordination(rt).block_periods(
        talk.room_id, [(at(0, 8), at(0, 12))], actor="t", reason="x", dry_run=True
    )
    assert [r.reference for c in changes for r in c.rehoused] == [talk.reference]
    assert room_of(rt, talk.id) == talk.room_id
    with rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(RoomBlockRow)) == 0
        assert s.scalar(select(func.count()).select_from(AuditRow)) == audits


def test_room_search_matches_whole_words_not_substrings():
    from syncd.domain.model import Room

    l1 = Room("L1", "s", "Mødelokale L1", 4)
    l10 = Room("L10", "s", "Mødelokale L10", 4)
    assert planning.room_matches("l1", l1)
    assert not planning.room_matches("l1", l10)
    assert planning.room_matches("L10", l10)
    assert planning.room_matches("mødelokale l10", l10)
    assert not planning.room_matches("lokale", l10)
