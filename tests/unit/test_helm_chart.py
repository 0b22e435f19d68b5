"""The Helm chart, rendered by the real `helm` binary and checked for the facts that matter.

helm is found through $HELM, then PATH, then ~/go/bin/helm. Without it these tests FAIL: a
chart nobody rendered is a chart nobody knows works.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from orchestrator.config import Settings
from orchestrator.observability import TRACING_VARIABLES, Metrics
from orchestrator.security import SECRET_VARIABLES

CHART = Path(__file__).resolve().parents[2] / "helm" / "saga-orchestrator"
KUBE_VERSION = "1.30.0"  # helm template's built-in default (1.20) predates the chart's floor
# The settings, their secrets' *_FILE forms, and the standard OpenTelemetry variables the
# tracing values set.
ALLOWED_ENV = (
    {f"SAGA_{name.upper()}" for name in Settings.model_fields}
    | {f"{variable}_FILE" for variable in SECRET_VARIABLES}
    | TRACING_VARIABLES
)
ALL_FEATURES = {
    "autoscaling.enabled": "true",
    "metrics.serviceMonitor.enabled": "true",
    "metrics.prometheusRule.enabled": "true",
    "metrics.grafanaDashboard.enabled": "true",
    "participants.enabled": "true",
    "tracing.otlpEndpoint": "http://otel-collector.observability:4318",
    "tracing.sampler": "parentbased_traceidratio",
    "tracing.samplerArg": "0.25",
}

Manifest = dict[str, Any]


def _helm_binary() -> str:
    candidates = [os.environ.get("HELM"), shutil.which("helm"), str(Path.home() / "go/bin/helm")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "helm not found: set HELM=/path/to/helm, put helm on PATH, or "
        "`go install helm.sh/helm/v3/cmd/helm@v3.19.0` (installs ~/go/bin/helm)",
        pytrace=False,
    )


@dataclass(frozen=True)
class Helm:
    binary: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    home = tmp_path_factory.mktemp("helm-home")
    # Keep helm's cache/config out of the user's home and independent of their repos.
    return Helm(
        binary=_helm_binary(),
        env={
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        },
    )


def _set_args(values: dict[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def _run(helm: Helm, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm.binary, *args], capture_output=True, text=True, timeout=60, check=False, env=helm.env
    )


def _render(helm: Helm, values: dict[str, str] | None = None) -> list[Manifest]:
    result = _run(
        helm,
        "template",
        "rel",
        str(CHART),
        "--namespace",
        "sagas",
        "--kube-version",
        KUBE_VERSION,
        *_set_args(values or {}),
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def _one(manifests: list[Manifest], kind: str, component: str | None = None) -> Manifest:
    found = [
        m
        for m in _of_kind(manifests, kind)
        if component is None
        or m["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {kind} ({component}), got {len(found)}"
    return found[0]


def _settings(manifests: list[Manifest]) -> Manifest:
    """The ConfigMap of settings (the other one, when enabled, carries the dashboard)."""
    [config] = [
        m
        for m in _of_kind(manifests, "ConfigMap")
        if not m["metadata"]["name"].endswith("-dashboard")
    ]
    return config


def _pod_specs(manifests: list[Manifest]) -> list[Manifest]:
    return [m["spec"]["template"]["spec"] for m in manifests if m["kind"] in ("Deployment", "Job")]


def _worker_container(manifests: list[Manifest]) -> Manifest:
    containers: list[Manifest] = _one(manifests, "Deployment", "worker")["spec"]["template"][
        "spec"
    ]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.fixture(scope="module")
def default(helm: Helm) -> list[Manifest]:
    return _render(helm)


@pytest.fixture(scope="module")
def everything(helm: Helm) -> list[Manifest]:
    return _render(helm, ALL_FEATURES)


@pytest.mark.parametrize("values", [{}, ALL_FEATURES], ids=["default", "all-features"])
def test_lint_strict_passes(helm: Helm, values: dict[str, str]) -> None:
    result = _run(helm, "lint", "--strict", str(CHART), *_set_args(values))
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults_render_the_core_objects_only(default: list[Manifest]) -> None:
    kinds = sorted(m["kind"] for m in default)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "Job",
            "PodDisruptionBudget",
            "Secret",
            "Secret",
            "Service",
            "ServiceAccount",
        ]
    )


def test_probes_hit_the_observability_endpoint_on_the_metrics_port(
    default: list[Manifest],
) -> None:
    container = _worker_container(default)
    assert container["args"] == ["worker"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    [port] = container["ports"]
    assert port["name"] == "metrics"
    config = _settings(default)["data"]
    assert config["SAGA_METRICS_PORT"] == str(port["containerPort"])
    service = _one(default, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


@pytest.mark.parametrize("rendering", ["default", "everything"])
def test_every_variable_is_a_setting_the_orchestrator_reads(
    rendering: str, request: pytest.FixtureRequest
) -> None:
    manifests: list[Manifest] = request.getfixturevalue(rendering)
    names: set[str] = set(_settings(manifests)["data"])
    for secret in _of_kind(manifests, "Secret"):
        names |= set(secret["stringData"])
    for spec in _pod_specs(manifests):
        for container in spec["containers"]:
            names |= {env["name"] for env in container.get("env", [])}
    assert names, "no variables rendered at all"
    assert names <= ALLOWED_ENV, f"unknown variables: {sorted(names - ALLOWED_ENV)}"


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(default: list[Manifest]) -> None:
    job = _one(default, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["db", "migrate"]
    env = {e["name"]: e for e in container["env"]}
    owner_ref = env["SAGA_OWNER_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    # The Secret the Job reads must itself be a hook created earlier: on a first install the
    # release's own objects do not exist yet when pre-install hooks run.
    [hook_secret] = [
        s for s in _of_kind(default, "Secret") if s["metadata"]["name"] == owner_ref["name"]
    ]
    secret_annotations = hook_secret["metadata"]["annotations"]
    assert "pre-install" in secret_annotations["helm.sh/hook"]
    assert int(secret_annotations["helm.sh/hook-weight"]) < int(
        annotations.get("helm.sh/hook-weight", "0")
    )
    assert owner_ref["key"] in hook_secret["stringData"]


def test_owner_credentials_never_reach_the_worker(everything: list[Manifest]) -> None:
    for deployment in _of_kind(everything, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            names = {e["name"] for e in container.get("env", [])}
            assert "SAGA_OWNER_DATABASE_URL" not in names
    release_secrets = [
        s for s in _of_kind(everything, "Secret") if "annotations" not in s["metadata"]
    ]
    assert release_secrets
    for secret in release_secrets:
        assert "SAGA_OWNER_DATABASE_URL" not in secret["stringData"]


@pytest.mark.parametrize("rendering", ["default", "everything"])
def test_every_pod_runs_non_root_with_a_read_only_root(
    rendering: str, request: pytest.FixtureRequest
) -> None:
    manifests: list[Manifest] = request.getfixturevalue(rendering)
    specs = _pod_specs(manifests)
    assert specs
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]["memory"]


def test_worker_gets_time_to_finish_its_batch(default: list[Manifest]) -> None:
    spec = _one(default, "Deployment", "worker")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] >= 30


def test_disruption_budget_covers_exactly_the_workers(everything: list[Manifest]) -> None:
    pdb = _one(everything, "PodDisruptionBudget")
    selector = pdb["spec"]["selector"]["matchLabels"]
    for deployment in _of_kind(everything, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matches = selector.items() <= labels.items()
        is_worker = labels["app.kubernetes.io/component"] == "worker"
        assert matches == is_worker, deployment["metadata"]["name"]


def test_hpa_scales_the_worker_on_an_external_lag_metric(everything: list[Manifest]) -> None:
    hpa = _one(everything, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    worker = _one(everything, "Deployment", "worker")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": worker["apiVersion"],
        "kind": "Deployment",
        "name": worker["metadata"]["name"],
    }
    assert "replicas" not in worker["spec"]  # the HPA owns the count
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["name"] == "kafka_consumergroup_lag"
    group = _settings(everything)["data"]["SAGA_CONSUMER_GROUP"]
    assert metric["external"]["metric"]["selector"]["matchLabels"] == {"consumergroup": group}
    partitions = int(_settings(everything)["data"]["SAGA_TOPIC_PARTITIONS"])
    assert hpa["spec"]["maxReplicas"] <= partitions


def test_more_replicas_than_partitions_is_refused(helm: Helm) -> None:
    result = _run(
        helm,
        "template",
        "rel",
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        *_set_args({"autoscaling.enabled": "true", "autoscaling.maxReplicas": "9"}),
    )
    assert result.returncode != 0
    assert "exceeds config.topicPartitions" in result.stderr


@pytest.mark.parametrize(
    ("key", "value", "complaint"),
    [
        ("replicaCount", "two", "/replicaCount"),
        ("config.logFormat", "xml", "/config/logFormat"),
        ("metrics.port", "0", "/metrics/port"),
        ("podSecurityContext.runAsNonRoot", "false", "/podSecurityContext/runAsNonRoot"),
        ("participants.services[0]", "payments", "/participants/services/0"),
        ("participants.database.url", "mysql://db/x", "/participants/database/url"),
    ],
)
def test_schema_rejects_bad_values(helm: Helm, key: str, value: str, complaint: str) -> None:
    result = _run(helm, "lint", "--strict", str(CHART), "--set", f"{key}={value}")
    assert result.returncode != 0
    assert complaint in result.stdout + result.stderr


def test_service_monitor_scrapes_the_metrics_service(everything: list[Manifest]) -> None:
    monitor = _one(everything, "ServiceMonitor")
    service = _one(everything, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"


def test_compensation_failed_alert_is_defined(everything: list[Manifest]) -> None:
    rule = _one(everything, "PrometheusRule")
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert "saga_compensation_failed_total" in alerts["SagaCompensationFailed"]


def _exported_names() -> set[str]:
    """Every series name the worker's registry can expose, used or not: a labelled family has
    no samples until first used, so the names come from the families and their types."""
    registry = CollectorRegistry()
    Metrics(registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name + suffix for family in registry.collect() for suffix in suffixes[family.type]
    }


# PromQL words that look like metric names: functions, aggregations, keywords.
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "increase", "irate", "by", "without", "on",
    "histogram_quantile", "label_values", "and", "or", "unless", "offset", "bool",
}  # fmt: skip


def _metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers outside selectors `{...}`, grouping
    clauses `by (...)` and range brackets, minus PromQL's own words."""
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", bare)
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", bare))
    return {word for word in words if word not in PROMQL_WORDS and not word.isdigit()}


def test_every_alert_names_metrics_the_worker_exports(everything: list[Manifest]) -> None:
    rule = _one(everything, "PrometheusRule")
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) >= {
        "SagaCompensationFailed",
        "SagaWorkerPaused",
        "SagaOutboxStalled",
        "SagaStuck",
    }
    exported = _exported_names()
    for alert, expr in alerts.items():
        names = _metric_names(expr)
        assert names, alert
        assert names <= exported, (alert, names - exported)
    assert "> 5000" in alerts["SagaOutboxStalled"]


def test_rule_labels_label_the_rule_and_nothing_else(helm: Helm) -> None:
    manifests = _render(
        helm,
        {"metrics.prometheusRule.enabled": "true", "metrics.prometheusRule.labels.release": "kps"},
    )
    rule = _one(manifests, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert set(rule["metadata"]) == {"name", "labels"}
    alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert len(alerts) == len(set(alerts))


def test_tracing_values_become_the_standard_variables(
    everything: list[Manifest], default: list[Manifest]
) -> None:
    config = _settings(everything)["data"]
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    assert (config["OTEL_TRACES_SAMPLER"], config["OTEL_TRACES_SAMPLER_ARG"]) == (
        "parentbased_traceidratio",
        "0.25",
    )
    assert not {k for k in _settings(default)["data"] if k.startswith("OTEL_")}


def test_the_dashboard_ships_for_the_grafana_sidecar_and_reads_only_exported_metrics(
    everything: list[Manifest], default: list[Manifest]
) -> None:
    [configmap] = [
        m for m in _of_kind(everything, "ConfigMap") if m["metadata"]["name"].endswith("-dashboard")
    ]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["saga-orchestrator.json"])
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    read = set().union(*map(_metric_names, exprs))
    exported = _exported_names()
    assert read <= exported, read - exported
    # The panels the issue promises an SRE: outcomes, steps, stuck, in flight, outbox, lag.
    for name in (
        "saga_finished_total",
        "saga_parked_total",
        "saga_step_duration_seconds_bucket",
        "saga_in_flight",
        "saga_stuck",
        "saga_outbox_backlog_events",
        "saga_consumer_lag",
    ):
        assert name in read, name
    assert not [m for m in default if m["metadata"]["name"].endswith("-dashboard")]


def test_participants_are_separate_deployments_outside_the_worker_service(
    everything: list[Manifest],
) -> None:
    participants = [
        d
        for d in _of_kind(everything, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"].startswith("participant-")
    ]
    args = sorted(d["spec"]["template"]["spec"]["containers"][0]["args"] for d in participants)
    assert args == [
        ["participant", "credit"],
        ["participant", "inventory"],
        ["participant", "shipping"],
    ]
    service_selector = _one(everything, "Service")["spec"]["selector"]
    for deployment in participants:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert not service_selector.items() <= labels.items()


def test_existing_secret_replaces_the_chart_secrets(helm: Helm) -> None:
    manifests = _render(helm, {**ALL_FEATURES, "existingSecret": "saga-credentials"})
    assert _of_kind(manifests, "Secret") == []
    refs = [
        env["valueFrom"]["secretKeyRef"]["name"]
        for spec in _pod_specs(manifests)
        for container in spec["containers"]
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    ]
    assert refs
    assert set(refs) == {"saga-credentials"}


def test_the_chart_sets_every_setting_the_worker_reads(everything: list[Manifest]) -> None:
    # values.yaml promises that every SAGA_* variable comes from the chart's values.
    names: set[str] = set()
    for kind in ("ConfigMap", "Secret"):
        for manifest in _of_kind(everything, kind):
            names |= set(manifest.get("data") or {}) | set(manifest.get("stringData") or {})
    for deployment in _of_kind(everything, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            names |= {env["name"] for env in container.get("env", [])}
    names |= {name.removesuffix("_FILE") for name in names}  # secrets come as files
    wanted = {f"SAGA_{name.upper()}" for name in Settings.model_fields}
    # The registry URL is set only when one is configured (empty: the built-in registry).
    missing = wanted - names - {"SAGA_SCHEMA_REGISTRY_URL"}
    assert missing == set()
    config = _settings(everything)["data"]
    assert (config["SAGA_EVENT_FORMAT"], config["SAGA_GC_GEN0_THRESHOLD"]) == ("3", "50000")
    # Every value the chart renders is one the application accepts.
    env = {k: v for k, v in config.items() if k.startswith("SAGA_")}
    settings = Settings.from_env(env)
    assert settings.worker_projector is True
    assert settings.schema_auto_register is True


# --- What each container ends up with --------------------------------------------------------

# Values unlike any default, so a container that falls back to one (127.0.0.1) cannot pass.
APP_URL = "postgresql://app:app-pw@events-db.sagas.svc:5432/events"
OWNER_URL = "postgresql://owner:owner-pw@events-db.sagas.svc:5432/events"
SERVICES_URL = "postgresql://services:services-pw@services-db.sagas.svc:5432/services"
BOOTSTRAP = "kafka-0.kafka.sagas.svc:9092,kafka-1.kafka.sagas.svc:9092"
WHERE = {"config.kafkaBootstrap": BOOTSTRAP.replace(",", "\\,"), "participants.enabled": "true"}
# Where each setting must point, and which settings each command actually uses (the worker and
# the services never see the owner URL, so theirs is the unused default).
EXPECTED = {
    "database_url": APP_URL,
    "owner_database_url": OWNER_URL,
    "participant_database_url": SERVICES_URL,
    "kafka_bootstrap": BOOTSTRAP,
}
USED_BY = {
    "worker": {"database_url", "kafka_bootstrap"},
    "participant": {"database_url", "participant_database_url", "kafka_bootstrap"},
    "db migrate": {"owner_database_url", "database_url"},
}
# What an operator puts in the Secrets named by existingSecret and
# participants.database.existingSecret: the keys values.yaml and helm/README.md document.
OPERATOR_SECRETS = {
    "saga-credentials": {
        "SAGA_DATABASE_URL": APP_URL,
        "SAGA_OWNER_DATABASE_URL": OWNER_URL,
        "SAGA_PARTICIPANT_DATABASE_URL": SERVICES_URL,
    },
    "services-db": {"url": SERVICES_URL},
}


def _container_env(
    container: Manifest, config_maps: dict[str, dict[str, str]], secrets: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The environment Kubernetes would give the container: envFrom, then env entries (values
    and secret/config-map key references; an optional reference to a missing key sets nothing)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= config_maps[source["configMapRef"]["name"]]
        else:
            env |= secrets[source["secretRef"]["name"]]
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        reference = entry["valueFrom"]
        kind = "secretKeyRef" if "secretKeyRef" in reference else "configMapKeyRef"
        ref = reference[kind]
        data = (secrets if kind == "secretKeyRef" else config_maps).get(ref["name"], {})
        if ref["key"] in data:
            env[entry["name"]] = data[ref["key"]]
        else:
            assert ref.get("optional"), f"{entry['name']}: {ref} names nothing that exists"
    return env


@pytest.mark.parametrize(
    ("values", "provided"),
    [
        (
            {
                **WHERE,
                "database.url": APP_URL,
                "database.ownerUrl": OWNER_URL,
                "participants.database.url": SERVICES_URL,
            },
            {},
        ),
        ({**WHERE, "existingSecret": "saga-credentials"}, OPERATOR_SECRETS),
        (
            {
                **WHERE,
                "existingSecret": "saga-credentials",
                "participants.database.existingSecret": "services-db",
                "participants.database.secretKey": "url",
            },
            {
                "saga-credentials": {
                    "SAGA_DATABASE_URL": APP_URL,
                    "SAGA_OWNER_DATABASE_URL": OWNER_URL,
                },
                "services-db": {"url": SERVICES_URL},
            },
        ),
    ],
    ids=["chart-secrets", "existing-secret", "participants-own-secret"],
)
def test_every_container_points_where_the_values_say(
    helm: Helm, values: dict[str, str], provided: dict[str, dict[str, str]]
) -> None:
    manifests = _render(helm, values)
    config_maps = {m["metadata"]["name"]: m["data"] for m in _of_kind(manifests, "ConfigMap")}
    secrets = {
        **provided,
        **{m["metadata"]["name"]: m["stringData"] for m in _of_kind(manifests, "Secret")},
    }
    seen: list[str] = []
    for spec in _pod_specs(manifests):
        for container in spec["containers"]:
            command = " ".join(container["args"][:2])
            role = "participant" if command.startswith("participant ") else command
            assert role in USED_BY, f"{container['name']}: what does {command!r} use?"
            settings = Settings.from_env(_container_env(container, config_maps, secrets))
            for name in USED_BY[role]:
                assert getattr(settings, name) == EXPECTED[name], (container["name"], name)
            seen.append(role)
    assert sorted(seen) == ["db migrate", "participant", "participant", "participant", "worker"]


def test_participants_without_a_database_are_refused(helm: Helm) -> None:
    values = {"participants.enabled": "true", "participants.database.url": ""}
    result = _run(
        helm, "template", "rel", str(CHART), "--kube-version", KUBE_VERSION, *_set_args(values)
    )
    assert result.returncode != 0
    assert "participants.database.url is required" in result.stderr


def test_start_versions_reach_the_worker_and_are_checked_by_the_schema(helm: Helm) -> None:
    config = _one(_render(helm, {"config.startVersions": "order_fulfilment=1"}), "ConfigMap")
    settings = Settings.from_env({k: v for k, v in config["data"].items() if v})
    assert settings.start_versions == {"order_fulfilment": 1}
    result = _run(
        helm, "lint", "--strict", str(CHART), "--set", "config.startVersions=order_fulfilment"
    )
    assert result.returncode != 0
    assert "/config/startVersions" in result.stdout + result.stderr


# --- Kafka and PostgreSQL security: settings in the ConfigMap, secrets only as mounted files ---

SECURE = {
    **WHERE,
    "database.url": APP_URL,
    "database.ownerUrl": OWNER_URL,
    "participants.database.url": SERVICES_URL,
    "schemaRegistry.url": "https://registry.sagas.svc",
    "schemaRegistry.basicAuth": "saga:registry-pw",
    "kafkaSecurity.protocol": "SASL_SSL",
    "kafkaSecurity.sasl.mechanism": "SCRAM-SHA-512",
    "kafkaSecurity.sasl.username": "saga-worker",
    "kafkaSecurity.sasl.passwordSecret.name": "kafka-worker",
    "kafkaSecurity.tls.secretName": "kafka-tls",
    "kafkaSecurity.tls.certKey": "tls.crt",
    "kafkaSecurity.tls.keyKey": "tls.key",
    "kafkaSecurity.tls.keyPasswordKey": "key-password",
    "databaseTls.sslmode": "verify-full",
    "databaseTls.secretName": "postgres-ca",
    "participants.kafkaSasl.credit.username": "saga-credit",
    "participants.kafkaSasl.credit.passwordSecret.name": "kafka-credit",
    "participants.kafkaSasl.credit.passwordSecret.key": "pw",
}


def _mounted_files(spec: Manifest, container: Manifest) -> dict[str, tuple[str, str]]:
    """Every file a container sees from a Secret volume: path -> (Secret, key)."""
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    files: dict[str, tuple[str, str]] = {}
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        assert mount.get("readOnly") is True, mount
        for item in secret.get("items", []):
            files[f"{mount['mountPath']}/{item['path']}"] = (secret["secretName"], item["key"])
    return files


def test_security_settings_reach_every_pod_and_secrets_only_as_files(helm: Helm) -> None:
    manifests = _render(helm, SECURE)
    config = _one(manifests, "ConfigMap")["data"]
    assert config["SAGA_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["SAGA_DATABASE_SSLMODE"] == "verify-full"
    # No secret's value in a ConfigMap: only settings and the paths of mounted files.
    for configmap in _of_kind(manifests, "ConfigMap"):
        rendered = json.dumps(configmap)
        for secret in ("registry-pw", "app-pw", "owner-pw", "services-pw"):
            assert secret not in rendered
        assert not set(configmap["data"]) & set(SECRET_VARIABLES)
    wanted = {
        "SAGA_KAFKA_SASL_PASSWORD_FILE": ("kafka-worker", "password"),
        "SAGA_KAFKA_SSL_CA_FILE": ("kafka-tls", "ca.crt"),
        "SAGA_KAFKA_SSL_CERT_FILE": ("kafka-tls", "tls.crt"),
        "SAGA_KAFKA_SSL_KEY_FILE": ("kafka-tls", "tls.key"),
        "SAGA_KAFKA_SSL_KEY_PASSWORD_FILE": ("kafka-tls", "key-password"),
        "SAGA_DATABASE_SSL_CA_FILE": ("postgres-ca", "ca.crt"),
    }
    seen = []
    for spec in _pod_specs(manifests):
        for container in spec["containers"]:
            files = _mounted_files(spec, container)
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            command = container["args"][:2]
            if command == ["db", "migrate"]:
                # Migrations talk to PostgreSQL only: its TLS, no Kafka secret.
                assert env["SAGA_DATABASE_SSLMODE"] == "verify-full"
                assert files == {env["SAGA_DATABASE_SSL_CA_FILE"]: ("postgres-ca", "ca.crt")}
                seen.append("migrate")
                continue
            expected = dict(wanted)
            if command == ["participant", "credit"]:
                assert env["SAGA_KAFKA_SASL_USERNAME"] == "saga-credit"
                expected["SAGA_KAFKA_SASL_PASSWORD_FILE"] = ("kafka-credit", "pw")
            else:
                assert "SAGA_KAFKA_SASL_USERNAME" not in env  # the ConfigMap's: the worker's
            for variable, source in expected.items():
                path = env.get(variable) or config[variable]
                assert files[path] == source, (container["name"], variable)
            seen.append(command[0])
    assert sorted(seen) == ["migrate", "participant", "participant", "participant", "worker"]


def test_without_security_values_nothing_is_mounted_or_secured(default: list[Manifest]) -> None:
    config = _one(default, "ConfigMap")["data"]
    settings = Settings.from_env({k: v for k, v in config.items() if k.startswith("SAGA_")})
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.database_sslmode == ""
    for spec in _pod_specs(default):
        for container in spec["containers"]:
            assert _mounted_files(spec, container) == {}


def test_a_participant_with_its_own_principal_needs_no_worker_password(helm: Helm) -> None:
    values = {
        "participants.enabled": "true",
        "kafkaSecurity.protocol": "SASL_SSL",
        "kafkaSecurity.sasl.mechanism": "SCRAM-SHA-512",
        "participants.kafkaSasl.shipping.username": "saga-shipping",
        "participants.kafkaSasl.shipping.passwordSecret.name": "kafka-shipping",
        "participants.kafkaSasl.shipping.passwordSecret.key": "password",
    }
    manifests = _render(helm, values)
    for spec in _pod_specs(manifests):
        for container in spec["containers"]:
            files = _mounted_files(spec, container)
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if container["args"] == ["participant", "shipping"]:
                assert files == {
                    env["SAGA_KAFKA_SASL_PASSWORD_FILE"]: ("kafka-shipping", "password")
                }
            else:
                assert files == {}, container["name"]
