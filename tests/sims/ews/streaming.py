"""Streaming notifications (Subscribe with StreamingSubscriptionRequest, GetStreamingEvents).

Not simulated yet: the names are here so the server can route them once they are.
"""

from __future__ import annotations

from tests.sims.ews.store import Store

OPERATIONS: tuple[str, ...] = ()


class Streams:
    def __init__(self, store: Store) -> None:
        self.store = store

    def serve(self, handler, request) -> None:  # pragma: no cover - not routed yet
        raise NotImplementedError

    def close(self) -> None:
        pass
