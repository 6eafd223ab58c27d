"""Citizens booking one site's times, day by day, in many runs at once.

A citizen takes the day she wants if any caseworker offering her type has room then, else the
nearest later day that week, else an earlier day that week, else a later week up to her latest
date; among the caseworkers with room she lands on one at random (weighted by their free
time), as a citizen picking from a list of offers would. Nothing is reserved per type, so a
common type eats into the time of caseworkers who also offer a rarer one. A citizen who finds
nothing by her latest date is left without a time. Early cancellations give the time back.

Caseworkers are grouped by the set of types they offer (``Pool``): the groups' free minutes per
day are the state; all runs advance together, one request per step, vectorised over runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BOOK, RELEASE = 1, 0
FORWARD, BACKWARD, LATER = 7, 7, 14  # days looked at in each direction
NEVER = np.iinfo(np.int64).max // 4


@dataclass
class Requests:
    """Booking actions of one site's citizens, (runs, n) each; inactive entries are masked."""

    day: list[np.ndarray]  # the day the action happens (ordinal)
    kind: list[np.ndarray]  # BOOK or RELEASE
    type_index: list[np.ndarray]
    wanted: list[np.ndarray]  # BOOK: the day she wants
    latest: list[np.ndarray]  # BOOK: her latest date
    active: list[np.ndarray]
    frees: list[np.ndarray]  # RELEASE: global index of the BOOK whose time it frees, else -1
    size: int = 0

    @classmethod
    def empty(cls) -> Requests:
        return cls([], [], [], [], [], [], [])

    def add(
        self,
        *,
        day: np.ndarray,
        kind: int,
        type_index: int,
        active: np.ndarray,
        wanted: np.ndarray | None = None,
        latest: np.ndarray | None = None,
        frees: np.ndarray | None = None,
    ) -> np.ndarray:
        """Add a block of actions; returns their global indices (runs, n)."""
        runs, n = day.shape
        zeros = np.zeros_like(day)
        self.day.append(day)
        self.kind.append(np.full((runs, n), kind, dtype=np.int8))
        self.type_index.append(np.full((runs, n), type_index, dtype=np.int16))
        self.wanted.append(wanted if wanted is not None else zeros)
        self.latest.append(latest if latest is not None else zeros)
        self.active.append(active)
        self.frees.append(frees if frees is not None else np.full((runs, n), -1))
        index = self.size + np.broadcast_to(np.arange(n), (runs, n))
        self.size += n
        return index


FIELDS = ("day", "kind", "type_index", "wanted", "latest", "active", "frees")


def batch(requests: Requests, runs: int) -> dict[str, np.ndarray]:
    """The requests as one (runs, n) array per field."""
    if not requests.size:
        return {
            name: np.zeros((runs, 0), dtype=bool if name == "active" else np.int64)
            for name in FIELDS
        }
    return {name: np.concatenate(getattr(requests, name), axis=1) for name in FIELDS}


def stack(batches: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Independent batches (e.g. sites) as one: rows on top of each other, padded with
    inactive requests, so one loop plays them all. No batches (a fresh store: no site has
    capacity or demand yet) is no requests."""
    if not batches:
        return {
            name: np.zeros((0, 0), dtype=bool if name == "active" else np.int64) for name in FIELDS
        }
    width = max((b["day"].shape[1] for b in batches), default=0)
    out = {}
    for name in FIELDS:
        parts = []
        for b in batches:
            a = b[name]
            pad = width - a.shape[1]
            fill = -1 if name == "frees" else 0
            parts.append(np.pad(a, ((0, 0), (0, pad)), constant_values=fill) if pad else a)
        out[name] = np.concatenate(parts, axis=0)
    return out


def run(
    cat: dict[str, np.ndarray],
    groups: Sequence[frozenset[int]],
    free: np.ndarray,
    steps: Sequence[int],
    axis0: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Play the requests (``batch``/``stack``) against ``free`` (rows, groups, days) minutes,
    changed in place. Returns a mask of the BOOK requests that found no time."""
    runs, total = cat["day"].shape
    if not total:
        return np.zeros((runs, 0), dtype=bool)
    ndays = free.shape[2]
    # Per run: in day order, releases before bookings on the same day, inactive last.
    key = np.where(cat["active"], cat["day"] * 2 + cat["kind"], NEVER)
    order = np.argsort(key, axis=1, kind="stable")
    steps_needed = int(cat["active"].sum(axis=1).max())
    col = {k: np.take_along_axis(v, order, axis=1) for k, v in cat.items()}
    offers = np.array(
        [[t in g for g in groups] for t in range(len(steps))], dtype=bool
    )  # (types, groups)
    step_of = np.asarray(steps, dtype=np.int64)
    chosen_group = np.full((runs, total), -1, dtype=np.int64)
    chosen_day = np.zeros((runs, total), dtype=np.int64)
    unserved = np.zeros((runs, total), dtype=bool)
    rows = np.arange(runs)
    fwd = np.arange(FORWARD)
    back = np.arange(1, BACKWARD + 1)
    later = np.arange(LATER)
    ngroups = free.shape[1]
    for j in range(steps_needed):
        act = col["active"][:, j]
        kind = col["kind"][:, j]
        released = act & (kind == RELEASE)
        if released.any():
            r = rows[released]
            ref = col["frees"][r, j]
            g = chosen_group[r, ref]
            ok = g >= 0
            r, ref, g = r[ok], ref[ok], g[ok]
            t = col["type_index"][r, j]
            np.add.at(free, (r, g, chosen_day[r, ref]), step_of[t])
        booking = act & (kind == BOOK)
        if not booking.any():
            continue
        r = rows[booking]
        t = col["type_index"][r, j]
        made = col["day"][r, j]
        latest = col["latest"][r, j]
        want = np.maximum(col["wanted"][r, j], made + 1)
        monday = want - (want - 1) % 7  # ordinal 1 is a Monday
        cand = np.concatenate(
            [
                want[:, None] + fwd[None, :],
                want[:, None] - back[None, :],
                monday[:, None] + 7 + later[None, :],
            ],
            axis=1,
        )
        valid = (cand > made[:, None]) & (cand <= latest[:, None])
        valid[:, :FORWARD] &= cand[:, :FORWARD] < monday[:, None] + 7
        valid[:, FORWARD : FORWARD + BACKWARD] &= (
            cand[:, FORWARD : FORWARD + BACKWARD] >= monday[:, None]
        )
        idx = cand - axis0
        valid &= (idx >= 0) & (idx < ndays)
        idx = np.clip(idx, 0, ndays - 1)
        room = free[r[:, None, None], np.arange(ngroups)[None, :, None], idx[:, None, :]]
        fits = (room >= step_of[t][:, None, None]) & offers[t][:, :, None] & valid[:, None, :]
        any_group = fits.any(axis=1)  # (n, candidates)
        first = np.argmax(any_group, axis=1)
        found = any_group[np.arange(len(r)), first]
        unserved[r[~found], col_index(order, r[~found], j)] = True
        if not found.any():
            continue
        r, first, t = r[found], first[found], t[found]
        sel = np.nonzero(found)[0]
        weights = np.where(fits[sel, :, first], room[sel, :, first], 0).astype(float)
        cum = np.cumsum(weights, axis=1)
        pick = (cum < rng.random(len(r))[:, None] * cum[:, -1:]).sum(axis=1)
        pick = np.minimum(pick, ngroups - 1)
        day_index = idx[sel, first]
        free[r, pick, day_index] -= step_of[t]
        orig = order[r, j]
        chosen_group[r, orig] = pick
        chosen_day[r, orig] = day_index
    return unserved


def col_index(order: np.ndarray, r: np.ndarray, j: int) -> np.ndarray:
    """Original positions of the j-th action in rows ``r``."""
    return order[r, j]
