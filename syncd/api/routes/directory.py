"""The jobcentre's directory: conversation types, sites and caseworkers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from syncd.api.deps import ERRORS, Authed, QueryId, Rt
from syncd.api.schemas import CaseworkerOut, ConversationTypeOut, RoomOut, SiteOut

router = APIRouter()


@router.get(
    "/api/v1/conversation-types", response_model=list[ConversationTypeOut], responses=ERRORS
)
def conversation_types(_: Authed, rt: Rt) -> list[ConversationTypeOut]:
    """Conversation types a citizen can book: length, buffers, modes, room needs, notice and horizon."""
    return [
        ConversationTypeOut(
            code=t.code,
            title=t.title,
            minutes=t.minutes,
            buffer_before_minutes=t.buffer_before_minutes,
            buffer_after_minutes=t.buffer_after_minutes,
            modes=list(t.modes),
            min_room_capacity=t.min_room_capacity,
            required_features=sorted(t.required_features),
            min_notice_minutes=t.min_notice_minutes,
            horizon_days=t.horizon_days,
        )
        for t in rt.index.directory.conversation_types
    ]


@router.get("/api/v1/sites", response_model=list[SiteOut], responses=ERRORS)
def sites(_: Authed, rt: Rt) -> list[SiteOut]:
    """The jobcentre's sites (matrikler)."""
    return [SiteOut(id=s.id, name=s.name) for s in rt.index.directory.sites]


@router.get("/api/v1/caseworkers", response_model=list[CaseworkerOut], responses=ERRORS)
def caseworkers(
    _: Authed,
    rt: Rt,
    site: QueryId = None,
    type: Annotated[QueryId, Query(alias="type")] = None,
) -> list[CaseworkerOut]:
    """Caseworkers, optionally only those at a site or offering a conversation type."""
    return [
        CaseworkerOut(
            id=c.id,
            name=c.name,
            site_id=c.site_id,
            team=c.team,
            conversation_types=list(c.conversation_types),
        )
        for c in rt.index.directory.caseworkers
        if (site is None or site in c.sites) and (type is None or type in c.conversation_types)
    ]


@router.get("/api/v1/rooms", response_model=list[RoomOut], responses=ERRORS)
def rooms(_: Authed, rt: Rt, site: QueryId = None) -> list[RoomOut]:
    """Meeting rooms, optionally of one site: seats and features (e.g. `wheelchair`)."""
    return [
        RoomOut(
            id=r.id,
            site_id=r.site_id,
            name=r.name,
            capacity=r.capacity,
            features=sorted(r.features),
            floor=r.floor,
        )
        for r in rt.index.directory.rooms
        if site is None or r.site_id == site
    ]
