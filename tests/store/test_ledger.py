"""The requests ledger on SQLite and PostgreSQL: rows, JSON columns, short ids, and the one-winner claim."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from store.conftest import Backend
from toolfoundry.core import Permissions
from toolfoundry.store.ledger import Ledger


@pytest.fixture
def ledger(backend: Backend) -> Iterator[Ledger]:
    opened = Ledger(backend.target)
    yield opened
    opened.close()


def test_a_request_is_opened_once_and_updated_with_json_columns(ledger: Ledger) -> None:
    ledger.open("r-1", requester="alice", source="propose", permissions=Permissions(net_hosts=("example.org",)))
    ledger.open("r-1", requester="bob", source="mcp")  # a retried step: no-op
    ledger.update("r-1", status="pending_review", name="add", decision={"route": "human", "why": ["net"]},
                  outcome={"status": "pending_review", "n": 1.5}, reason="needs a human")
    row = ledger.get("r-1")
    assert row is not None
    assert (row.requester, row.source, row.status, row.name) == ("alice", "propose", "pending_review", "add")
    assert row.decision == {"route": "human", "why": ["net"]} and row.outcome == {"status": "pending_review", "n": 1.5}
    assert row.asks.net_hosts == ("example.org",) and row.reason == "needs a human"
    assert row.updated >= row.created
    assert ledger.get("r-2") is None


def test_unknown_columns_are_refused(ledger: Ledger) -> None:
    ledger.open("r-1", requester="alice", source="propose")
    with pytest.raises(ValueError, match="unknown ledger columns"):
        ledger.update("r-1", colour="red")


def test_short_ids_find_by_prefix_and_never_treat_like_wildcards_as_such(ledger: Ledger) -> None:
    for rid in ("abc-1", "abc-2", "abd-1", "a_c-1", "a%c-1"):
        ledger.open(rid, requester="alice", source="propose")
    assert [r.id for r in ledger.find("abc")] == ["abc-1", "abc-2"]
    assert [r.id for r in ledger.find("a_c")] == ["a_c-1"]
    assert [r.id for r in ledger.find("a%")] == ["a%c-1"]
    assert [r.id for r in ledger.find("ABC-1")] == ["abc-1"]  # as typed by a person: case does not matter


def test_with_status_lists_oldest_first(ledger: Ledger) -> None:
    for i, status in enumerate(("running", "deployed", "running", "failed")):
        ledger.open(f"r-{i}", requester="alice", source="propose")
        ledger.update(f"r-{i}", status=status)
    assert [r.id for r in ledger.with_status("running")] == ["r-0", "r-2"]
    assert [r.id for r in ledger.with_status("running", "failed")] == ["r-0", "r-2", "r-3"]
    assert len(ledger.with_status()) == 4


def test_a_claim_has_exactly_one_winner_among_racing_threads(backend: Backend) -> None:
    setup = Ledger(backend.target)
    setup.open("r-1", requester="carol", source="propose")
    setup.update("r-1", status="pending_review")
    ledgers = [Ledger(backend.target) for _ in range(6)]  # six reviewers, each with its own connection
    barrier = threading.Barrier(len(ledgers))
    wins: list[str] = []

    def review(i: int) -> None:
        barrier.wait()
        if ledgers[i].claim("r-1", expect="pending_review", status="running", reviewer=f"reviewer{i}"):
            wins.append(f"reviewer{i}")

    threads = [threading.Thread(target=review, args=(i,)) for i in range(len(ledgers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    row = setup.get("r-1")
    assert len(wins) == 1 and row is not None and row.reviewer == wins[0] and row.status == "running"
    assert not setup.claim("r-1", expect="pending_review", status="running")
    for opened in (setup, *ledgers):
        opened.close()
