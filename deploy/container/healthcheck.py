"""Container health check: exit 0 when syncd answers its health URL with 200, else 1.

Standard library only, since the slim image has no curl. Proxies from the environment are
ignored: the daemon is asked on the loopback interface, never through a proxy.

    SYNCD_HEALTH_URL      default http://127.0.0.1:8080/healthz
    SYNCD_HEALTH_TIMEOUT  seconds, default 4
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8080/healthz"


def check(url: str, timeout: float) -> tuple[bool, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:  # refused, timed out, bad URL
        return False, f"{exc.__class__.__name__}: {exc}"


def main() -> int:
    url = os.environ.get("SYNCD_HEALTH_URL", DEFAULT_URL)
    try:
        timeout = float(os.environ.get("SYNCD_HEALTH_TIMEOUT", "4"))
    except ValueError:
        timeout = 4.0
    healthy, detail = check(url, timeout)
    if not healthy:
        print(f"unhealthy: {url}: {detail}", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
