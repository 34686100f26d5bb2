"""Requests side by side: several proposals at once through one ``Foundry`` and through one ``toolfoundry serve``.

Each listener (each MCP client) must hear only its own request's events, the requests must really run
at the same time, every one must end in a terminal state, and the audit chain must verify afterwards.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import anyio
import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import TERMINAL, Candidate, Example, Outcome
from toolfoundry.pipeline import events
from toolfoundry.store.ledger import RequestRow

from conftest import run_cli
from surfaces.test_mcp_transport import home_with_add, http_client, http_server  # noqa: F401 (fixtures)


def shifter(i: int) -> str:
    return f'''"""Shift numbers."""


def shift_{i}(x: int) -> int:
    """x plus {i}."""
    return x + {i}
'''


def candidate(i: int) -> Candidate:
    return Candidate(code=shifter(i), examples=(Example(args={"x": 1}, expect=1 + i),))


def overlapping(foundry: Foundry, requests: list[Outcome] | list[RequestRow]) -> bool:
    """True when some request was opened before another one had closed: they ran at the same time."""
    spans = []
    for request in requests:
        rid = request.request_id if isinstance(request, Outcome) else request.id
        trail = {e.kind: e.ts for e in foundry.events(rid)}
        spans.append((trail["request.opened"], trail["request.closed"]))
    return any(a[0] < b[1] and b[0] < a[1] for a in spans for b in spans if a is not b)


@pytest.mark.parametrize("n", [2, 8])
def test_concurrent_proposals_through_one_foundry_each_hear_only_their_own(foundry: Foundry, n: int) -> None:
    heard: dict[int, list[events.Event]] = {i: [] for i in range(n)}
    outcomes: dict[int, Outcome] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def propose(i: int) -> None:
        try:
            start.wait()
            outcomes[i] = foundry.propose(candidate(i), on_event=heard[i].append)
        except BaseException as exc:  # reported below, with the thread's own failure
            errors.append(exc)

    threads = [threading.Thread(target=propose, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert sorted(outcomes) == list(range(n))
    for i, outcome in outcomes.items():
        assert outcome.status == "deployed", outcome.to_json()
        assert outcome.tool is not None and outcome.tool.name == f"shift_{i}"
        assert heard[i], f"request {i} heard nothing"
        assert {e.request_id for e in heard[i]} == {outcome.request_id}, "a listener heard another request"
        stages = [e.verdict.stage for e in heard[i] if isinstance(e, events.StageDone)]
        assert stages == ["contract", "checks", "tests", "oracle"]
        kinds = [e.kind for e in heard[i]]
        assert kinds[0] == "request.opened" and kinds[-1] == "request.closed"
        assert {"policy.decision", "pr.opened", "merge", "deploy"} <= set(kinds)
    assert overlapping(foundry, list(outcomes.values()))
    assert foundry.verify().ok
    assert all(row.status in TERMINAL for row in foundry.requests())
    assert foundry.call("shift_3" if n > 3 else "shift_1", x=10).ok


@pytest.mark.parametrize("n", [2, 8])
def test_concurrent_mcp_clients_of_one_server_each_get_only_their_own_progress(
        http_server: tuple[str, str], home_with_add: Path, n: int) -> None:  # noqa: F811
    url, token = http_server
    progress: dict[int, list[str]] = {i: [] for i in range(n)}
    results: dict[int, dict[str, object]] = {}

    async def one(i: int) -> None:
        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress[i].append(message or "")

        async with http_client(url, token, "legacy", None) as client:
            result = await client.call_tool("propose_tool", {
                "code": shifter(i), "examples": [{"args": {"x": 1}, "expect": 1 + i}]},
                progress_callback=on_progress)
            results[i] = json.loads(result.content[0].text)  # type: ignore[union-attr]

    async def all_at_once() -> None:
        async with anyio.create_task_group() as group:
            for i in range(n):
                group.start_soon(one, i)
    anyio.run(all_at_once)
    for i, body in results.items():
        assert body["status"] == "deployed", body
        assert body["tool"]["name"] == f"shift_{i}"  # type: ignore[index]
        assert progress[i], f"client {i} got no progress"
        assert all(p.startswith(f"{body['request_id']}: ") for p in progress[i]), progress[i]
        assert any("tests passed" in p for p in progress[i]) and any(f"deployed shift_{i} v1" in p for p in progress[i])
    assert len({body["request_id"] for body in results.values()}) == n
    verified = run_cli(home_with_add, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    with Foundry(home_with_add) as foundry:
        assert all(row.status in TERMINAL for row in foundry.requests())
        assert overlapping(foundry, [foundry.request_row(str(b["request_id"])) for b in results.values()])
