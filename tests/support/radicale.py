"""The real Radicale server for tests lives with the dev tools (the demo and the benchmarks use
it too); tests import it from here."""

from syncd.devtools.radicale import (  # noqa: F401
    RadicaleServer,
    RadicaleStartError,
    running_radicale,
    shared_radicale,
    start_radicale,
)
