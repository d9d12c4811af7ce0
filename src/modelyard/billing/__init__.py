"""Billing: hardware prices, metering into the ledger, balances (402) and usage reports."""

from modelyard.billing.meter import MODES, Balance, InstanceTarget, Meter
from modelyard.billing.prices import DEFAULT_PRICES, PriceTable, load_prices
from modelyard.billing.usage import GROUPS, group_key, summarize

__all__ = [
    "DEFAULT_PRICES",
    "GROUPS",
    "MODES",
    "Balance",
    "InstanceTarget",
    "Meter",
    "PriceTable",
    "group_key",
    "load_prices",
    "summarize",
]
