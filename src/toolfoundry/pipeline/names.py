"""The names the pipeline's workflows go by: the configured instance, the queue, request and delivery ids.

Kept apart from ``workflow.py`` so that code which only names a workflow (the CLI, settling, a client)
does not import DBOS.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

_REQUEST_ID = re.compile(r"\d{14}-[0-9a-f]{6}(?![0-9a-f])")

INSTANCE = "toolfoundry"
"""The configured instance's name, recorded with every workflow: the same in every process of a home."""
CLASS_NAME = "toolfoundry.Pipeline"
"""The DBOS class name of the pipeline (what a client names when it enqueues a workflow)."""
QUEUE = "requests"
"""The queue request workflows run from, partitioned by requester."""
SANDBOX_QUEUE = "sandbox"
"""A cluster's queue of validations (contract, checks, tests, oracle of one candidate)."""
FORGE_QUEUE = "forge"
"""A cluster's queue of what writes the tool repository (pull requests, deliveries): the forge node's, one at a time."""
MODELS_QUEUE = "models"
"""A cluster's queue of model calls, rate-limited across the cluster."""


def new_request_id() -> str:
    """A sortable, readable, unique request id (also its workflow id): ``YYYYmmddHHMMSS-xxxxxx``."""
    return f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def deliver_id(request_id: str) -> str:
    """The workflow id of a request's delivery (deterministic: a second approval cannot deliver twice)."""
    return f"{request_id}.deliver"


def request_of(workflow_id: str) -> str:
    """The request a workflow belongs to: its own id, the id before ``.deliver``, or its parent's (a child
    workflow of a cluster's queues is ``<parent id>-<n>``)."""
    found = _REQUEST_ID.match(workflow_id)
    return found.group(0) if found else workflow_id.removesuffix(".deliver")

