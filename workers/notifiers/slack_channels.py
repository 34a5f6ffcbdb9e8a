"""Slack incident channels through slack_sdk: create, invite, post and pin, archive.

Each method is one step of `workers.escalation.incident_channels` and is safe to repeat: answers
that mean "already done" (`already_in_channel`, `already_pinned`, `already_archived`,
`not_archived`) count as success. Rate-limited calls are retried after Slack's
Retry-After by slack_sdk (twice); errors past that are RetryableError / PermanentError
like the notifier's. Scopes: channels:manage (create, invite, archive, unarchive),
pins:write, usergroups:read (to invite user groups), chat:write.
"""

from __future__ import annotations

from typing import Any

from workers.notifiers.slack import DEFAULT_TIMEOUT, call_api, web_client

RATE_LIMIT_RETRIES = 2
NAME_TAKEN = "name_taken"
# answers that mean the step was done before (a re-run): success
DONE_ALREADY = frozenset(
    {"already_in_channel", "already_pinned", "already_archived", "not_archived"}
)


class SlackChannels:
    """The channel calls, with the bot token (never in an error or a log line)."""

    def __init__(self, api_url: str, bot_token: str | None, timeout: float = DEFAULT_TIMEOUT):
        self._web = web_client(api_url, bot_token, timeout, retries=RATE_LIMIT_RETRIES)

    def create(self, name: str) -> str | None:
        """A new public channel's id; None when the name is taken."""
        answer = self._call(f"create #{name}", "conversations.create", name=name, taken_ok=True)
        return str(answer["channel"]["id"]) if answer else None

    def unarchive(self, channel: str) -> None:
        self._call(f"unarchive {channel}", "conversations.unarchive", channel=channel)

    def invite(self, channel: str, ids: list[str]) -> list[str]:
        """Invite users (U...) and the members of user groups (S...); the users invited."""
        users: list[str] = []
        for one in ids:
            if one.startswith("S"):
                answer = self._call(f"members of {one}", "usergroups.users.list", usergroup=one)
                users += [str(u) for u in answer["users"]] if answer else []
            else:
                users.append(one)
        users = list(dict.fromkeys(users))
        if users:
            where = f"invite to {channel}"
            self._call(where, "conversations.invite", channel=channel, users=",".join(users))
        return users

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None) -> str:
        """Post a message; its ts."""
        body: dict[str, Any] = {"channel": channel, "text": text}
        if blocks:
            body["blocks"] = blocks
        answer = self._call(f"post in {channel}", "chat.postMessage", **body)
        assert answer is not None
        return str(answer["ts"])

    def pin(self, channel: str, ts: str) -> None:
        self._call(f"pin in {channel}", "pins.add", channel=channel, timestamp=ts)

    def archive(self, channel: str) -> None:
        self._call(f"archive {channel}", "conversations.archive", channel=channel)

    def _call(
        self, what: str, method: str, taken_ok: bool = False, **body: Any
    ) -> dict[str, Any] | None:
        accept = DONE_ALREADY | {NAME_TAKEN} if taken_ok else DONE_ALREADY
        answer = call_api(self._web, f"Slack channel: {what}", method, accept, **body)
        return dict(answer.data) if answer is not None and isinstance(answer.data, dict) else None
