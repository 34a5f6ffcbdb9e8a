"""kube-prometheus alerts: the workload, not the exporter, is the service."""

from __future__ import annotations

import pytest

from gateway.sources.kube_prometheus import Workload, exporter_of, workload_of

KSM = "kube-prometheus-stack-kube-state-metrics"


@pytest.mark.parametrize(
    ("name", "exporter"),
    [
        ("kube-state-metrics", "kube-state-metrics"),
        (KSM, "kube-state-metrics"),
        ("prometheus-kube-prometheus-kubelet", "kubelet"),
        ("kube-prometheus-stack-prometheus-node-exporter", "node-exporter"),
        ("checkout", None),
        ("my-kubelet-dashboard", None),
    ],
)
def test_exporters_are_known_with_or_without_the_release_prefix(
    name: str, exporter: str | None
) -> None:
    assert exporter_of(name) == exporter


@pytest.mark.parametrize(
    ("labels", "service"),
    [
        ({"deployment": "checkout", "pod": f"{KSM}-6d8f5c7b9-vbq2z"}, "checkout"),
        ({"statefulset": "checkout-db"}, "checkout-db"),
        ({"job_name": "billing-nightly-29500320"}, "billing-nightly-29500320"),
        ({"pod": "checkout-7d9f8b6c5d-x2x7k"}, "checkout"),  # a deployment's pod
        ({"pod": "fluent-bit-x2x7k"}, "fluent-bit"),  # a daemonset's pod
        ({"pod": "checkout-db-0"}, "checkout-db"),  # a statefulset's pod
        ({"pod": "payments-queue"}, "payments-queue"),  # words have vowels: no suffix
        ({"namespace": "checkout", "persistentvolumeclaim": "data-0"}, "checkout"),
        ({}, KSM),
    ],
)
def test_the_workload_comes_from_the_most_specific_label(
    labels: dict[str, str], service: str
) -> None:
    assert workload_of(labels, KSM) == Workload(service, KSM)


def test_node_exporter_alerts_are_about_a_node_and_keep_their_service() -> None:
    exporter = "kube-prometheus-stack-prometheus-node-exporter"
    labels = {"namespace": "monitoring", "pod": "node-exporter-x2x7k", "instance": "10.0.1.5:9100"}
    assert workload_of(labels, exporter) == Workload(exporter, exporter)


def test_other_services_are_left_alone() -> None:
    assert workload_of({"namespace": "checkout", "pod": "checkout-0"}, "checkout-api") is None
