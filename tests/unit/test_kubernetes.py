"""deploy/kubernetes (README "Kubernetes"): every manifest valid against the Kubernetes
schemas (offline, ``kubernetes-validate``), and consistent with the code: the image, the
port, the probe path, every setting name, the Job's subcommand."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.cli import _parser
from bot.server import SLACK_PATH
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
BASE = DEPLOY / "base"
K8S_VERSION = "1.30.0"
SETTING = re.compile(r"\b(?:ECSBOT|SLACK|ALIBABA_CLOUD)_[A-Z0-9_]+\b")
SETTINGS = {str(f.alias) for f in Settings.model_fields.values() if f.alias}


def manifests(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.yaml") if p.name != "kustomization.yaml")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def by_kind(kind: str) -> dict[str, Any]:
    [found] = [d for d in map(load, manifests(BASE)) if d["kind"] == kind]
    return found


@pytest.mark.parametrize("path", manifests(BASE), ids=lambda p: p.name)
def test_every_base_manifest_is_valid_kubernetes(path: Path) -> None:
    kubernetes_validate.validate(load(path), K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = load(BASE / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(p.name for p in manifests(BASE))
    assert [i["name"] for i in kustomization["images"]] == ["ecs-reboot-bot"]


def test_servicemonitor_component_has_the_operator_shape() -> None:
    folder = DEPLOY / "components" / "servicemonitor"
    component = load(folder / "kustomization.yaml")
    assert component["kind"] == "Component"
    [monitor] = [load(folder / name) for name in component["resources"]]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    service = by_kind("Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]


def test_deployment_matches_the_image_and_the_server() -> None:
    deployment = by_kind("Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert spec["replicas"] == 2
    assert container["image"] == "ecs-reboot-bot"
    assert "USER 10001:10001" in dockerfile
    assert pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    [port] = container["ports"]
    assert f"EXPOSE {port['containerPort']}" in dockerfile
    assert str(port["containerPort"]) == by_kind("ConfigMap")["data"]["PORT"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    assert SLACK_PATH == "/slack/events"
    # Longer than a lease, so a pod always hands its leases back before it is killed.
    assert pod["terminationGracePeriodSeconds"] > 30 + 30
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    assert (
        spec["selector"]["matchLabels"]
        == by_kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    )


def test_secrets_are_references_only() -> None:
    kinds = {load(p)["kind"] for p in manifests(DEPLOY)}
    assert "Secret" not in kinds
    for container in (
        by_kind("Deployment")["spec"]["template"]["spec"]["containers"]
        + by_kind("Job")["spec"]["template"]["spec"]["containers"]
    ):
        for variable in container.get("env", []):
            if variable["name"].startswith("SLACK_") or variable["name"] == "ECSBOT_DATABASE_URL":
                assert "secretKeyRef" in variable["valueFrom"]


def test_every_setting_name_used_exists() -> None:
    used = set()
    for path in DEPLOY.rglob("*.yaml"):
        used |= set(SETTING.findall(path.read_text(encoding="utf-8")))
    assert used
    assert used - SETTINGS == set()


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_commands_are_real_subcommands(kind: str) -> None:
    [container] = by_kind(kind)["spec"]["template"]["spec"]["containers"]
    args = _parser().parse_args(container["args"])
    assert callable(args.run)
    assert container["args"][0] == ("serve" if kind == "Deployment" else "migrate")


def test_rrsa_service_account_annotation() -> None:
    account = by_kind("ServiceAccount")
    assert "pod-identity.alibabacloud.com/role-name" in account["metadata"]["annotations"]
    assert (
        by_kind("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
        == (account["metadata"]["name"])
    )
