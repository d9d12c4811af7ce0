"""Hardware prices in US dollars per second: defaults, overridden by a prices file."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

# Modelled on Replicate's public per-second prices.
DEFAULT_PRICES: dict[str, float] = {
    "cpu": 0.000100,
    "gpu-t4": 0.000225,
    "gpu-a40-large": 0.000725,
    "gpu-l40s": 0.000975,
    "gpu-a100-large": 0.001400,
    "gpu-h100": 0.001525,
}


class PriceTable:
    """Price per second of each hardware SKU; an unknown SKU costs nothing (and says so once)."""

    def __init__(self, prices: Mapping[str, float]) -> None:
        self.prices = dict(prices)
        self._warned: set[str] = set()

    def per_second(self, sku: str) -> float:
        price = self.prices.get(sku)
        if price is None:
            if sku not in self._warned:
                self._warned.add(sku)
                logger.warning("no price for hardware %r: its use is recorded at $0", sku)
            return 0.0
        return price

    def cost(self, sku: str, seconds: float) -> float:
        """`seconds × price`, rounded to 1e-12 dollars."""
        return round(max(0.0, seconds) * self.per_second(sku), 12)


def load_prices(path: Path | None) -> PriceTable:
    """The defaults, with the SKUs of `path` (YAML or JSON: `sku: dollars per second`) laid over.

    Raises ValueError saying what is wrong with the file.
    """
    prices = dict(DEFAULT_PRICES)
    if path is None:
        return PriceTable(prices)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"Cannot read the prices file {path}: {exc.strerror}.") from exc
    try:
        data = yaml.safe_load(text) if not str(path).endswith(".json") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ValueError(f"The prices file {path} is not valid YAML or JSON.") from exc
    if isinstance(data, dict) and isinstance(data.get("prices"), dict):
        data = data["prices"]
    if not isinstance(data, dict):
        raise ValueError(
            f"The prices file {path} must map hardware SKUs to dollars per second, "
            "e.g. `gpu-t4: 0.000225`."
        )
    for sku, value in data.items():
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(
                f"The price of {sku!r} in {path} must be a non-negative number of dollars "
                "per second."
            )
        prices[str(sku)] = float(value)
    return PriceTable(prices)
