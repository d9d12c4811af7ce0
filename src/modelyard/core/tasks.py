"""Stopping background tasks for good, even ones whose library swallowed a cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

RECANCEL_EVERY = 0.2  # seconds between cancellations of a task that is still running


async def cancel_all(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until every one has ended.

    A task that is cancelled while inside a client library's call can come back to life when
    the library catches the `CancelledError` (redis-py does, in some connection paths): the task
    then awaits its next sleep as if nothing happened, and a plain `gather` waits forever. Such a
    task is cancelled again until it ends.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_EVERY)
