"""Entry point for API worker processes (``api.workers > 1``): each worker opens its own
runtime from the configuration file named in $SYNCD_CONFIG."""

from __future__ import annotations

from fastapi import FastAPI

from syncd.config import load_config


def app() -> FastAPI:
    from syncd.api.app import create_app
    from syncd.daemon import open_from_config, settle_heap
    from syncd.logs import configure_logging

    config = load_config()
    configure_logging(config.log_level, config.log_format)
    built = create_app(open_from_config(config))
    settle_heap()
    return built
