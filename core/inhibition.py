"""Inhibition: an open incident mutes the notifications of lesser alerts (Alertmanager rules).

Pure: the caller passes the label sets of the open incidents and the policy's compiled
`InhibitRule`s, so the decision needs no Redis and no clock. For example, with

    inhibit:
      - source_matchers: ['severity="SEV1"']
        target_matchers: ['severity=~"SEV3|SEV4"']
        equal: [service]

an open SEV1 on `service=checkout` mutes SEV3 and SEV4 alerts of `checkout` while it is
open. Muted alerts are still recorded; their resolves still go out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from core.models import Severity
from core.rules.model import InhibitRule, Matcher


def with_severity(labels: Mapping[str, str], severity: Severity) -> dict[str, str]:
    """The label set inhibit matchers see: the labels plus `severity` (SEV1..SEV4)."""
    return {**labels, "severity": severity}


def inhibited_by(
    labels: Mapping[str, str],
    severity: Severity,
    sources: Iterable[Mapping[str, str]],
    rules: Sequence[InhibitRule],
) -> Mapping[str, str] | None:
    """The label set of an open incident that inhibits this alert, or None.

    `labels` and `severity` describe the firing alert; `sources` are the label sets of
    the open (or acknowledged) incidents, each already including its `severity` (see
    `with_severity`), excluding the alert's own incident. As in Alertmanager, when the
    alert also matches a rule's source side, sources that match its target side are
    ignored for that rule, so two alike alerts cannot mute each other.
    """
    if not rules:
        return None
    target = with_severity(labels, severity)
    candidates = list(sources)
    for rule in rules:
        if not _all_match(rule.target_matchers, target):
            continue
        two_sided = _all_match(rule.source_matchers, target)
        for source in candidates:
            if two_sided and _all_match(rule.target_matchers, source):
                continue
            if rule.inhibits(source, target):
                return source
    return None


def _all_match(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
