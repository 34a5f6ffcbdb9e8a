"""Every Prometheus metric alertgw exports (SPEC §10), defined once.

Gateways and workers are separate processes, each with its own registry and its own
`/metrics` endpoint (workers on ALERTGW_WORKER_METRICS_PORT); Prometheus sums them.
Gauges that describe shared state (intake lag, dead letters, open incidents) are read
from Redis at scrape time by a collector, so every process reports the same truth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Webhook handling takes milliseconds; alert-to-notification spans seconds to the
# minutes an escalation step may wait, so the two histograms get different buckets.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DELIVERY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

webhook_requests = Counter(
    "alertgw_webhook_requests_total",
    "Webhook requests by source and HTTP status.",
    ["source", "code"],
)
webhook_duration = Histogram(
    "alertgw_webhook_duration_seconds",
    "Time to verify, normalize, classify and hand off one webhook.",
    ["source"],
    buckets=REQUEST_BUCKETS,
)
alerts_received = Counter(
    "alertgw_alerts_received_total", "Alerts normalized from webhooks.", ["source", "status"]
)
alerts_classified = Counter(
    "alertgw_alerts_classified_total",
    "Alerts classified, by severity and rule.",
    ["severity", "rule"],
)
alerts_deduplicated = Counter(
    "alertgw_alerts_deduplicated_total",
    "Alerts that joined an already open incident (no new page).",
    ["source"],
)
incidents_open = Gauge("alertgw_incidents_open", "Open incidents by severity.", ["severity"])
escalation_steps = Counter(
    "alertgw_escalation_steps_total", "Escalation steps fired.", ["escalation", "step"]
)
auto_resolved = Counter(
    "alertgw_incidents_auto_resolved_total",
    "Incidents resolved by alertgw after their auto_resolve of quiet, by severity.",
    ["severity"],
)
notifications = Counter(
    "alertgw_notifications_total",
    "Notifications by channel (pagerduty, slack), action and outcome.",
    ["channel", "action", "outcome"],
)
postmortems_pending = Gauge(
    "alertgw_postmortems_pending",
    "Resolved incidents whose postmortem is not marked done yet, by severity.",
    ["severity"],
)
postmortems_overdue = Gauge(
    "alertgw_postmortems_overdue",
    "Postmortems not marked done past their due time, by severity.",
    ["severity"],
)
dead_letters = Gauge("alertgw_dead_letters", "Jobs that exhausted their retries.")
intake_lag = Gauge(
    "alertgw_intake_lag", "Hand-off entries waiting for a worker, by severity.", ["severity"]
)
alert_to_notification = Histogram(
    "alertgw_alert_to_notification_seconds",
    "From alert received to the vendor accepting the notification.",
    ["channel", "severity"],
    buckets=DELIVERY_BUCKETS,
)
rules_last_reload_success = Gauge(
    "alertgw_rules_last_reload_success", "1 if the last rules (re)load succeeded, else 0."
)
rules_last_reload_timestamp = Gauge(
    "alertgw_rules_last_reload_timestamp_seconds", "Unix time of the last rules (re)load attempt."
)
callbacks = Counter(
    "alertgw_callbacks_total",
    "PagerDuty and Slack callbacks by vendor, event and outcome (applied, noop, unknown, ...).",
    ["vendor", "event", "outcome"],
)
alerts_muted = Counter(
    "alertgw_alerts_muted_total",
    "Firing alerts recorded but not notified, by reason (silence, inhibition) and severity.",
    ["reason", "severity"],
)

incidents_flapping = Gauge(
    "alertgw_incidents_flapping",
    "Incidents flapping now (resolves held, no pages until quiet), by severity.",
    ["severity"],
)
storm_active = Gauge(
    "alertgw_storm_active",
    "1 while a target is in an alert storm (new incidents folded into one), else 0.",
    ["target"],
)
incidents_folded = Counter(
    "alertgw_incidents_folded_total",
    "Incidents folded into a storm incident instead of paging a target, by severity.",
    ["target", "severity"],
)
heartbeat_beats = Counter(
    "alertgw_heartbeat_beats_total",
    "Heartbeat beats recorded, by heartbeat and how they came (alert, ping).",
    ["heartbeat", "via"],
)
heartbeat_misses = Counter(
    "alertgw_heartbeat_misses_total",
    "Heartbeats that went quiet past period + grace (each opens an incident).",
    ["heartbeat"],
)


class RefreshingRegistry(CollectorRegistry):
    """The process's metrics, with the shared-state gauges read from Redis first.

    Serve this instead of the default registry: each scrape calls `refresh` (which sets
    incidents_open, dead_letters and intake_lag from Redis), then reports everything.
    With Redis down the scrape still answers, with the last values read.
    """

    def __init__(self, refresh: Callable[[], None]) -> None:
        super().__init__(auto_describe=False)
        self._refresh = refresh

    def collect(self) -> Iterator[Metric]:
        try:
            self._refresh()
        except RedisError as error:
            log.warning("metrics: cannot read shared state from Redis (%s)", type(error).__name__)
        yield from REGISTRY.collect()
