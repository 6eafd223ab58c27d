"""The CalDAV backend of the contract suite on a second server: Xandikos.

Same connector, same backdoor, same tests as ``caldav`` (Radicale): like vdirsyncer's storage
suite, one suite runs against several servers, so nothing is tuned to one server's habits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tests.contract.backends import caldav
from tests.contract.harness import ContractEnv
from tests.support.xandikos import shared_xandikos

NAME = "caldav-xandikos"


@contextlib.contextmanager
def backend() -> Iterator[ContractEnv]:
    with caldav.backend(shared_xandikos()) as env:
        yield env
