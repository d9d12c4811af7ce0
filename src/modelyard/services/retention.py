"""Data retention: the inputs, outputs, logs and files of API predictions go after a while."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from modelyard.core.timeutil import utcnow
from modelyard.store import predictions as store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

BATCH = 200


class Retention:
    """Removes the data of API predictions `period` seconds after they finished.

    Web predictions (`source: web`) are kept. A removed prediction keeps its status, timings,
    metrics and cost, and shows `data_removed: true`; its output file URLs answer 404.
    """

    def __init__(self, platform: Platform, period: float | None) -> None:
        self.platform = platform
        self.period = period

    @property
    def interval(self) -> float:
        """How often to sweep: a quarter of the period, between 0.5 s and a minute."""
        return min(60.0, max(0.5, (self.period or 240.0) / 4))

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a failed sweep is retried on the next tick
                logger.exception("data retention sweep failed")
            await asyncio.sleep(self.interval)

    async def sweep(self) -> int:
        """Remove the data of every prediction past the period; returns how many."""
        if self.period is None:
            return 0
        removed = 0
        cutoff = utcnow() - timedelta(seconds=self.period)
        while True:
            async with self.platform.db.connect() as conn:
                ids = await store.list_expired(conn, completed_before=cutoff, limit=BATCH)
            if not ids:
                return removed
            for prediction_id in ids:
                await self.platform.storage.delete_prefix(f"predictions/{prediction_id}")
                self.platform.execution.final_rows.pop(prediction_id, None)
            async with self.platform.db.begin() as conn:
                await store.remove_data(conn, ids)
            removed += len(ids)
            logger.info("removed the data of %d predictions (retention)", len(ids))
