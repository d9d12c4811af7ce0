"""Training use cases: create, read, list, cancel, and the training object a client sees.

A training is a prediction row of kind `training`: it is queued, scheduled, run, metered,
canceled and webhooked by the same code as a prediction, on its own queue (`training:<pk>`,
instances of coglet in train mode). What differs is here and in `trained.py`: the version must
have `train:`, the input is checked against `TrainingInput`, the destination must be a model
the caller can write to, and success makes a new version of that model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from modelyard.accounts import Account
from modelyard.core.errors import BadRequest, InvalidInput, NotFound
from modelyard.services import predictions
from modelyard.services.catalog import MODEL_REF, VersionInfo
from modelyard.services.trained import TRAINING, as_training, training_queue
from modelyard.services.urls import Urls
from modelyard.store import models as models_store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

NOT_TRAINABLE = (
    "This version cannot be trained: its cog.yaml has no `train:` entry. Add "
    '`train: "train.py:train"` and push the model again.'
)
NO_DESTINATION = "The specified training destination does not exist"  # Replicate's words
NOT_FOUND = "The requested training was not found."


class CreateTraining(BaseModel):
    """The body of `POST .../versions/{id}/trainings`; unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    destination: Any = None
    input: dict[str, Any] | None = None
    webhook: str | None = None
    webhook_completed: str | None = None
    webhook_events_filter: list[str] | None = None


async def create_training(
    platform: Platform, account: Account, version: VersionInfo, body: CreateTraining
) -> dict[str, Any]:
    """Check and queue a training of `version` into `body.destination`; its row.

    Raises BadRequest (400) for a version without `train:`, InvalidInput (422) without a
    destination or for an input `TrainingInput` refuses (every bad field named), NotFound
    (404) for a destination that does not exist or that the caller cannot write to.
    """
    if not version.row.get("train_ref"):
        raise BadRequest(NOT_TRAINABLE)
    destination = await _destination(platform, account, body.destination)
    created = await predictions.create_prediction(
        platform,
        account,
        as_training(version),
        predictions.CreatePrediction(
            input=body.input,
            webhook=body.webhook,
            webhook_completed=body.webhook_completed,
            webhook_events_filter=body.webhook_events_filter,
        ),
        queue=training_queue(version),
        extra={"kind": TRAINING, "destination": destination},
    )
    return created.row


async def _destination(platform: Platform, account: Account, value: Any) -> str:
    """`owner/name` of an existing model the caller may push to."""
    if value is None:
        raise InvalidInput(
            "A training needs a `destination`: the model (owner/name) its weights become a "
            "version of.",
            [{"field": "destination", "message": "is required"}],
        )
    match = MODEL_REF.match(value) if isinstance(value, str) else None
    if match is None:
        raise NotFound(f"{NO_DESTINATION}: give it as owner/name.")
    async with platform.db.connect() as conn:
        model = await models_store.find_model(conn, match["owner"], match["name"])
    if model is None or not account.acts_for(model["owner"]):
        raise NotFound(f"{NO_DESTINATION} (or you cannot write to it).")
    return f"{model['owner']}/{model['name']}"


async def get_training(platform: Platform, account: Account, training_id: str) -> dict[str, Any]:
    """A training the caller may see; NotFound otherwise (predictions included)."""
    try:
        row = await predictions.get_prediction(platform, account, training_id)
    except NotFound:
        raise NotFound(NOT_FOUND) from None
    if row.get("kind") != TRAINING:
        raise NotFound(NOT_FOUND)
    return row


async def list_trainings(
    platform: Platform, account: Account, *, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the caller's trainings (newest first) and the next page's cursor."""
    return await predictions.list_predictions(platform, account, cursor=cursor, kind=TRAINING)


async def cancel_training(platform: Platform, account: Account, training_id: str) -> dict[str, Any]:
    """Cancel a waiting or running training (no version is made); a finished one is returned
    unchanged."""
    await get_training(platform, account, training_id)
    return await predictions.cancel_prediction(platform, account, training_id)


def render_training(row: dict[str, Any], urls: Urls) -> dict[str, Any]:
    """The training object: a prediction's fields, its destination, `/v1/trainings` URLs."""
    body = predictions.render_prediction(row, urls)
    body["destination"] = row.get("destination")
    body["urls"] = {
        "get": urls.api(f"/v1/trainings/{row['id']}"),
        "cancel": urls.api(f"/v1/trainings/{row['id']}/cancel"),
    }
    return body


def render_row(row: dict[str, Any], urls: Urls) -> dict[str, Any]:
    """A prediction or training row as GET returns it (webhook payloads use this)."""
    if row.get("kind") == TRAINING:
        return render_training(row, urls)
    return predictions.render_prediction(row, urls)
