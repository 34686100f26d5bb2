"""Tests and oracle at once: a candidate's pytest run and its examples are independent, so they overlap.

Owns :func:`together`: two stage runs started at the same time, each in a thread of its own (each stage
runs its candidate in a sandbox of its own, so on two cores they overlap), their verdicts returned in the
order given. Neither reads the other's result and each keeps its own isolation, so the verdicts are
exactly those of running them one after the other. It knows nothing of what the stages are: the caller
passes them in (``tests.run_tests`` and ``oracle.evaluate``), so no stage calls another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from toolfoundry.core import Verdict


def together(first: Callable[[], Verdict], second: Callable[[], Verdict]) -> tuple[Verdict, Verdict]:
    """Run ``first`` in a new thread and ``second`` in this one; both verdicts once both ended. An exception
    from either is raised only after both ended (``second``'s when both raised)."""
    done: list[Verdict] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(first())
        except BaseException as exc:  # re-raised in the caller's thread below
            failed.append(exc)

    thread = threading.Thread(target=run, name="toolfoundry-judge", daemon=True)
    thread.start()
    try:
        other = second()
    finally:
        thread.join()
    if failed:
        raise failed[0]
    return done[0], other
