"""What a drill may say about its incidents at the end: status, severity, title, labels.

Notifications show who was told; some promises are about the record itself (after a raise
the incident shows the labels of the alert that raised it). Each expectation names an
incident by key or rule and lists only the fields it cares about; labels are a subset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.incidents.record import Incident


@dataclass(frozen=True)
class IncidentExpected:
    """An incident's state expected at the drill's end (`until`)."""

    incident: str  # a key or a rule name
    where: str
    status: str | None = None
    severity: str | None = None
    title: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def check(expected: IncidentExpected, found: list[Incident]) -> list[str]:
    """Problems (`file:line:col: incident X: ...`) of one expectation; [] when it holds."""
    head = f"{expected.where}: incident {expected.incident!r}"
    matching = [i for i in found if expected.incident in (i.key, i.rule)]
    if len(matching) != 1:
        return [f"{head}: {len(matching)} incidents match at the end, expected 1"]
    incident = matching[0]
    problems = [
        f"{head}: {name} is {actual!r}, expected {wanted!r}"
        for name, wanted, actual in (
            ("status", expected.status, incident.status),
            ("severity", expected.severity, incident.severity),
            ("title", expected.title, incident.title),
        )
        if wanted is not None and wanted != actual
    ]
    for name, wanted in sorted(expected.labels.items()):
        actual = incident.labels.get(name)
        if actual != wanted:
            problems.append(f"{head}: labels.{name} is {actual!r}, expected {wanted!r}")
    return problems
