"""The platform's tables (SQLAlchemy Core), shared by SQLite and Postgres."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("type", String(16), nullable=False, default="user"),
    Column("password_hash", String(200)),
    Column("webhook_secret", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("visibility", String(16), nullable=False, default="private"),
    Column("hardware", String(32), nullable=False, default="cpu"),
    Column("description", Text),
    Column("github_url", Text),
    Column("paper_url", Text),
    Column("license_url", Text),
    Column("cover_image_url", Text),
    Column("readme", Text),
    Column("default_example_id", String(32)),
    Column("latest_version_id", String(64)),
    # A model's own limits (migration 0006); null: the installation's defaults.
    Column("max_instances", Integer),
    Column("prediction_timeout", Float),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("owner", "name", name="uq_models_owner_name"),
)

versions = Table(
    "versions",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("id", String(64), nullable=False),
    Column("model_id", ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),  # building | ready | failed
    Column("openapi_schema", JSON),
    Column("cog_version", String(32)),
    Column("coglet_version", String(32)),
    Column("python_requested", String(16)),
    Column("python_version", String(16)),
    Column("predict_ref", Text),
    Column("train_ref", Text),
    Column("concurrency", Integer, nullable=False, default=1),
    Column("gpu", Boolean, nullable=False, default=False),
    Column("environment", JSON),
    Column("config", JSON),
    Column("source_dir", Text),
    Column("venv_dir", Text),
    Column("build_logs", Text, nullable=False, default=""),
    Column("error", Text),
    Column("training_id", String(32)),  # the training whose weights made it (migration 0005)
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("model_id", "id", name="uq_versions_model_id_id"),
    Index("ix_versions_id", "id"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("model_id", ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version_pk", ForeignKey("versions.pk", ondelete="CASCADE"), nullable=False),
    Column("model", String(170), nullable=False),
    Column("version", String(64), nullable=False),
    Column("deployment", String(170)),
    Column("input", JSON, nullable=False),
    Column("output", JSON),
    Column("logs", Text, nullable=False, default=""),
    Column("error", Text),
    Column("status", String(16), nullable=False),
    Column("metrics", JSON),
    Column("source", String(8), nullable=False, default="api"),
    Column("webhook", Text),
    Column("webhook_events_filter", JSON),
    Column("stream_token", String(64)),
    Column("instance_id", String(32)),
    Column("data_removed", Boolean, nullable=False, default=False),
    # Billing and secrets (migration 0003): the hardware it ran on, what it cost, and the
    # encrypted values of `Secret` inputs, wiped once the prediction reached its instance.
    Column("hardware", String(32)),
    Column("cost_usd", Float),
    Column("secret_input", Text),
    Column("worker", String(100)),  # cluster mode (migration 0004): the worker running it
    # Trainings (migration 0005) are predictions of kind `training`, with the destination
    # model (owner/name) their weights become a version of.
    Column("kind", String(16), nullable=False, default="prediction", server_default="prediction"),
    Column("destination", String(170)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Index("ix_predictions_account_created", "account_id", "created_at"),
    Index("ix_predictions_status", "status"),
    Index("ix_predictions_model", "model_id"),
    Index("ix_predictions_kind_account", "kind", "account_id", "created_at"),
)

files = Table(
    "files",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("content_type", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("md5", String(32), nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("storage_key", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Index("ix_files_account_created", "account_id", "created_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("prediction_id", ForeignKey("predictions.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("event", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_deliveries_state_next", "state", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("prediction_id", ForeignKey("predictions.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("event", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Float),
    Column("error", Text),
    Index("ix_webhook_attempts_prediction", "prediction_id", "id"),
)

# -- accounts and billing (migration 0003) -----------------------------------------------------

memberships = Table(
    "memberships",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organization_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("organization_id", "user_id", name="uq_memberships_organization_user"),
    Index("ix_memberships_user", "user_id"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # prediction | setup | idle
    Column("prediction_id", String(32)),
    Column("model", String(170)),
    Column("version", String(64)),
    Column("deployment", String(170)),
    Column("instance_id", String(32)),
    Column("hardware", String(32), nullable=False),
    Column("seconds", Float, nullable=False),
    Column("unit_price", Float, nullable=False),
    Column("usd", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_ledger_account_created", "account_id", "created_at"),
)

credits = Table(
    "credits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("usd", Float, nullable=False),
    Column("note", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_credits_account", "account_id"),
)

# -- deployments and instances (migration 0002) ------------------------------------------------

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("current_release", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("owner", "name", name="uq_deployments_owner_name"),
)

# One row per release; version_pk is no foreign key: a release outlives nothing it names, and
# the version's deletion is refused while a deployment uses it.
deployment_releases = Table(
    "deployment_releases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("deployment_id", ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("model", String(170), nullable=False),
    Column("version", String(64), nullable=False),
    Column("version_pk", Integer, nullable=False),
    Column("hardware", String(32), nullable=False),
    Column("min_instances", Integer, nullable=False),
    Column("max_instances", Integer, nullable=False),
    Column("prediction_timeout", Float),  # seconds (migration 0006); null: the model's
    Column("created_by_id", ForeignKey("accounts.id", ondelete="SET NULL")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("deployment_id", "number", name="uq_deployment_releases_deployment_number"),
)

# The record of every model instance booted: setup time and logs, placement, how it ended.
instances = Table(
    "instances",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("queue", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("model", String(170), nullable=False),
    Column("deployment", String(170)),
    Column("hardware", String(32), nullable=False),
    Column("gpus", JSON, nullable=False),
    Column("owners", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("pid", Integer),
    Column("predictions", Integer, nullable=False, default=0),
    Column("setup_seconds", Float),
    Column("setup_logs", Text),
    Column("error", Text),
    Column("stop_reason", String(32)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ready_at", DateTime(timezone=True)),
    Column("stopped_at", DateTime(timezone=True)),
    Column("worker", String(100)),  # cluster mode (migration 0004): the worker it runs on
    Index("ix_instances_started_at", "started_at"),
)

# -- cluster mode (migration 0004) -------------------------------------------------------------

# One row per `modelyard worker`, written by itself: its hardware and a heartbeat.
workers = Table(
    "workers",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("hardware", JSON, nullable=False),  # [{"sku": ..., "count": ...}]
    Column("cpus", Integer, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("load", Integer, nullable=False),
    Column("instances", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # active | draining | stopped | lost
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True)),
)

# A queue's instances cluster-wide: an instance boots only once its worker holds a slot
# (queue, n) with n < max_instances, so the primary key bounds them on every worker together.
instance_slots = Table(
    "instance_slots",
    metadata,
    Column("queue", String(64), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("worker", String(100), nullable=False),
    Column("instance_id", String(32), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
)
