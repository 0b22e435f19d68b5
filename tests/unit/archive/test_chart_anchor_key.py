"""The chart gives the workers the anchor signing key from a Secret, never from the ConfigMap."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import Settings
from tests.unit.test_helm_chart import Helm, _of_kind, _one, _render
from tests.unit.test_helm_chart import helm as helm  # noqa: PLC0414 - the fixture


def test_the_signing_key_is_a_mounted_secret_the_configmap_only_points_at(helm: Helm) -> None:
    manifests = _render(
        helm,
        {"anchorSigningKey.secretName": "anchor-key", "anchorSigningKey.secretKey": "ed25519.pem"},
    )
    config = _one(manifests, "ConfigMap")["data"]
    assert config["SAGA_ANCHOR_SIGNING_KEY_FILE"] == "/var/run/saga-anchor/ed25519.pem"
    assert (config["SAGA_ANCHOR_INTERVAL_S"], config["SAGA_ANCHOR_TOPIC"]) == (
        "600",
        "saga.anchors",
    )
    worker = next(
        d
        for d in _of_kind(manifests, "Deployment")
        if d["spec"]["template"]["spec"]["containers"][0]["name"] == "worker"
    )
    spec = worker["spec"]["template"]["spec"]
    [volume] = [v for v in spec["volumes"] if v["name"] == "anchor-signing-key"]
    assert volume["secret"]["secretName"] == "anchor-key"
    [mount] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    assert (mount["mountPath"], mount["readOnly"]) == ("/var/run/saga-anchor", True)
    assert Path(config["SAGA_ANCHOR_SIGNING_KEY_FILE"]).parent == Path(mount["mountPath"])
    # The value is one the application accepts.
    env = {k: v for k, v in config.items() if k.startswith("SAGA_")}
    assert Settings.from_env(env).anchor_signing_key_file.endswith("ed25519.pem")


def test_without_a_secret_no_key_is_configured_and_nothing_is_mounted(helm: Helm) -> None:
    manifests = _render(helm)
    assert _one(manifests, "ConfigMap")["data"]["SAGA_ANCHOR_SIGNING_KEY_FILE"] == ""
    for deployment in _of_kind(manifests, "Deployment"):
        names = [v["name"] for v in deployment["spec"]["template"]["spec"].get("volumes", [])]
        assert "anchor-signing-key" not in names
