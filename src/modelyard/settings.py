"""One settings object for the whole platform, read from flags and MODELYARD_* variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelyard.core.timeutil import parse_duration


class Settings(BaseSettings):
    """Every knob of a modelyard process; the CLI builds it once and passes it down."""

    model_config = SettingsConfigDict(env_prefix="MODELYARD_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    internal_port: int | None = None  # plain-HTTP loopback port for model instances (TLS mode)
    data_dir: Path = Path(".modelyard")
    database_url: str | None = None
    envs_dir: Path | None = None  # shared cache of version environments (default DATA_DIR/envs)
    public_url: str | None = None
    owner: str = "admin"
    idle_timeout: float = 300.0
    prediction_timeout: float = 1800.0
    training_timeout: float = 24 * 3600.0  # a training's limit (prediction_timeout is others')
    cancel_grace: float = 10.0
    setup_timeout: float | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_private_networks: bool = False
    webhook_retry_base: float = 1.0  # seconds before the first retry of a `completed` webhook
    max_file_bytes: int = 100 * 1024 * 1024
    signed_url_ttl: int = 24 * 3600
    secret_key: SecretStr | None = None
    register_builtin_models: bool = True
    catalog_dir: Path | None = None  # the built-in catalog's folder [default: the repo's models/]
    builtin_models: str | None = None  # comma-separated names in it [default: the five shipped]
    log_level: str = "info"
    hardware: str = ""
    extra_env: dict[str, str] = Field(default_factory=dict)
    # Scheduling (issue 6).
    max_instances: int = 1  # instances per version for predictions outside deployments
    scale_up_wait: float = 2.0  # seconds the oldest waiting prediction may wait with no boot
    system_site_packages: bool = False  # version envs see the platform's Python packages
    # Accounts and billing (issue 5).
    billing: str = "metering"  # metering (record, never refuse) | credit (402 when used up)
    starting_credit: float = 5.0  # dollars each account starts with in credit mode
    prices: Path | None = None  # YAML/JSON file of `sku: dollars per second` over the defaults
    rate_limit_create: str = "600/min"  # per token, prediction creates
    rate_limit_other: str = "3000/min"  # per token, every other authenticated request
    # Cluster mode (docs/cluster.md): Redis for the queue, event bus, cancel requests and rate
    # limits; S3-compatible storage for files (s3://bucket/prefix?endpoint_url=…&region=…).
    redis_url: str | None = None
    storage_url: str | None = None
    retention: str | None = None  # e.g. 1h: remove API predictions' data after this long
    # Version bundles (issue 9): refused while unpacking, at the first breach.
    max_bundle_unpacked_bytes: int = Field(default=10 << 30, ge=1)  # 10 GiB: weights count
    max_bundle_files: int = Field(default=20_000, ge=1)  # files, directories and links
    # Sandbox (issue 9): how pushed code runs; see docs/security.md.
    sandbox: str = "auto"  # auto (bubblewrap when it runs here) | bwrap (required) | none
    sandbox_uid: int = Field(default=64999, ge=1)  # the user sandboxed code runs as under root
    sandbox_network: bool = False  # instances share the machine's network (off: none at all)
    # Folders local weights (`?weights=/path`, `models import --weights`) may come from, joined
    # by ":"; a sandboxed model is given its weights read-only. Empty: URLs only.
    weights_dirs: str = ""
    # Hostile HTTP input (issue 9): request limits at the API edge, see api/limits.py.
    max_json_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)  # JSON and other small bodies
    max_json_depth: int = Field(default=64, ge=2)  # nesting of `[`/`{` in a JSON body
    max_output_bytes: int = Field(default=1024**3, ge=1024)  # one output file a model uploads
    max_header_bytes: int = Field(default=64 * 1024, ge=4096)  # request line + headers
    max_headers: int = Field(default=100, ge=10)  # header fields in one request
    # Runtime reliability (issue 9): SIGTERM lets running predictions finish this long.
    shutdown_grace: float = Field(default=30.0, ge=0)
    # Abuse limits per account (issue 9): rate limits over all of an account's tokens together
    # (default 5 times a token's, see accounts/ratelimits.py), and caps on what it may hold.
    rate_limit_account_create: str | None = None  # e.g. 3000/min [default 5 × per token]
    rate_limit_account_other: str | None = None  # e.g. 15000/min [default 5 × per token]
    max_tokens_per_account: int = Field(default=100, ge=1)  # active (unrevoked) API tokens
    max_deployments_per_account: int = Field(default=20, ge=0)
    max_warm_instances_per_account: int = Field(default=8, ge=0)  # sum of min_instances
    # Cluster roles (issue 10): `modelyard worker` registers under `worker_name` (default: the
    # host name) and heartbeats; the leader declares a worker lost after `worker_lost_after`.
    worker_name: str | None = None
    worker_capacity: int = Field(default=0, ge=0)  # model instances at once; 0: one per CPU
    heartbeat_interval: float = Field(default=5.0, gt=0)
    worker_lost_after: float = Field(default=20.0, gt=0)  # + one leader tick: lost within 25 s
    reconcile_after: float = Field(default=10.0, gt=0)  # a `starting` prediction's age

    @model_validator(mode="after")
    def _check_account_limits(self) -> Settings:
        from modelyard.accounts.ratelimits import RateLimits

        RateLimits.parse(  # raises ValueError saying what to write
            self.rate_limit_create,
            self.rate_limit_other,
            account_create=self.rate_limit_account_create,
            account_other=self.rate_limit_account_other,
        )
        return self

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key must be given together")
        if self.idle_timeout < 0:
            raise ValueError("--idle-timeout must not be negative")
        if self.max_instances < 1:
            raise ValueError("--max-instances must be at least 1")
        if self.billing not in ("metering", "credit"):
            raise ValueError("--billing must be `metering` or `credit`")
        if self.starting_credit < 0:
            raise ValueError("--starting-credit must not be negative")
        from modelyard.accounts.ratelimits import parse_rate

        for name in ("rate_limit_create", "rate_limit_other"):
            parse_rate(getattr(self, name))  # raises ValueError saying what to write
        if self.retention is not None:
            parse_duration(self.retention)
        if self.storage_url:
            from modelyard.files.s3 import S3Location

            S3Location.parse(self.storage_url)  # raises ValueError saying what to write
        if self.sandbox not in ("auto", "bwrap", "none"):
            raise ValueError("--sandbox must be `auto`, `bwrap` or `none`")
        self.data_dir = self.data_dir.expanduser().resolve()
        return self

    @property
    def weights_roots(self) -> tuple[Path, ...]:
        """`weights_dirs` as resolved folders."""
        return tuple(Path(d).expanduser().resolve() for d in self.weights_dirs.split(":") if d)

    @property
    def retention_seconds(self) -> float | None:
        return parse_duration(self.retention) if self.retention else None

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'modelyard.db'}"

    @property
    def env_cache(self) -> Path:
        return (self.envs_dir or self.data_dir / "envs").expanduser().resolve()

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def internal_url(self) -> str:
        """How model instances on this machine reach the platform (plain HTTP on loopback)."""
        if self.internal_port:
            return f"http://127.0.0.1:{self.internal_port}"
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def to_env(self) -> dict[str, str]:
        """Environment variables that recreate these settings in a child process."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(exclude={"extra_env"}).items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, bool):
                value = "1" if value else "0"
            env[f"MODELYARD_{name.upper()}"] = str(value)
        return env
