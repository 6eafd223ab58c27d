"""Entra ID group members over Graph, for the directory sync.

``GET /groups?$filter=mail eq '<address>'`` finds a group by its address (or the id is given),
then ``GET /groups/{id}/transitiveMembers/microsoft.graph.user`` lists its users, nested groups
included, paged by ``@odata.nextLink`` (https://learn.microsoft.com/graph/api/group-list-
transitivemembers; needs GroupMember.Read.All and User.ReadBasic.All)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from connectors.base import ConnectorError
from connectors.directory import Person
from connectors.graph_http import GraphRequest

if TYPE_CHECKING:
    from connectors.graph import GraphConnector

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
SELECT = "id,displayName,mail,userPrincipalName,department"


def _get_all(conn: GraphConnector, url: str) -> list[dict]:
    items: list[dict] = []
    next_url: str | None = url
    while next_url:
        response = conn.http.send(GraphRequest("GET", next_url, None))
        if not response.ok:
            raise ConnectorError(f"Graph: {next_url.split('?')[0]}: {response.describe()}")
        items.extend(response.body.get("value") or [])
        next_url = response.body.get("@odata.nextLink")
    return items


def group_id(conn: GraphConnector, group: str) -> str:
    if _GUID.match(group):
        return group
    flt = quote(f"mail eq '{group.replace(chr(39), chr(39) * 2)}'", safe="")
    found = _get_all(conn, f"/groups?$filter={flt}&$select=id,displayName,mail")
    if not found:
        raise ConnectorError(f"Graph: no group with the address {group}")
    return str(found[0]["id"])


def group_members(conn: GraphConnector, group: str) -> list[Person]:
    gid = group_id(conn, group)
    users = _get_all(
        conn, f"/groups/{gid}/transitiveMembers/microsoft.graph.user?$select={SELECT}&$top=999"
    )
    out = []
    for u in users:
        mail = str(u.get("mail") or u.get("userPrincipalName") or "").lower()
        if not mail:
            continue  # a user without a mailbox has no calendar to sync
        out.append(Person(mail, str(u.get("displayName") or mail), mail, mail, u.get("department")))
    return out
