"""Running blocking work beside an event loop: DBOS's blocking calls refuse to run on a thread that runs one.

Owns :func:`off_loop` only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def off_loop(work: Callable[[], T]) -> T:
    """``work()`` here, or on a thread of its own when this thread runs an event loop; its exception is re-raised."""
    import asyncio  # here: a command that never reaches an event loop does not import it

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # handed back to the caller below
            failed.append(exc)

    thread = threading.Thread(target=run, name="toolfoundry-off-loop")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return done[0]
