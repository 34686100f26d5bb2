"""The names the pipeline's workflows go by: the configured instance, the queue, request and delivery ids.

Kept apart from ``workflow.py`` so that code which only names a workflow (the CLI, settling, a client)
does not import DBOS.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

INSTANCE = "toolfoundry"
"""The configured instance's name, recorded with every workflow: the same in every process of a home."""
QUEUE = "requests"
"""The queue request workflows run from."""


def new_request_id() -> str:
    """A sortable, readable, unique request id (also its workflow id): ``YYYYmmddHHMMSS-xxxxxx``."""
    return f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def deliver_id(request_id: str) -> str:
    """The workflow id of a request's delivery (deterministic: a second approval cannot deliver twice)."""
    return f"{request_id}.deliver"
