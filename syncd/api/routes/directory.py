"""The jobcentre's directory: conversation types, sites and caseworkers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from syncd.api.deps import ERRORS, Authed, QueryId, Rt
from syncd.api.schemas import CaseworkerOut, ConversationTypeOut, SiteOut

router = APIRouter()


@router.get(
    "/api/v1/conversation-types", response_model=list[ConversationTypeOut], responses=ERRORS
)
def conversation_types(_: Authed, rt: Rt) -> list[ConversationTypeOut]:
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
    return [SiteOut(id=s.id, name=s.name) for s in rt.index.directory.sites]


@router.get("/api/v1/caseworkers", response_model=list[CaseworkerOut], responses=ERRORS)
def caseworkers(
    _: Authed,
    rt: Rt,
    site: QueryId = None,
    type: Annotated[QueryId, Query(alias="type")] = None,
) -> list[CaseworkerOut]:
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
