"""The Kubernetes manifests: every document validates against the Kubernetes API schema
(strict: unknown fields are errors), the kustomization is complete, and the Deployment has the
probes, limits, security context and migration step the admin guide describes. The syncd.toml
inside the ConfigMap loads with syncd's own loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from syncd.config import load_config
from tests.deploy.support import DEPLOY

K8S = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # oldest minor still commonly run; newer ones accept these too


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def all_documents() -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, d) for p in sorted(K8S.glob("*.yaml")) for d in documents(p)]


def kind(name: str) -> dict[str, Any]:
    found = [d for _, d in all_documents() if d["kind"] == name]
    assert len(found) == 1, f"expected one {name}, found {len(found)}"
    return found[0]


def kustomization() -> dict[str, Any]:
    return documents(K8S / "kustomization.yaml")[0]


@pytest.mark.parametrize(
    "name_doc",
    [nd for nd in all_documents() if nd[1]["kind"] != "Kustomization"],
    ids=lambda nd: f"{nd[0]}:{nd[1]['kind']}",
)
def test_manifest_validates_against_the_kubernetes_schema(name_doc) -> None:
    _, doc = name_doc
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_schema_validation_rejects_an_unknown_field() -> None:
    deployment = kind("Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    k = kustomization()
    assert k["kind"] == "Kustomization"
    listed = set(k["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - {"secret.example.yaml"}
    assert all((K8S / r).is_file() for r in listed)


def test_kustomization_image_matches_the_containers() -> None:
    names = {i["name"] for i in kustomization()["images"]}
    spec = kind("Deployment")["spec"]["template"]["spec"]
    for container in spec["containers"] + spec["initContainers"]:
        assert container["image"] in names


def pod_spec() -> dict[str, Any]:
    return kind("Deployment")["spec"]["template"]["spec"]


def syncd_container() -> dict[str, Any]:
    (container,) = [c for c in pod_spec()["containers"] if c["name"] == "syncd"]
    return container


def test_several_replicas_with_a_safe_rollout() -> None:
    spec = kind("Deployment")["spec"]
    assert spec["replicas"] >= 3
    rolling = spec["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] == 1


def test_probes_use_healthz_and_readyz_on_the_api_port() -> None:
    c = syncd_container()
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in port_names
    assert port_names["http"] == 8080


def test_resources_have_requests_and_limits() -> None:
    for c in pod_spec()["containers"] + pod_spec()["initContainers"]:
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][section]), (c["name"], section)


def test_security_context_is_non_root_and_read_only() -> None:
    pod = pod_spec()["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] != 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    for c in pod_spec()["containers"] + pod_spec()["initContainers"]:
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert "/tmp" in mounts, f"{c['name']}: a read-only root needs a writable /tmp"
    assert pod_spec()["automountServiceAccountToken"] is False


def test_user_matches_the_image() -> None:
    dockerfile = (DEPLOY / "container" / "Dockerfile").read_text()
    uid = pod_spec()["securityContext"]["runAsUser"]
    assert f"USER {uid}:" in dockerfile


def test_migrations_run_before_the_daemon() -> None:
    (init,) = pod_spec()["initContainers"]
    assert init["args"] == ["db", "upgrade"]
    assert syncd_container()["args"] == ["run"]
    assert init["envFrom"] == syncd_container()["envFrom"]


def configmap_toml(tmp_path: Path) -> Path:
    config_map = kind("ConfigMap")
    path = tmp_path / "syncd.toml"
    path.write_text(config_map["data"]["syncd.toml"])
    return path


def test_configmap_syncd_toml_loads(tmp_path: Path, monkeypatch) -> None:
    for var in ("SYNCD_API_KEY", "SYNCD_WEBHOOK_SECRET", "PGPASSWORD"):
        monkeypatch.setenv(var, "x" * 32)
    config = load_config(configmap_toml(tmp_path))
    assert config.api.host == "0.0.0.0"
    assert config.api.port == syncd_container()["ports"][0]["containerPort"]
    for key in config.api.keys:
        key.resolved_hash()


def test_several_replicas_use_postgresql(tmp_path: Path) -> None:
    """SQLite serves one process only; three replicas on it would refuse to start."""
    config = load_config(configmap_toml(tmp_path))
    assert kind("Deployment")["spec"]["replicas"] > 1
    assert config.database_url.startswith("postgresql")


def test_config_is_mounted_where_syncd_looks(tmp_path: Path) -> None:
    c = syncd_container()
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert env["SYNCD_CONFIG"] == mounts["config"] + "/syncd.toml"
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    assert volumes["config"]["configMap"]["name"] == kind("ConfigMap")["metadata"]["name"]
    # the certificate's private key is read from the mounted secret volume
    config = load_config(configmap_toml(tmp_path))
    cert = config.backend.model_dump().get("private_key_file")
    assert cert and cert.startswith(mounts["secret-files"] + "/")
    secret_files = volumes["secret-files"]["secret"]["secretName"]
    secrets = {d["metadata"]["name"]: d for d in documents(K8S / "secret.example.yaml")}
    assert Path(cert).name in secrets[secret_files]["stringData"]


def test_secret_example_provides_every_variable_the_config_names(tmp_path: Path) -> None:
    from tests.deploy.test_examples import referenced_env

    (env_from,) = syncd_container()["envFrom"]
    secrets = {d["metadata"]["name"]: d for d in documents(K8S / "secret.example.yaml")}
    provided = set(secrets[env_from["secretRef"]["name"]]["stringData"])
    assert referenced_env(configmap_toml(tmp_path)) <= provided
    assert "PGPASSWORD" in provided  # database_url carries no password


def test_service_and_pdb_select_the_pods() -> None:
    labels = kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    service = kind("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_configmap_backend_builds_its_connector(tmp_path: Path, monkeypatch) -> None:
    """The Graph settings in the ConfigMap are accepted by the real connector."""
    from syncd.engine.factory import make_connector
    from syncd.runtime import with_calendar_ids
    from syncd.store.directory import DirectoryIndex
    from tests.deploy.test_examples import with_local_secret_files

    path = with_local_secret_files(configmap_toml(tmp_path), tmp_path / "files")
    config = load_config(path)
    index = DirectoryIndex(with_calendar_ids(config.directory(), config))
    connector = make_connector(config, index)
    assert connector is not None and connector.name == "graph"
    connector.close()
