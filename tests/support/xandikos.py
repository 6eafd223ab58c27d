"""The real Xandikos server for tests lives with the dev tools; tests import it from here."""

from syncd.devtools.xandikos import (  # noqa: F401
    XandikosServer,
    XandikosStartError,
    shared_xandikos,
    start_xandikos,
)
