"""`modelyard credit add` (against the database) and `modelyard usage` (through the API)."""

from __future__ import annotations

import csv
import sys

import typer
from rich.console import Console
from rich.table import Table

from modelyard.accounts import get_account
from modelyard.billing import GROUPS
from modelyard.cli._client import check, client, fail, request
from modelyard.cli._db import in_transaction
from modelyard.core.timeutil import utcnow
from modelyard.settings import Settings
from modelyard.store import Conn
from modelyard.store import billing as billing_store

credit = typer.Typer(help="Credit of accounts in `--billing credit` mode.", no_args_is_help=True)
out = Console(soft_wrap=True)
MAX_CREDIT = 1_000_000.0


@credit.command("add")
def add(
    user: str = typer.Argument(..., help="Account to top up."),
    amount: float = typer.Argument(..., help="Dollars to add."),
    note: str = typer.Option(None, "--note", help="Why (kept with the entry)."),
) -> None:
    """Add credit to an account; a running server honours it on the account's next request."""
    if not 0 < amount <= MAX_CREDIT:
        fail(f"The amount must be more than 0 and at most {MAX_CREDIT:g} dollars.")

    async def work(conn: Conn, _settings: Settings) -> None:
        account = await get_account(conn, user)
        await billing_store.add_credit(conn, account.id, amount, note, utcnow())

    in_transaction(work)
    out.print(f"Added ${amount:.2f} of credit to {user}.", highlight=False)


def usage(
    start: str = typer.Option(None, "--start", help="ISO date or time [default: this month]."),
    end: str = typer.Option(None, "--end", help="ISO date or time, exclusive [default: now]."),
    group_by: str = typer.Option("model", "--group-by", help=f"One of {', '.join(GROUPS)}."),
    account: str = typer.Option(None, "--account", help="An organization you belong to."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV: key,predictions,seconds,usd."),
    url: str = typer.Option(None, "--url", help="Server URL [MODELYARD_URL]."),
    token: str = typer.Option(None, "--token", help="API token [MODELYARD_TOKEN]."),
) -> None:
    """What your predictions and instances cost, from the ledger, grouped."""
    params = {"group_by": group_by}
    for key, value in (("start", start), ("end", end), ("account", account)):
        if value:
            params[key] = value
    with client(url, token) as http:
        report = check(request(http.get, "/v1/usage", params=params))
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["key", "predictions", "seconds", "usd"])
        for g in report["groups"]:
            writer.writerow([g["key"], g["predictions"], repr(g["seconds"]), repr(g["usd"])])
        return
    table = Table(title=f"Usage {report['start']} – {report['end']}, by {group_by}")
    table.add_column(group_by)
    for column in ("predictions", "seconds", "USD"):
        table.add_column(column, justify="right")
    for g in report["groups"]:
        table.add_row(g["key"], str(g["predictions"]), f"{g['seconds']:.3f}", _usd(g["usd"]))
    table.add_section()
    total_seconds = sum(g["seconds"] for g in report["groups"])
    total_predictions = sum(g["predictions"] for g in report["groups"])
    table.add_row(
        "total", str(total_predictions), f"{total_seconds:.3f}", _usd(report["total_usd"])
    )
    out.print(table)


def _usd(value: float) -> str:
    return f"${value:.8f}" if value < 1 else f"${value:,.2f}"
