"""Usage reports: ledger entries summed by model, hardware, day or deployment."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

GROUPS = ("model", "hardware", "day", "deployment")


def group_key(entry: dict[str, Any], group_by: str) -> str:
    if group_by == "day":
        created_at: datetime = entry["created_at"]
        return created_at.strftime("%Y-%m-%d")
    key: str = entry.get(group_by) or ("none" if group_by == "deployment" else "unknown")
    return key


def summarize(
    entries: Iterable[dict[str, Any]], *, group_by: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """`{start, end, total_usd, groups: [{key, predictions, trainings, seconds, usd}]}`.

    `predictions` and `trainings` count their entries; `seconds` and `usd` add up every entry,
    so instance setup and idle time count in their group too and `total_usd` is the ledger's
    total.
    """
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}.")
    groups: dict[str, dict[str, Any]] = {}
    total = 0.0
    for entry in entries:
        key = group_key(entry, group_by)
        group = groups.setdefault(
            key, {"key": key, "predictions": 0, "trainings": 0, "seconds": 0.0, "usd": 0.0}
        )
        if entry["kind"] in ("prediction", "training"):
            group[entry["kind"] + "s"] += 1
        group["seconds"] += entry["seconds"]
        group["usd"] += entry["usd"]
        total += entry["usd"]
    for group in groups.values():
        group["seconds"] = round(group["seconds"], 6)
        group["usd"] = round(group["usd"], 12)
    return {
        "start": _iso(start),
        "end": _iso(end),
        "total_usd": round(total, 12),
        "groups": [groups[k] for k in sorted(groups)],
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
