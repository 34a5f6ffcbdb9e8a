"""The Helm chart, rendered by the real helm binary with default and all-features values."""

from __future__ import annotations

import base64

import pytest

from tests.deploy.chart import (
    ALL_FEATURES,
    CHART,
    GATEWAY,
    NAMESPACE,
    REDIS,
    WORKER,
    Doc,
    container,
    env,
    find,
    load_values,
    one,
    port_number,
    render,
    render_all_features,
    run_helm,
    volume_of,
    walk_strings,
    workloads,
)

VALUE_SETS = {"default": (), "all-features": ("--values", str(ALL_FEATURES))}
RULES_PATH = "/etc/alertgw/rules"


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_chart_passes_strict_lint(values: tuple[str, ...]) -> None:
    done = run_helm("lint", "--strict", str(CHART), *values)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_gateway_probes_hit_healthz_and_readyz_on_its_port(values: tuple[str, ...]) -> None:
    gateway = one(render(*values), "Deployment", GATEWAY)
    spec = container(gateway)
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert spec["startupProbe"]["httpGet"]["path"] == "/healthz"
    listening = int(env(gateway)["ALERTGW_PORT"])
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert port_number(gateway, spec[probe]["httpGet"]["port"]) == listening
    assert env(gateway)["ALERTGW_HOST"] == "0.0.0.0"
    assert spec["args"][0] == "serve"


def test_worker_probe_hits_its_metrics_port() -> None:
    worker = one(render(), "Deployment", WORKER)
    spec = container(worker)
    assert spec["args"][:3] == ["worker", "--processes", "1"]
    metrics_port = int(env(worker)["ALERTGW_WORKER_METRICS_PORT"])
    assert spec["livenessProbe"]["httpGet"]["path"] == "/metrics"
    assert port_number(worker, spec["livenessProbe"]["httpGet"]["port"]) == metrics_port


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_pod_is_locked_down(values: tuple[str, ...]) -> None:
    docs = render(*values)
    assert docs, "nothing rendered"
    for workload in workloads(docs):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        context = container(workload)["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"]["drop"] == ["ALL"], name
        assert "emptyDir" in volume_of(workload, "/tmp"), name
        assert container(workload)["resources"]["limits"]["memory"], name


def test_default_install_uses_the_rules_baked_into_the_image() -> None:
    docs = render()
    assert find(docs, "ConfigMap") == []
    for name in (GATEWAY, WORKER):
        workload = one(docs, "Deployment", name)
        assert env(workload)["ALERTGW_RULES"] == RULES_PATH
        mounts = [m["mountPath"] for m in container(workload)["volumeMounts"]]
        assert RULES_PATH not in mounts


def test_rules_configmap_is_mounted_as_a_directory_where_alertgw_rules_points() -> None:
    docs = render_all_features()
    configmap = one(docs, "ConfigMap", "alertgw-rules")
    expected = load_values(ALL_FEATURES)["rules"]["files"]
    assert configmap["data"] == expected
    for name in (GATEWAY, WORKER):
        workload = one(docs, "Deployment", name)
        volume = volume_of(workload, env(workload)["ALERTGW_RULES"])
        assert volume["configMap"]["name"] == "alertgw-rules"
        # a subPath mount never sees kubelet's symlink swap, so hot reload would not happen
        assert "subPath" not in volume["mount"]
        assert volume["mount"]["readOnly"] is True


def test_existing_rules_configmap_is_mounted_and_not_created() -> None:
    docs = render(
        "--set", "rules.existingConfigMap=ops-rules", "--set", "rules.files.a\\.yaml=x: 1"
    )
    assert find(docs, "ConfigMap") == []
    for name in (GATEWAY, WORKER):
        workload = one(docs, "Deployment", name)
        assert volume_of(workload, RULES_PATH)["configMap"]["name"] == "ops-rules"


def pod_annotations(docs: list[Doc], name: str) -> dict[str, str]:
    annotations: dict[str, str] = one(docs, "Deployment", name)["spec"]["template"]["metadata"].get(
        "annotations", {}
    )
    return annotations


def test_rule_changes_roll_pods_only_when_asked() -> None:
    hot = render("--set", "rules.files.a\\.yaml=x: 1")
    asked = render("--set", "rules.files.a\\.yaml=x: 1", "--set", "rules.restartOnChange=true")
    changed = render("--set", "rules.files.a\\.yaml=x: 2", "--set", "rules.restartOnChange=true")
    for name in (GATEWAY, WORKER):
        assert "checksum/rules" not in pod_annotations(hot, name)
        before = pod_annotations(asked, name)["checksum/rules"]
        assert pod_annotations(changed, name)["checksum/rules"] != before


def test_rule_files_must_be_yaml() -> None:
    done = run_helm("template", "x", str(CHART), "--set", "rules.files.rules\\.yml=x: 1")
    assert done.returncode != 0
    assert '"rules.yml" must end in .yaml' in done.stderr


def scraped_ports(docs: list[Doc], name: str) -> list[int]:
    """The container ports a component's ServiceMonitor scrapes, through its Service."""
    monitor = one(docs, "ServiceMonitor", name)
    service = one(docs, "Service", name)
    workload = one(docs, "Deployment", name)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    service_ports = {port["name"]: port for port in service["spec"]["ports"]}
    scraped = []
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["path"] == "/metrics"
        target = service_ports[endpoint["port"]]["targetPort"]
        scraped.append(port_number(workload, target))
    return scraped


def test_service_monitors_scrape_the_gateway_and_every_worker_process() -> None:
    docs = render_all_features()
    monitors = find(docs, "ServiceMonitor")
    assert sorted(m["metadata"]["name"] for m in monitors) == [GATEWAY, WORKER]
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    gateway = one(docs, "Deployment", GATEWAY)
    assert scraped_ports(docs, GATEWAY) == [int(env(gateway)["ALERTGW_PORT"])]
    # `alertgw worker --processes N` serves process i's metrics on the base port + i
    worker = one(docs, "Deployment", WORKER)
    base = int(env(worker)["ALERTGW_WORKER_METRICS_PORT"])
    processes = int(container(worker)["args"][container(worker)["args"].index("--processes") + 1])
    assert processes == 2
    assert scraped_ports(docs, WORKER) == [base, base + 1]


def test_monitoring_objects_are_opt_in() -> None:
    docs = render()
    assert find(docs, "ServiceMonitor") == []
    assert find(docs, "PrometheusRule") == []


EXPECTED_ALERTS = {
    "AlertgwWorkersDown": "up{",
    "AlertgwGatewayDown": "up{",
    "AlertgwIntakeLagGrowing": "alertgw_intake_lag",
    "AlertgwDeadLetters": "alertgw_dead_letters",
    "AlertgwRulesReloadFailing": "alertgw_rules_last_reload_success",
    "AlertgwNotificationsFailing": 'outcome="failed"',
}


def alert_rules(docs: list[Doc]) -> dict[str, Doc]:
    (rule,) = find(docs, "PrometheusRule")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def test_prometheus_rule_alerts_on_alertgw_itself() -> None:
    alerts = alert_rules(render_all_features())
    assert alerts.keys() == EXPECTED_ALERTS.keys()
    for name, needle in EXPECTED_ALERTS.items():
        assert needle in alerts[name]["expr"], name
        assert alerts[name]["labels"]["team"] == "platform"
        assert alerts[name]["annotations"]["summary"]
    # Prometheus names a ServiceMonitor's job after the Service it scrapes
    assert f'job="{WORKER}"' in alerts["AlertgwWorkersDown"]["expr"]
    assert "absent(" in alerts["AlertgwWorkersDown"]["expr"]
    assert f'namespace="{NAMESPACE}"' in alerts["AlertgwDeadLetters"]["expr"]
    assert (
        "{{ $labels.severity }}" in alerts["AlertgwIntakeLagGrowing"]["annotations"]["description"]
    )


def test_an_alert_can_be_switched_off() -> None:
    alerts = alert_rules(
        render_all_features("--set", "metrics.prometheusRule.disabled.AlertgwDeadLetters=true")
    )
    assert "AlertgwDeadLetters" not in alerts
    assert "AlertgwWorkersDown" in alerts


def secret_values() -> dict[str, str]:
    values: dict[str, str] = load_values(ALL_FEATURES)["secrets"]["values"]
    return values


def test_secret_values_reach_pods_only_through_the_secret() -> None:
    docs = render_all_features()
    secrets = secret_values()
    secret = one(docs, "Secret", "alertgw")
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == secrets
    for doc in docs:
        if doc["kind"] == "Secret":
            continue
        leaked = {
            key for text in walk_strings(doc) for key, value in secrets.items() if value in text
        }
        assert not leaked, f"{leaked} leak into {doc['kind']} {doc['metadata']['name']}"
    for name in (GATEWAY, WORKER):
        workload = one(docs, "Deployment", name)
        assert {"secretRef": {"name": "alertgw"}} in container(workload)["envFrom"]
        assert not secrets.keys() & env(workload).keys()
        assert "checksum/secret" in pod_annotations(docs, name)


def test_existing_secret_replaces_the_chart_secret() -> None:
    docs = render_all_features("--set", "secrets.existingSecret=ops-secrets")
    assert find(docs, "Secret") == []
    for name in (GATEWAY, WORKER):
        workload = one(docs, "Deployment", name)
        refs = [ref["secretRef"]["name"] for ref in container(workload)["envFrom"]]
        assert refs == ["ops-secrets", "alertgw-routing-keys"]
        assert "checksum/secret" not in pod_annotations(docs, name)


def test_unset_secrets_stay_unset() -> None:
    docs = render("--set", "secrets.values.ALERTGW_API_TOKEN=t0ken")
    (secret,) = find(docs, "Secret")
    assert list(secret["data"]) == ["ALERTGW_API_TOKEN"]
    assert find(render(), "Secret") == []
    assert "envFrom" not in container(one(render(), "Deployment", GATEWAY))


def test_redis_url_in_the_secret_is_not_shadowed_by_plain_env() -> None:
    docs = render("--set", "secrets.values.ALERTGW_REDIS_URL=redis://:pw@db:6379/0")
    assert "ALERTGW_REDIS_URL" not in env(one(docs, "Deployment", WORKER))
    assert env(one(render(), "Deployment", WORKER))["ALERTGW_REDIS_URL"] == "redis://redis:6379/0"


def test_embedded_redis_keeps_an_append_only_file_on_a_volume() -> None:
    docs = render_all_features()
    redis = one(docs, "StatefulSet", REDIS)
    args = container(redis)["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--appendfsync") + 1] == "everysec"
    assert args[args.index("--dir") + 1] == "/data"
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    (data,) = [m for m in container(redis)["volumeMounts"] if m["mountPath"] == "/data"]
    assert data["name"] == claim["metadata"]["name"]
    service = one(docs, "Service", REDIS)
    port = service["spec"]["ports"][0]["port"]
    for name in (GATEWAY, WORKER):
        url = env(one(docs, "Deployment", name))["ALERTGW_REDIS_URL"]
        assert url == f"redis://{REDIS}:{port}/0"


def test_gateway_autoscaling_owns_the_replica_count() -> None:
    docs = render_all_features()
    assert "replicas" not in one(docs, "Deployment", GATEWAY)["spec"]
    hpa = one(docs, "HorizontalPodAutoscaler", GATEWAY)
    assert hpa["spec"]["scaleTargetRef"]["name"] == GATEWAY
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert one(render(), "Deployment", GATEWAY)["spec"]["replicas"] == 2


def test_ingress_exposes_only_the_public_endpoints() -> None:
    (ingress,) = find(render_all_features(), "Ingress")
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert sorted(p["path"] for p in paths) == ["/api", "/slack", "/webhooks"]
    assert {p["backend"]["service"]["name"] for p in paths} == {GATEWAY}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_disruption_budgets_select_their_pods(values: tuple[str, ...]) -> None:
    docs = render(*values)
    for name in (GATEWAY, WORKER):
        budget = one(docs, "PodDisruptionBudget", name)
        labels = one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert budget["spec"]["maxUnavailable"] == 1
