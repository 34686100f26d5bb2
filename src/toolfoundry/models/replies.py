"""Reading what models write: the JSON objects in a reply, wherever they sit in it.

Models wrap what they were asked for in prose, in fenced blocks, or in both. The stages that read
replies (a spec and code in ``stages/generate.py``, votes in ``stages/review.py``) find their JSON here.
No I/O; nothing here raises on anything a model writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from toolfoundry.core import JSON
from toolfoundry.jsonlimits import depth_problem

MAX_SCAN = 50_000
"""Characters of a reply searched for JSON objects."""


def json_objects(text: str) -> Iterator[dict[str, JSON]]:
    """Every JSON object in ``text`` (within its first ``MAX_SCAN`` characters), in order of where it starts;
    an object that does not parse is skipped, and the search goes on from its next ``{``."""
    decoder = json.JSONDecoder()
    text = text[:MAX_SCAN]
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            value, end = None, start + 1
        if isinstance(value, dict) and depth_problem(value) is None:  # a deeper one is no answer
            yield value
            start = text.find("{", end)
        else:
            start = text.find("{", start + 1)
