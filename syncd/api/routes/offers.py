"""Free times a citizen can book."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from syncd.api.deps import OFFER_LINKS, Authed, QueryId, Rt, linked
from syncd.api.schemas import OfferOut, OffersOut
from syncd.domain.model import Mode
from syncd.inputs import moment_in_window
from syncd.store.errors import InvalidError
from syncd.store.offers import OfferQuery, find_offers

router = APIRouter()

# A moment with its UTC offset, within the years a jobcentre plans in.
Moment = Annotated[datetime, AfterValidator(moment_in_window)]


@router.get("/api/v1/offers", response_model=OffersOut, responses=linked(200, OFFER_LINKS))
def offers(
    who: Authed,
    rt: Rt,
    type: Annotated[QueryId, Query(alias="type", description="Conversation type code")] = None,
    mode: Annotated[list[Mode] | None, Query()] = None,
    from_: Annotated[Moment | None, Query(alias="from")] = None,
    to: Annotated[Moment | None, Query()] = None,
    caseworker: QueryId = None,
    site: QueryId = None,
    wheelchair: bool = False,
    strakstid: Annotated[
        bool, Query(description="Staff keys only: include held-back times")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> OffersOut:
    """Free times to book, soonest first. Without `from`/`to`: the next 42 days. `truncated` says more exist beyond `limit`. Each offer id is valid until the time is taken."""
    if type is not None and type not in rt.index.types:
        raise InvalidError(f"unknown conversation type {type!r}", code="unknown_type")
    now = rt.clock()
    start = _aware(from_, "from") if from_ else now
    end = _aware(to, "to") if to else now + timedelta(days=42)
    if end <= start:
        raise _invalid_range()
    if end - start > timedelta(days=366):
        raise _invalid_range("the period may be at most 366 days")
    q = OfferQuery(
        start=start,
        end=end,
        type_code=type,
        modes=tuple(mode) if mode else (Mode.IN_PERSON, Mode.PHONE, Mode.VIDEO),
        caseworker_id=caseworker,
        site_id=site,
        needs_wheelchair=wheelchair,
        include_strakstid=strakstid and who.staff,
        limit=limit + 1,
    )
    with rt.db.read() as s:
        found = find_offers(s, rt.index, q, now, rt.zone)
    return OffersOut(
        offers=[
            OfferOut(
                offer_id=o.offer_id,
                caseworker_id=o.caseworker_id,
                site_id=o.site_id,
                type=o.type_code,
                mode=o.mode,
                start=o.start,
                end=o.end,
                strakstid=o.strakstid,
            )
            for o in found[:limit]
        ],
        truncated=len(found) > limit,
    )


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidError(f"{name} must carry a UTC offset (e.g. 2026-12-01T09:00:00+01:00)")
    return value


def _invalid_range(message: str = "'to' must be after 'from'") -> Exception:
    return InvalidError(message, code="invalid_period")
