"""The `modelyard` command line."""

from __future__ import annotations

import typer

from modelyard.cli import (
    billing,
    db,
    deployments,
    instances,
    models,
    push,
    roles,
    run,
    serve,
    tokens,
    train,
    users,
    workers,
)

app = typer.Typer(
    help="modelyard: a self-hostable Replicate that runs Cog models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("push")(push.push)
app.command("run")(run.run)
app.command("train")(train.train)  # issue 14: trainings
app.add_typer(tokens.app, name="tokens")
app.add_typer(users.users, name="users")
app.add_typer(users.orgs, name="orgs")
app.add_typer(billing.credit, name="credit")
app.command("usage")(billing.usage)
app.add_typer(models.app, name="models")
app.add_typer(deployments.app, name="deployments")
app.command("instances")(instances.instances)
app.command("api")(roles.api)  # cluster mode (issue 10)
app.command("worker")(roles.worker)
app.command("workers")(workers.workers)
app.add_typer(db.app, name="db")


def main() -> None:
    app()
