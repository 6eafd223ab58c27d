"""A tiny jobcentre for store and API tests (Story 1: Mette's Tuesday window in Lilleby)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from syncd.config import Config, hash_api_key, parse_config

CPH = ZoneInfo("Europe/Copenhagen")
# Tuesday 1 December 2026; "now" is the Monday before, 08:00 local.
TUESDAY = datetime(2026, 12, 1, tzinfo=CPH).date()
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=CPH).astimezone(UTC)
API_KEY = "test-key-jobnet-0123456789abcdef"
STAFF_KEY = "test-key-staff-0123456789abcdef"
OTHER_KEY = "test-key-other-0123456789abcdef"  # a second booking client


def at(day_offset: int, hh: int, mm: int = 0) -> datetime:
    """Local time on TUESDAY + day_offset."""
    d = TUESDAY + timedelta(days=day_offset)
    return datetime(d.year, d.month, d.day, hh, mm, tzinfo=CPH)


def config(database_url: str, **extra: object) -> Config:
    data: dict[str, object] = {
        "database_url": database_url,
        "api": {
            "keys": [
                {"name": "jobnet", "hash": hash_api_key(API_KEY)},
                {"name": "other", "hash": hash_api_key(OTHER_KEY)},
                {
                    "name": "jobcenter",
                    "hash": hash_api_key(STAFF_KEY),
                    "scopes": ["booking", "staff"],
                    "books_as": "staff",
                },
            ]
        },
        "sites": [{"id": "lilleby", "name": "Jobcenter Lilleby"}],
        "rooms": [
            {"id": "L1", "site": "lilleby", "name": "Mødelokale L1", "capacity": 2},
            {"id": "L2", "site": "lilleby", "name": "Mødelokale L2", "capacity": 2},
            {
                "id": "L9",
                "site": "lilleby",
                "name": "Mødelokale L9",
                "capacity": 6,
                "features": ["wheelchair"],
            },
        ],
        "conversation_types": [
            {
                "code": "jobsamtale",
                "title": "Jobsamtale",
                "minutes": 30,
                "buffer_after_minutes": 10,
            },
            {
                "code": "faellessamtale",
                "title": "Fællessamtale med a-kassen",
                "minutes": 60,
                "buffer_after_minutes": 15,
                "modes": ["in_person", "video"],
                "min_room_capacity": 3,
            },
        ],
        "caseworkers": [
            {
                "id": "mette",
                "name": "Mette Hansen",
                "site": "lilleby",
                "team": "Dagpenge",
                "weekly_cap": 12,
            },
            {"id": "lars", "name": "Lars Jensen", "site": "lilleby", "team": "Dagpenge"},
            {"id": "pia", "name": "Pia Olsen", "site": "lilleby", "team": "Sygedagpenge"},
        ],
    }
    data.update(extra)
    return parse_config(data)
