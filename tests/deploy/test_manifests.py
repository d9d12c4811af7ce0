"""deploy/kustomize renders, validates against Kubernetes' and KEDA's schemas, and fits the code."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from modelyard.cli import app
from modelyard.settings import Settings

pytestmark = pytest.mark.deploy

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OVERLAYS = sorted(p.name for p in (DEPLOY / "kustomize" / "overlays").iterdir() if p.is_dir())
KUBERNETES_VERSION = "1.33.0"  # the oldest minor the manifests promise to run on
KEDA_KINDS = {"ScaledObject": "scaledobjects", "TriggerAuthentication": "triggerauthentications"}


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render deploy/kustomize (kubectl kustomize)"
    out = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "kustomize" / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


@cache
def keda_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((DEPLOY / "schemas" / f"keda.sh_{KEDA_KINDS[kind]}.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def test_there_are_overlays_to_check() -> None:
    assert {"dev", "production"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_its_schema(overlay: str) -> None:
    docs = render(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "Job", "ScaledObject"} <= kinds
    for doc in docs:
        if doc["kind"] in KEDA_KINDS:
            jsonschema.validate(doc, keda_schema(doc["kind"]))
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_validation_refuses_a_broken_object() -> None:
    """The checks above can fail: a misspelt field and a KEDA trigger without its stream."""
    deployment = dict(of_kind(render("dev"), "Deployment")[0])
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    scaled = of_kind(render("dev"), "ScaledObject")[0]
    broken = {**scaled, "spec": {**scaled["spec"], "triggers": "redis-streams"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, keda_schema("ScaledObject"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_resolve(overlay: str) -> None:
    docs = render(overlay)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for scaled in of_kind(docs, "ScaledObject"):
        assert ("Deployment", scaled["spec"]["scaleTargetRef"]["name"]) in names
        for trigger in scaled["spec"]["triggers"]:
            assert ("TriggerAuthentication", trigger["authenticationRef"]["name"]) in names
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        assert ("Deployment", hpa["spec"]["scaleTargetRef"]["name"]) in names
    for service in of_kind(docs, "Service"):
        selector = service["spec"]["selector"]
        assert any(
            selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
            for d in of_kind(docs, "Deployment")
        )
    for doc in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        for container in containers(doc):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_named_is_one_the_code_reads(overlay: str) -> None:
    """A MODELYARD_* key the platform does not read is a typo that silently does nothing."""
    docs = render(overlay)
    fields = {f"MODELYARD_{name.upper()}" for name in Settings.model_fields}
    keda_only = {
        ref["key"]
        for auth in of_kind(docs, "TriggerAuthentication")
        for ref in auth["spec"]["secretTargetRef"]
    }
    keys: set[str] = set()
    for doc in of_kind(docs, "ConfigMap") + of_kind(docs, "Secret"):
        keys |= set(doc.get("data", {})) | set(doc.get("stringData", {}))
    for doc in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        for container in containers(doc):
            keys |= {env["name"] for env in container.get("env", [])}
    unknown = {k for k in keys if k.startswith("MODELYARD_")} - fields - keda_only
    assert not unknown, f"settings modelyard does not read: {sorted(unknown)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_containers_run_real_commands(overlay: str) -> None:
    runner = CliRunner()
    for doc in of_kind(render(overlay), "Deployment") + of_kind(render(overlay), "Job"):
        for container in containers(doc):
            args = list(container["args"])
            result = runner.invoke(app, [*args, "--help"])
            assert result.exit_code == 0, f"`modelyard {' '.join(args)}`: {result.output}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_drain_before_the_kubelet_kills_them(overlay: str) -> None:
    docs = render(overlay)
    grace = float(of_kind(docs, "ConfigMap")[0]["data"]["MODELYARD_SHUTDOWN_GRACE"])
    workers = [d for d in of_kind(docs, "Deployment") if "worker" in containers(d)[0]["args"]]
    assert workers
    for worker in workers:
        assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_hardware_class_scales_on_its_own_demand_stream(overlay: str) -> None:
    from modelyard.queue.redis import demand_stream

    docs = render(overlay)
    scaled_by = {s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind(docs, "ScaledObject")}
    for worker in of_kind(docs, "Deployment"):
        labels = worker["spec"]["template"]["metadata"]["labels"]
        if "modelyard.dev/hardware-class" not in labels:
            continue
        hardware = labels["modelyard.dev/hardware-class"]
        (trigger,) = scaled_by[worker["metadata"]["name"]]["spec"]["triggers"]
        assert trigger["type"] == "redis-streams"
        assert trigger["metadata"]["stream"] == demand_stream(hardware)
        assert scaled_by[worker["metadata"]["name"]]["spec"]["minReplicaCount"] == 0
        resources = containers(worker)[0]["resources"]
        if hardware == "cpu":
            assert "nvidia.com/gpu" not in resources["requests"]
        else:
            assert int(resources["limits"]["nvidia.com/gpu"]) >= 1
            assert worker["spec"]["template"]["spec"]["nodeSelector"]
