"""The Slack messages for an incident: the INCIDENT DETECTED root (SPEC §1) and replies.

Pure functions from an IncidentView to Block Kit JSON, so the layout is tested without a
server. Limits from https://api.slack.com/reference/block-kit/blocks: section fields
<= 2000 characters, header text <= 150, button values <= 2000, block_id <= 255.
"""

from __future__ import annotations

from typing import Any

from core.chat_actions import (
    ACK_ACTION_ID,
    POST_UPDATE_ACTION_ID,
    POSTMORTEM_DONE_ACTION_ID,
    RESOLVE_ACTION_ID,
)
from workers.notifiers.base import IncidentView, Notification

STATUS_TEXT = {"open": "Investigating", "acknowledged": "Acknowledged", "resolved": "Resolved"}
MAX_FIELD = 2000
MAX_TEXT = 3000  # section text

Block = dict[str, Any]


def escape(text: str) -> str:
    """Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_text(incident: IncidentView) -> str:
    """The root's Status: the last status update posted (the plan's words), else the
    incident's state."""
    return incident.posted_status or STATUS_TEXT[incident.status]


def headline(incident: IncidentView) -> str:
    """`[SEV1] checkout: Checkout 5xx` (the PagerDuty summary, for notification previews)."""
    where = f"{incident.service}: " if incident.service else ""
    return f"[{incident.severity}] {where}{incident.title}"


def _impact(incident: IncidentView) -> str:
    return incident.summary or incident.title


def _source(incident: IncidentView, markup: bool) -> str:
    if not incident.links:
        return incident.source
    link = incident.links[0]
    if markup:
        return f"{incident.source} <{link.href}|{escape(link.text or 'link')}>"
    return f"{incident.source} {link.href}"


def fallback_text(incident: IncidentView) -> str:
    """The SPEC §1 message as plain text: the notification preview and the no-blocks view."""
    return "\n".join(
        [
            "INCIDENT DETECTED",
            f"Severity: {incident.severity}",
            f"Impact: {_impact(incident)}",
            f"Status: {status_text(incident)}",
            f"Lead: {incident.lead or 'unassigned'}",
            f"Source: {_source(incident, markup=False)}",
        ]
    )


def incident_blocks(incident: IncidentView, buttons: bool = True) -> list[Block]:
    """The root message: title, the SPEC §1 fields, context, and the action buttons."""
    fields = [
        ("Severity", incident.severity),
        ("Impact", escape(_impact(incident))),
        ("Status", status_text(incident)),
        ("Lead", escape(incident.lead or "unassigned")),
        ("Source", _source(incident, markup=True)),
    ]
    where = ", ".join(escape(x) for x in (incident.service, incident.environment) if x)
    context = f"Incident `{escape(incident.key)}` · rule `{escape(incident.rule)}`"
    context += f" · {incident.alert_count} alert{'s' if incident.alert_count != 1 else ''}"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "INCIDENT DETECTED"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _cut(
                    f"*{escape(incident.title)}*" + (f"\n{where}" if where else ""), MAX_TEXT
                ),
            },
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*{name}*\n{value}", MAX_FIELD)}
                for name, value in fields
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(context, MAX_FIELD)}]},
    ]
    actions = _buttons(incident) if buttons else []
    if actions:
        # a new block_id per version and status makes Slack re-render the buttons on edit
        block_id = f"incident_actions:v{incident.version}:{incident.status}"
        blocks.append({"type": "actions", "block_id": block_id, "elements": actions})
    return blocks


def _buttons(incident: IncidentView) -> list[Block]:
    if incident.status == "resolved":
        return []
    resolve: Block = {
        "type": "button",
        "action_id": RESOLVE_ACTION_ID,
        "text": {"type": "plain_text", "text": "Resolve"},
        "value": incident.key,
        "style": "danger",
        "confirm": {
            "title": {"type": "plain_text", "text": "Resolve incident?"},
            "text": {
                "type": "plain_text",
                "text": "This also resolves its PagerDuty alerts and stops the escalation.",
            },
            "confirm": {"type": "plain_text", "text": "Resolve"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        },
    }
    if incident.status == "acknowledged":
        return [resolve]
    acknowledge: Block = {
        "type": "button",
        "action_id": ACK_ACTION_ID,
        "text": {"type": "plain_text", "text": "Acknowledge"},
        "value": incident.key,
        "style": "primary",
    }
    return [acknowledge, resolve]


def reply_text(notification: Notification) -> str:
    """The line a thread reply says: the caller's text, else one per action."""
    if notification.text:
        return notification.text
    incident = notification.incident
    defaults = {
        "trigger": f"Incident opened: {headline(incident)}",
        "escalate": "Escalated",
        "acknowledge": f"Acknowledged by {incident.lead or 'someone'}",
        "resolve": "Resolved",
        "severity_raised": f"Severity raised to {incident.severity}",
        "status_update_due": f"Status update due: post where {incident.severity} stands",
        "status_update": f"Status: {status_text(incident)}",
        "postmortem_due": "Postmortem due",
        "note": "Note",
        "refresh": "Updated",
    }
    return defaults[notification.action]


def reply_blocks(text: str) -> list[Block]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": _cut(escape(text), MAX_TEXT)}}]


def reply_with_button(notification: Notification) -> list[Block]:
    """A thread reply, with the button that answers it: "Post update" under a status
    update reminder, "Mark postmortem done" under a postmortem reminder."""
    blocks = reply_blocks(reply_text(notification))
    label, action_id = {
        "status_update_due": ("Post update", POST_UPDATE_ACTION_ID),
        "postmortem_due": ("Mark postmortem done", POSTMORTEM_DONE_ACTION_ID),
    }.get(notification.action, ("", ""))
    if action_id:
        button = {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": label},
            "value": notification.incident.key,
        }
        blocks.append({"type": "actions", "block_id": action_id, "elements": [button]})
    return blocks


def standalone(notification: Notification, buttons: bool = True) -> tuple[str, list[Block]]:
    """An update with no thread to go under: its line above the whole incident message."""
    incident = notification.incident
    if notification.action == "trigger":
        return fallback_text(incident), incident_blocks(incident, buttons)
    line = reply_text(notification)
    text = f"{line}\n{fallback_text(incident)}"
    return text, reply_blocks(line) + incident_blocks(incident, buttons)
