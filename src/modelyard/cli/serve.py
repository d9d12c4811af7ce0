"""`modelyard serve`: the embedded platform in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
import uvicorn
from rich.console import Console
from starlette.types import ASGIApp
from uvicorn._compat import asyncio_run  # uvicorn's own runner: uvloop, as Server.run

from modelyard.api import create_app, instance_facing
from modelyard.api.protocol import limited_protocol
from modelyard.sandbox import SandboxUnavailable
from modelyard.services.builtins import register_builtins
from modelyard.services.platform import Platform
from modelyard.settings import Settings

console = Console()


def serve(
    host: str = typer.Option(
        None, help="Address to listen on [MODELYARD_HOST, default 127.0.0.1]."
    ),
    port: int = typer.Option(None, help="Port [MODELYARD_PORT, default 8000]."),
    data_dir: Path = typer.Option(
        None, help="Data directory [MODELYARD_DATA_DIR, default ./.modelyard]."
    ),
    public_url: str = typer.Option(
        None, help="Base URL clients reach this server at [MODELYARD_PUBLIC_URL]."
    ),
    idle_timeout: float = typer.Option(
        None, help="Seconds an idle model instance stays warm [default 300]."
    ),
    max_instances: int = typer.Option(
        None,
        help="Instances per version for predictions outside deployments [default 1]; a model's "
        "own max_instances overrides it [MODELYARD_MAX_INSTANCES].",
    ),
    prediction_timeout: float = typer.Option(
        None,
        help="Seconds a prediction may run [default 1800]; a model's or deployment's own "
        "prediction_timeout overrides it [MODELYARD_PREDICTION_TIMEOUT].",
    ),
    owner: str = typer.Option(
        None, help="Name of the owner account made on first start [default admin]."
    ),
    tls_cert: Path = typer.Option(
        None, help="TLS certificate (PEM) to serve HTTPS [MODELYARD_TLS_CERT]."
    ),
    tls_key: Path = typer.Option(None, help="TLS private key (PEM) [MODELYARD_TLS_KEY]."),
    allow_private_networks: bool = typer.Option(
        None, "--allow-private-networks", help="Allow webhooks and input URLs on private addresses."
    ),
    hardware: str = typer.Option(
        None, help="Declared GPU inventory, e.g. gpu-t4=2 [MODELYARD_HARDWARE]."
    ),
    no_builtins: bool = typer.Option(
        False, "--no-builtins", help="Do not register the built-in models."
    ),
    billing: str = typer.Option(
        None, help="metering (record only) or credit (402 when used up) [default metering]."
    ),
    starting_credit: float = typer.Option(
        None, help="Dollars each account starts with in credit mode [default 5]."
    ),
    prices: Path = typer.Option(
        None, help="YAML/JSON file of hardware prices, sku: $/s [MODELYARD_PRICES]."
    ),
    rate_limit_create: str = typer.Option(
        None, help="Prediction creates per token, e.g. 600/min [MODELYARD_RATE_LIMIT_CREATE]."
    ),
    rate_limit_other: str = typer.Option(
        None, help="Other requests per token, e.g. 3000/min [MODELYARD_RATE_LIMIT_OTHER]."
    ),
    rate_limit_account_create: str = typer.Option(
        None, help="Prediction creates per account, all its tokens together [default 5 × token]."
    ),
    rate_limit_account_other: str = typer.Option(
        None, help="Other requests per account, all its tokens together [default 5 × token]."
    ),
    max_tokens_per_account: int = typer.Option(
        None, help="Active API tokens one account may hold [default 100]."
    ),
    max_deployments_per_account: int = typer.Option(
        None, help="Deployments one account may have [default 20]."
    ),
    max_warm_instances_per_account: int = typer.Option(
        None, help="Sum of min_instances over one account's deployments [default 8]."
    ),
    retention: str = typer.Option(
        None, help="Remove API predictions' data after this long, e.g. 1h [default: keep]."
    ),
    shutdown_grace: float = typer.Option(
        None, help="Seconds running predictions get to finish after SIGTERM [default 30]."
    ),
    sandbox: str = typer.Option(
        None,
        help="How pushed code runs: auto (bubblewrap when present), bwrap (required), none "
        "[MODELYARD_SANDBOX, default auto]. See docs/security.md.",
    ),
    sandbox_uid: int = typer.Option(
        None, help="The user sandboxed code runs as when serving as root [default 64999]."
    ),
    sandbox_network: bool = typer.Option(
        None,
        "--sandbox-network/--no-sandbox-network",
        help="Let model instances use the machine's network [default: none at all].",
    ),
) -> None:
    """Start the platform: API, queue and model instances, in this process."""
    given: dict[str, Any] = {
        k: v
        for k, v in dict(
            host=host,
            port=port,
            data_dir=data_dir,
            public_url=public_url,
            idle_timeout=idle_timeout,
            owner=owner,
            tls_cert=tls_cert,
            tls_key=tls_key,
            max_instances=max_instances,
            prediction_timeout=prediction_timeout,
            allow_private_networks=allow_private_networks,
            hardware=hardware,
            billing=billing,
            starting_credit=starting_credit,
            prices=prices,
            rate_limit_create=rate_limit_create,
            rate_limit_other=rate_limit_other,
            rate_limit_account_create=rate_limit_account_create,
            rate_limit_account_other=rate_limit_account_other,
            max_tokens_per_account=max_tokens_per_account,
            max_deployments_per_account=max_deployments_per_account,
            max_warm_instances_per_account=max_warm_instances_per_account,
            retention=retention,
            shutdown_grace=shutdown_grace,
            sandbox=sandbox,
            sandbox_uid=sandbox_uid,
            sandbox_network=sandbox_network,
        ).items()
        if v is not None
    }
    if no_builtins:
        given["register_builtin_models"] = False
    try:
        settings = Settings(**given)
    except ValueError as exc:
        console.print(f"[bold red]Error:[/] {exc}")
        raise typer.Exit(2) from exc
    run_server(settings)


def run_server(settings: Settings, role: str = "serve") -> None:
    """Run one process of `role`: serve (all in one), api or worker (cluster mode)."""
    if settings.tls_cert and not settings.internal_port:
        # Model instances cannot verify our certificate: they talk to a loopback HTTP listener.
        settings.internal_port = _free_port()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        platform = Platform(settings, role)
    except (ValueError, SandboxUnavailable) as exc:  # e.g. a prices file that cannot be read
        console.print(f"[bold red]Error:[/] {exc}")
        raise typer.Exit(2) from exc

    async def on_ready(p: Platform) -> None:
        if p.first_token:
            console.print(
                f"\nCreated the owner account [bold]{settings.owner}[/]. "
                "Its API token, shown only once:\n"
                f"\n    [bold green]{p.first_token}[/]\n\n"
                f"Use it with: export REPLICATE_API_TOKEN={p.first_token}\n"
                "Sign in to the web app with it, or give the account a password: "
                f"modelyard users set-password {settings.owner}\n",
                highlight=False,
                soft_wrap=True,
            )
        if role == "worker":
            console.print(f"modelyard worker {p.worker_name} is taking work", highlight=False)
            return
        if settings.register_builtin_models:
            asyncio.ensure_future(register_builtins(p))
        where = settings.public_url or f"{settings.scheme}://{settings.host}:{settings.port}"
        console.print(f"modelyard is serving on {where} (web app and API)", highlight=False)

    app: ASGIApp = create_app(platform, on_ready=on_ready)
    if role == "worker":  # no public routes: only what its own model instances reach
        app = instance_facing(app, also=("/health",))
    head_limits = limited_protocol(settings.max_header_bytes, settings.max_headers)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_level="warning",
        timeout_graceful_shutdown=5,  # after the drain: streams of predictions left queued
        http=head_limits,
    )
    extras: list[tuple[uvicorn.Server, list[socket.socket] | None]] = []
    if settings.internal_port and settings.internal_port != settings.port:
        internal = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=settings.internal_port,
            lifespan="off",
            log_level="warning",
            http=head_limits,
        )
        extras.append((_QuietServer(internal), None))
    uploads = platform.listen_for_uploads()
    if uploads is not None:  # sandboxed instances upload outputs through a Unix socket
        quiet = uvicorn.Config(
            instance_facing(app), lifespan="off", log_level="warning", http=head_limits
        )
        extras.append((_QuietServer(quiet), [uploads]))
    public = _PlatformServer(config, platform)
    if not extras:
        public.run()
        return
    asyncio_run(_serve_all(public, extras), loop_factory=config.get_loop_factory())


class _PlatformServer(uvicorn.Server):
    """The public listener. SIGTERM or SIGINT drains the platform (running predictions finish,
    queued ones wait for the next start) before the listeners close; a second one kills the
    model processes. The process then exits 0 instead of re-raising the signal."""

    def __init__(self, config: uvicorn.Config, platform: Platform) -> None:
        super().__init__(config)
        self.platform = platform
        self.signals = 0
        self._drain: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        self.signals += 1
        if self.signals == 1:
            logging.getLogger(__name__).info("%s: draining, then stopping", sig.name)
            self._drain = asyncio.ensure_future(self._drain_then_exit())
        else:
            self.platform.kill_instances()
            self.should_exit = True

    async def _drain_then_exit(self) -> None:
        try:
            await self.platform.drain()
        finally:
            self.should_exit = True


class _QuietServer(uvicorn.Server):
    """A second listener that leaves signal handling to the public server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_all(
    public: uvicorn.Server, extras: list[tuple[uvicorn.Server, list[socket.socket] | None]]
) -> None:
    # The public server owns the lifespan; the others start once the platform is up.
    task = asyncio.ensure_future(public.serve())
    while not public.started and not task.done():
        await asyncio.sleep(0.01)
    others = [asyncio.ensure_future(server.serve(sockets)) for server, sockets in extras]
    await task
    for server, _ in extras:
        server.should_exit = True
    await asyncio.gather(*others)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
