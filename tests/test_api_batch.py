"""``Foundry.propose_many``: many candidates at once through the real pipeline, outcomes in the order given."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example
from toolfoundry.errors import UsageError
from toolfoundry.pipeline import events

from conftest import ADD, make_settings

ADD_EXAMPLES = (Example(args={"a": 1, "b": 2}, expect=3),)


def square(name: str, factor: int = 1) -> Candidate:
    code = (f'"""Squares."""\n\n\ndef {name}(x: int) -> int:\n    """{factor} times x times x."""\n'
            f'    return {factor} * x * x\n')
    return Candidate(code=code, examples=(Example(args={"x": 3}, expect=9 * factor),))


@pytest.fixture
def two_at_once(home: Path) -> Path:
    (home / "toolfoundry.toml").write_text("[pipeline]\nconcurrency = 2\n", encoding="utf-8")
    return home


def test_outcomes_come_back_in_the_order_given_and_each_request_is_heard(two_at_once: Path) -> None:
    heard: list[events.Event] = []
    candidates = [square("square"), Candidate(code=ADD.replace("a + b", "a - b"), examples=ADD_EXAMPLES),
                  square("cube_ish", 2), Candidate(code=ADD.replace("def add", "def plus"))]
    with Foundry(make_settings(two_at_once)) as foundry:
        outcomes = foundry.propose_many(candidates, jobs=2, on_event=heard.append)
        assert [o.status for o in outcomes] == ["deployed", "rejected", "deployed", "pending_review"]
        assert [o.tool.name if o.tool else None for o in outcomes] == ["square", None, "cube_ish", "plus"]
        assert {e.request_id for e in heard} == {o.request_id for o in outcomes}
        closed = [e.request_id for e in heard if isinstance(e, events.Closed | events.ReviewRequested)]
        assert sorted(closed) == sorted(o.request_id for o in outcomes)
        assert sorted(t.ref.name for t in foundry.tools()) == ["cube_ish", "square"]
        assert foundry.call("cube_ish", x=2).result == 8


def test_jobs_requests_run_at_the_same_time(two_at_once: Path) -> None:
    order: list[tuple[str, str]] = []
    with Foundry(make_settings(two_at_once)) as foundry:
        outcomes = foundry.propose_many([square("first"), square("second")], jobs=2,
                                        on_event=lambda e: order.append((e.request_id, e.kind)))
    first, second = (o.request_id for o in outcomes)
    opened = {rid: order.index((rid, "request.opened")) for rid in (first, second)}
    ended = {rid: order.index((rid, "request.closed")) for rid in (first, second)}
    assert max(opened.values()) < min(ended.values()), order  # both had started before either ended


def test_one_job_runs_them_one_after_the_other_in_order(home: Path) -> None:
    order: list[tuple[str, str]] = []
    with Foundry(make_settings(home)) as foundry:
        outcomes = foundry.propose_many([square("one"), square("two")], jobs=1,
                                        on_event=lambda e: order.append((e.request_id, e.kind)))
    assert [o.status for o in outcomes] == ["deployed", "deployed"]
    first, second = (o.request_id for o in outcomes)
    assert order.index((first, "request.closed")) < order.index((second, "request.opened"))


def test_two_candidates_for_one_name_are_refused_before_anything_is_proposed(foundry: Foundry) -> None:
    for pair in ([square("square"), square("square", 2)], [square("square"), square("Square", 2)],
                 [square("x"), Candidate(code=square("y").code, name="X")]):
        with pytest.raises(UsageError, match="candidates 1 and 2 both propose"):
            foundry.propose_many(pair)
    assert foundry.requests() == [] and foundry.propose_many([]) == []


def test_a_bad_jobs_count_is_a_usage_error(foundry: Foundry) -> None:
    with pytest.raises(UsageError, match="jobs must be at least 1"):
        foundry.propose_many([square("square")], jobs=-1)
    assert foundry.requests() == []
