"""One-line JSON log records; callers pass ids and statuses, never tokens or secrets."""

from __future__ import annotations

import json
import logging

logger = logging.getLogger("entra_saml_app")


def log(event: str, **fields: object) -> None:
    logger.info(json.dumps({"event": event, **fields}, default=str, separators=(",", ":")))


def warn(event: str, **fields: object) -> None:
    logger.warning(json.dumps({"event": event, **fields}, default=str, separators=(",", ":")))
