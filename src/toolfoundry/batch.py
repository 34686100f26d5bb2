"""Many proposals at once: what ``Foundry.propose_many`` runs, so that the facade stays one short method.

Owns two things: refusing a batch that could not all be merged (two candidates for one tool name, or for
names that differ only in case, would race for the same ``tools/<name>/`` directory and version), and
running one proposal per candidate on a bounded thread pool, keeping the outcomes in the order given.
Each thread waits for its own request; the requests themselves run from the home's queue, ``[pipeline]
concurrency`` at once, so ``jobs`` above that only queues. The first exception (a broken sandbox, an
unreachable database) stops the batch: candidates not started yet are never proposed, the ones running
finish, and the exception is raised. It does not judge candidates or print anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

from toolfoundry.core import Candidate, Outcome
from toolfoundry.errors import UsageError
from toolfoundry.stages.contract import parse_tool
from toolfoundry.toolfile import name_key


def check_distinct(candidates: Sequence[Candidate]) -> None:
    """``UsageError`` naming the first two candidates (1-based) that would deploy the same tool name, or names
    that differ only in case. A candidate whose contract does not parse is left to the gate to reject."""
    seen: dict[str, tuple[int, str]] = {}
    for index, candidate in enumerate(candidates, 1):
        spec, _ = parse_tool(candidate.code, name=candidate.name)
        name = spec.name if spec is not None else candidate.name
        if name is None:
            continue
        if name_key(name) in seen:
            first, other = seen[name_key(name)]
            same = f"the tool {name!r}" if other == name else f"the tools {other!r} and {name!r} (names that differ only in case)"
            raise UsageError(f"candidates {first} and {index} both propose {same}; propose one, then the other as"
                             " its next version")
        seen[name_key(name)] = (index, name)


def run_all(candidates: Sequence[Candidate], propose: Callable[[Candidate], Outcome], *, jobs: int) -> list[Outcome]:
    """``propose(candidate)`` for every candidate, at most ``jobs`` at a time; the outcomes in the given order."""
    if jobs < 1:
        raise UsageError(f"jobs must be at least 1, got {jobs}")
    if not candidates:
        return []
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(candidates)), thread_name_prefix="toolfoundry-propose")
    try:
        futures: list[Future[Outcome]] = [pool.submit(propose, candidate) for candidate in candidates]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            error = future.exception() if future.done() and not future.cancelled() else None
            if error is not None:
                raise error
        return [future.result() for future in futures]
    finally:  # on an error (or Ctrl-C) nothing new starts; what runs finishes, durable as ever
        pool.shutdown(wait=True, cancel_futures=True)
