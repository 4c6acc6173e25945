"""Logging set-up shared by every process: one line per record, level from settings."""

from __future__ import annotations

import logging


def configure(level: str, service: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s",
        force=True,
    )
