"""kube-prometheus alerts: the workload an exporter's alert is about.

kube-prometheus (and its Helm chart, kube-prometheus-stack) labels every alert with the
exporter that produced the metric: `service: kube-prometheus-stack-kube-state-metrics`,
`job: kubelet`. The workload in trouble is in other labels (`namespace`, `deployment`,
`pod`, ...). Rules are written per workload ("checkout failing"), so the workload becomes
the alert's service and the exporter keeps a label of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

# Exporters whose series describe other objects: their `namespace`/`pod` labels are the
# workload's. node-exporter is not among them: its alerts are about a node, and its
# `namespace`/`pod` labels name the exporter's own pod.
WORKLOAD_EXPORTERS = ("kube-state-metrics", "kubelet", "cadvisor")
EXPORTERS = (*WORKLOAD_EXPORTERS, "node-exporter")
# Workload labels, most specific first; `job_name` is a Kubernetes Job (`job` is the scrape job)
WORKLOAD_LABELS = ("deployment", "statefulset", "daemonset", "cronjob", "job_name")
# Kubernetes' generated name suffixes use an alphabet without vowels (so no words):
# deployment pods end in -<replicaset hash>-<5>, daemonset pods in -<5>, statefulset pods in -<n>
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_POD_SUFFIX = re.compile(rf"(-{_SAFE}{{6,10}})?-{_SAFE}{{5}}$|-\d+$")


class Workload(NamedTuple):
    service: str
    exporter: str


def exporter_of(name: str) -> str | None:
    """The known exporter a `service`/`job` value names, release prefix or not."""
    for exporter in EXPORTERS:
        if name == exporter or name.endswith(f"-{exporter}"):
            return exporter
    return None


def workload_of(labels: Mapping[str, str], service: str) -> Workload | None:
    """The workload an exporter's alert is about, or None when `service` is no exporter."""
    exporter = exporter_of(service)
    if exporter is None:
        return None
    if exporter not in WORKLOAD_EXPORTERS:
        return Workload(service, service)
    for label in WORKLOAD_LABELS:
        if labels.get(label):
            return Workload(labels[label], service)
    if pod := labels.get("pod"):
        return Workload(_POD_SUFFIX.sub("", pod) or pod, service)
    if namespace := labels.get("namespace"):
        return Workload(namespace, service)  # a volume or quota: the namespace's team owns it
    return Workload(service, service)
