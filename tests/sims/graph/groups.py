"""Entra ID groups in the Graph simulator, for the directory sync: find a group by its mail
address and list its users, nested groups included.

- ``GET /groups?$filter=mail eq '...'`` (https://learn.microsoft.com/graph/api/group-list):
  the matching groups in ``value``.
- ``GET /groups/{id}/transitiveMembers/microsoft.graph.user``
  (https://learn.microsoft.com/graph/api/group-list-transitivemembers): the users among all
  members, nested groups expanded; server-paged with ``@odata.nextLink`` ($top up to 999).
- An unknown group id is 404 ``Request_ResourceNotFound`` (Entra's directory error code).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

_MAIL_FILTER = re.compile(r"^mail eq '((?:[^']|'')*)'$", re.I)
_MEMBERS = re.compile(r"^/groups/([^/]+)/transitiveMembers/microsoft\.graph\.user$")


@dataclass
class Group:
    mail: str
    name: str
    members: list[str] = field(default_factory=list)  # user addresses or group mails

    @property
    def id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "group:" + self.mail.lower()))


class Groups:
    def __init__(self) -> None:
        self.by_mail: dict[str, Group] = {}
        self.departments: dict[str, str] = {}  # user address -> department

    def add(self, mail: str, name: str, members: list[str]) -> Group:
        group = Group(mail.lower(), name, [m.lower() for m in members])
        self.by_mail[group.mail] = group
        return group

    def handles(self, path: str) -> bool:
        return path == "/groups" or path.startswith("/groups/")

    def dispatch(self, path: str, params: dict, users: dict) -> tuple[int, dict]:
        """``users``: address -> (display name); answers (status, body)."""
        if path == "/groups":
            match = _MAIL_FILTER.match(params.get("$filter", ""))
            if not match:
                return 400, _error("Request_UnsupportedQuery", "Unsupported query.")
            mail = match.group(1).replace("''", "'").lower()
            found = [g for g in self.by_mail.values() if g.mail == mail]
            return 200, {
                "value": [{"id": g.id, "displayName": g.name, "mail": g.mail} for g in found]
            }
        match = _MEMBERS.match(path)
        group = next((g for g in self.by_mail.values() if match and g.id == match.group(1)), None)
        if group is None:
            return 404, _error(
                "Request_ResourceNotFound",
                f"Resource '{match.group(1) if match else path}' does not exist.",
            )
        value = [
            {
                "@odata.type": "#microsoft.graph.user",
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, a)),
                "displayName": users.get(a, a.split("@")[0]),
                "mail": a,
                "userPrincipalName": a,
                "department": self.departments.get(a),
            }
            for a in self._users(group, set())
        ]
        top = min(int(params.get("$top", 100)), 999)
        skip = int(params.get("$skiptoken", 0))
        body: dict = {"value": value[skip : skip + top]}
        if skip + top < len(value):
            body["@odata.nextLink"] = (
                f"/groups/{group.id}/transitiveMembers/microsoft.graph.user?"
                f"$top={top}&$skiptoken={skip + top}&$select={quote(params.get('$select', ''))}"
            )
        return 200, body

    def _users(self, group: Group, seen: set[str]) -> list[str]:
        out: list[str] = []
        seen.add(group.mail)
        for member in group.members:
            nested = self.by_mail.get(member)
            if nested is not None:
                if nested.mail not in seen:
                    out += [u for u in self._users(nested, seen) if u not in out]
            elif member not in out:
                out.append(member)
        return out


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}
