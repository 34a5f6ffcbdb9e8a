"""The postmortem draft: Markdown from alertgw's own record of a resolved incident.

Pure (no Redis, no clock): the incident, its timeline and the postmortem's state in, the
document out. What alertgw knows is filled in (times, who was paged and who
acknowledged, the full timeline, the links); what only people know gets the plan's
headings with a prompt each (Impact, Root cause, Contributing factors, Fix, Prevention)
and an empty Action items table. All times are UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from core.incidents.record import Incident, TimelineEntry
from core.postmortems import Postmortem

PROMPTS = (
    ("Impact", "Who and what was affected, for how long, and how badly (users, requests, "
     "revenue, data). Start from the summary above."),
    ("Root cause", "Why it happened: the underlying cause, not the trigger. Ask why until "
     "the answer is something you can change."),
    ("Contributing factors", "What made it worse, slower to detect or slower to fix "
     "(missing alerts, unclear runbooks, risky deploys, load)."),
    ("Fix", "What stopped the bleeding during the incident, and what fixed it for good."),
    ("Prevention", "What keeps this class of incident from happening again, or makes it "
     "smaller and faster to resolve next time."),
)  # fmt: skip
PAGED = ("trigger to ", "escalate to ")


def render(incident: Incident, timeline: list[TimelineEntry], postmortem: Postmortem) -> str:
    """The draft of `postmortem`, from `incident` and `timeline` as alertgw recorded them."""
    parts = [
        _heading(incident, postmortem),
        _summary(incident, timeline),
        _times(incident, timeline),
        _people(timeline),
        _timeline(timeline),
        _links(incident),
        *(f"## {title}\n\n<!-- {prompt} -->\n" for title, prompt in PROMPTS),
        _action_items(),
    ]
    return "\n".join(parts)


def _heading(incident: Incident, postmortem: Postmortem) -> str:
    state = (
        f"done: {postmortem.url} (marked by {postmortem.done_by} at {_at(postmortem.done_at)})"
        if postmortem.done_at
        else f"draft, due {_at(postmortem.due_at)}"
    )
    return (
        f"# Postmortem: {_cell(incident.title)}\n\n"
        f"Incident `{incident.key}` ({incident.severity}), resolved {_at(incident.resolved_at)}. "
        f"Status: {state}.\n\n"
        "Drafted by alertgw from its own record of the incident: check the facts, then "
        "fill in what only people know. All times are UTC.\n"
    )


def _summary(incident: Incident, timeline: list[TimelineEntry]) -> str:
    raises = [e for e in timeline if e.kind == "severity_raised"]
    severity: str = incident.severity
    if raises:
        severity += " (" + "; ".join(f"{_cell(e.text)} at {_at(e.at)}" for e in raises) + ")"
    rows = [
        ("Title", _cell(incident.title)),
        ("Severity", severity),
        ("Impact (from the alert)", _cell(incident.summary or incident.title)),
        ("Services", _cell(incident.service or "unknown")),
        ("Environments", _cell(incident.environment or "unknown")),
        ("Rule", f"`{incident.rule}`"),
        ("Source", incident.source),
        ("Alerts", str(incident.alert_count)),
    ]
    return "## Summary\n\n" + _table(("", ""), rows)


def _times(incident: Incident, timeline: list[TimelineEntry]) -> str:
    acked = _first(timeline, "acknowledged")
    resolved = incident.resolved_at
    rows = [
        ("Start (first alert received)", _at(min(incident.received_at, incident.opened_at))),
        ("Detection (incident opened)", _at(incident.opened_at)),
        ("Acknowledged", f"{_at(acked.at)} by {_cell(acked.text)}" if acked else "never"),
        ("Resolved", f"{_at(resolved)} by {_cell(incident.resolved_by or 'unknown')}"),
        ("Time to acknowledge", _took(incident.opened_at, acked.at if acked else None)),
        ("Time to resolve", _took(incident.opened_at, resolved)),
    ]
    return "## Key times\n\n" + _table(("", "UTC"), rows)


def _people(timeline: list[TimelineEntry]) -> str:
    rows = [
        (_at(e.at), _cell(e.text))
        for e in timeline
        if e.kind in ("notified", "dry_run")
        and e.text.removeprefix("would send ").startswith(PAGED)
    ]
    rows += [
        (_at(e.at), f"acknowledged by {_cell(e.text)}")
        for e in timeline
        if e.kind == "acknowledged"
    ]
    rows.sort()
    body = _table(("When", "Who"), rows) if rows else "Nobody was paged.\n"
    return "## Who was paged\n\n" + body


def _timeline(timeline: list[TimelineEntry]) -> str:
    rows = [(_at(e.at), e.kind.replace("_", " "), _cell(e.text)) for e in timeline]
    return "## Timeline\n\n" + _table(("When (UTC)", "Event", "Detail"), rows)


def _links(incident: Incident) -> str:
    lines = [f"- [{_cell(link.text or link.href)}]({link.href})" for link in incident.links]
    return "## Links\n\n" + ("\n".join(lines) + "\n" if lines else "None recorded.\n")


def _action_items() -> str:
    prompt = "<!-- One row per action: what, who owns it, by when. -->\n\n"
    return "## Action items\n\n" + prompt + _table(("Item", "Owner", "Due"), [("", "", "")])


def _paged(text: str) -> bool:
    return text.removeprefix("would send ").startswith(PAGED)  # a dry run's record too


def _first(timeline: list[TimelineEntry], kind: str) -> TimelineEntry | None:
    return next((e for e in timeline if e.kind == kind), None)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe in one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _at(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "never"


def _took(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "n/a"
    seconds = int(max(end - start, timedelta(0)).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"
