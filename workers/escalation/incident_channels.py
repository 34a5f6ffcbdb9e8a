"""A Slack channel of its own for each incident of the severities the rules name.

`slack.incident_channel` in the rules. When such an incident opens, or is raised to such
a severity, the `open_channel` job (on the chat queue) creates the channel, or reuses the
one alertgw made for the same name before (a key that fires again the same day); a name
taken by anything else gets the incident's id appended. It invites the rules' list (user
groups expanded) and whoever acknowledges through Slack, posts the incident card and
pins it, and links the channel from the incident's #incidents thread. Each step is
recorded in `<p>chan:<inc>:<key>` before the next, so a re-run (a retry, a later
acknowledgement) only does what is left.

After resolve, the channel is archived `archive_after` later (default 48 h), or when the
incident's postmortem is marked done if that comes later: the check is a member
`ch:<inc>:<key>` of the reminder set, swept like the reminders (`workers.escalation.reminders`),
looked at again hourly while the postmortem is pending, and moved to "now" by marking
it done (`core.postmortems`). A channel reused meanwhile by a later incident of the
same key stays open for that one.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta

from core import slack_people
from core.incidents.record import Incident, decoded
from core.postmortems import PostmortemStore, channel_member
from core.rules.model import IncidentChannelPolicy
from workers.context import Context, current
from workers.delivery.jobs import deliver, rows_of
from workers.delivery.scheduling import backoff, digest, schedule
from workers.delivery.send import view
from workers.escalation import path as escalation
from workers.notifiers.base import NotifierError, RetryableError
from workers.notifiers.slack_channels import SlackChannels
from workers.notifiers.slack_messages import fallback_text, incident_blocks

log = logging.getLogger(__name__)

MEMBER_PREFIX = "ch:"
RECHECK = timedelta(hours=1)  # archive check while the postmortem is pending
_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")


def channel_name(template: str, incident: Incident) -> str:
    """The template filled in: lower-case, Slack's characters only, at most 80."""
    fields = {
        "date": incident.opened_at.strftime("%Y-%m-%d"),
        "service": incident.service or "incident",
        "environment": incident.environment or "",
        "severity": incident.severity,
        "rule": incident.rule,
        "id": short_id(incident),
    }
    name = template.format(**fields).lower()
    return _NOT_ALLOWED.sub("-", name).strip("-")[:80]


def short_id(incident: Incident) -> str:
    """Six characters naming this incarnation of the incident."""
    return hashlib.sha256(f"{incident.key}\0{incident.inc}".encode()).hexdigest()[:6]


def wanted(ctx: Context, incident: Incident) -> IncidentChannelPolicy | None:
    rule = ctx.policy.incident_channel
    return rule if rule is not None and incident.severity in rule.severities else None


def requested(ctx: Context, incident: Incident, version: int) -> None:
    """Ask for the channel's steps (opened, raised, acknowledged): a job on the chat
    queue, so a slow Slack never holds a page."""
    if wanted(ctx, incident) is None or incident.status == "resolved":
        return
    job_id = f"chan-{digest(incident.key, incident.inc)}-{version}"
    schedule(ctx, None, open_channel, [incident.key, incident.inc, 0], job_id, ctx.chat_queue)


def open_channel(key: str, inc: str, attempt: int = 0) -> None:
    """The channel's steps that are not done yet (a job; see the module's docstring)."""
    ctx = current()
    incident = ctx.store.get(key)
    rule = wanted(ctx, incident) if incident is not None and incident.inc == inc else None
    if incident is None or rule is None or incident.status == "resolved":
        return
    if ctx.dry_run or not ctx.settings.slack_bot_token:
        why = "dry-run" if ctx.dry_run else "no Slack bot token"
        text = f"would open #{channel_name(rule.name, incident)} ({why})"
        if ctx.redis.hsetnx(_record_key(ctx, inc, key), "skipped", "1"):
            ctx.store.note(key, "dry_run" if ctx.dry_run else "skipped", text, ctx.clock())
        return
    try:
        _steps(ctx, rule, incident)
    except RetryableError as error:
        if attempt + 1 >= ctx.max_attempts:
            _failed(ctx, key, error)
            return
        at = ctx.clock() + backoff(ctx, attempt, error.retry_after or 0.0)
        job_id = f"chan-{digest(key, inc)}-retry-{attempt + 1}"
        schedule(ctx, at, open_channel, [key, inc, attempt + 1], job_id, ctx.chat_queue)
    except NotifierError as error:
        _failed(ctx, key, error)


def _steps(ctx: Context, rule: IncidentChannelPolicy, incident: Incident) -> None:
    key, inc, record_key = incident.key, incident.inc, _record_key(ctx, incident.inc, incident.key)
    record = _record(ctx, inc, key)
    slack = channels(ctx)
    if "id" not in record:
        name, channel = _create_or_reuse(ctx, slack, channel_name(rule.name, incident), incident)
        ctx.redis.hset(record_key, mapping={"id": channel, "name": name})
        ctx.redis.hset(_ours_key(ctx), name, f"{channel}|{inc}")
        record.update(id=channel, name=name)
        ctx.store.note(key, "channel", f"incident channel #{name} ({channel})", ctx.clock())
    channel = record["id"]
    people = [*rule.invite, *_acknowledger(ctx, incident)]
    invited = set(record.get("invited", "").split(",")) - {""}
    if set(people) - invited:
        slack.invite(channel, [p for p in people if p not in invited])
        ctx.redis.hset(record_key, "invited", ",".join(sorted(invited | set(people))))
    if "card_ts" not in record:
        card = view(ctx.policy, incident)
        ts = slack.post(channel, fallback_text(card), incident_blocks(card))
        ctx.redis.hset(record_key, "card_ts", ts)
        record["card_ts"] = ts
    if "pinned" not in record:
        slack.pin(channel, record["card_ts"])
        ctx.redis.hset(record_key, "pinned", "1")
    if "linked" not in record:
        text = f"Incident channel: <#{channel}|{record['name']}>"
        notified = ctx.store.notified(key)
        deliver(
            key, f"{inc}:channel", rows_of(escalation.updates(ctx.policy, notified, "note", text))
        )
        ctx.redis.hset(record_key, "linked", "1")


def _create_or_reuse(
    ctx: Context, slack: SlackChannels, name: str, incident: Incident
) -> tuple[str, str]:
    """(name, id): a new channel, or ours of that name; else the name with the id."""
    names = [name, f"{name[: 80 - 7]}-{short_id(incident)}"]
    for candidate in names:
        created = slack.create(candidate)
        if created is not None:
            return candidate, created
        ours = ctx.redis.hget(_ours_key(ctx), candidate)
        if ours is not None:
            channel = decoded(ours).split("|", 1)[0]
            slack.unarchive(channel)  # "not_archived" is fine
            return candidate, channel
    raise RetryableError(f"Slack channel: #{names[-1]} is taken too")


def _acknowledger(ctx: Context, incident: Incident) -> list[str]:
    """The Slack user id of whoever acknowledged, when they did it in Slack."""
    if not incident.lead:
        return []
    user = slack_people.user_id(ctx.redis, ctx.prefix, incident.lead)
    return [user] if user else []


def resolved(ctx: Context, incident: Incident) -> None:
    """Queue the archive check of the incident's channel, if it has one."""
    rule = ctx.policy.incident_channel
    if rule is None or not ctx.redis.hexists(_record_key(ctx, incident.inc, incident.key), "id"):
        return
    at = (incident.resolved_at or ctx.clock()) + rule.archive_after
    member = channel_member(incident.inc, incident.key)
    ctx.redis.zadd(ctx.store.reminders_key, {member: at.timestamp()}, nx=True)


def archive_due(ctx: Context, member: str) -> tuple[str, datetime] | None:
    """Archive the channel unless its postmortem is pending (then look again later)."""
    inc, key = member.removeprefix(MEMBER_PREFIX).split(":", 1)
    record = {
        decoded(k): decoded(v) for k, v in ctx.redis.hgetall(_record_key(ctx, inc, key)).items()
    }
    if "id" not in record or "archived" in record:
        return None
    postmortem = PostmortemStore(ctx.store).get(key, inc)
    if postmortem is not None and not postmortem.done:
        return member, ctx.clock() + RECHECK
    ours = ctx.redis.hget(_ours_key(ctx), record["name"])
    if ours is not None and decoded(ours) != f"{record['id']}|{inc}":
        return None  # reused by a later incident of the key: that one archives it
    try:
        channels(ctx).archive(record["id"])
    except RetryableError:
        return member, ctx.clock() + timedelta(minutes=5)
    except NotifierError as error:
        _failed(ctx, key, error)
        return None
    ctx.redis.hset(_record_key(ctx, inc, key), "archived", "1")
    ctx.store.note(key, "channel", f"archived #{record['name']}", ctx.clock())
    return None


def say(ctx: Context, key: str, inc: str, tag: str, text: str) -> None:
    """A line in the incident's channel, if it has one (once per tag)."""
    record_key = _record_key(ctx, inc, key)
    channel = ctx.redis.hget(record_key, "id")
    if channel is None or ctx.redis.hexists(record_key, "archived"):
        return
    marker = f"{record_key}:said:{tag}"
    if not ctx.redis.set(marker, "1", nx=True, ex=7 * 86400):
        return
    try:
        channels(ctx).post(decoded(channel), text)
    except NotifierError as error:
        ctx.redis.delete(marker)
        log.warning("incident channel message failed: %s", error, extra={"incident": key})


def channels(ctx: Context) -> SlackChannels:
    token = ctx.settings.slack_bot_token
    return SlackChannels(
        str(ctx.settings.slack_api_url), token.get_secret_value() if token else None
    )


def _failed(ctx: Context, key: str, error: NotifierError) -> None:
    log.warning("incident channel: %s", error, extra={"incident": key})
    ctx.store.note(key, "delivery_failed", f"incident channel: {error}", ctx.clock())


def _record(ctx: Context, inc: str, key: str) -> dict[str, str]:
    raw = ctx.redis.hgetall(_record_key(ctx, inc, key))
    return {decoded(k): decoded(v) for k, v in raw.items()}


def _record_key(ctx: Context, inc: str, key: str) -> str:
    return f"{ctx.prefix}chan:{inc}:{key}"


def _ours_key(ctx: Context) -> str:
    """Channel name -> "<id>|<inc>": the channels alertgw made, and for which incident."""
    return f"{ctx.prefix}slack-channels"
