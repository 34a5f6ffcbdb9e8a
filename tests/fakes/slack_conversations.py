"""The channel side of the fake Slack Web API: conversations, pins, user groups, views.

`FakeSlack` hands these methods to a `Conversations` it owns. It answers as Slack
documents (https://api.slack.com/methods/conversations.create and the pages of the
other methods): a taken name is `name_taken`, a bad one `invalid_name_specials` or
`invalid_name_maxlength`, archiving twice `already_archived`, and so on, and keeps the
state tests assert on: channels by name, their members, archived or not, pinned messages.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import Reply

_NAME = re.compile(r"[a-z0-9_-]+")


@dataclass
class Channel:
    """One channel as the fake knows it."""

    id: str
    name: str
    members: list[str] = field(default_factory=list)
    archived: bool = False
    pins: list[str] = field(default_factory=list)  # message ts


class Conversations:
    """Channels, memberships, pins and user groups; `handle` answers one API method."""

    def __init__(self, lock: threading.Condition) -> None:
        self._lock = lock
        self.channels: dict[str, Channel] = {}  # by name
        self.usergroups: dict[str, list[str]] = {}  # id -> user ids, set by tests
        self.views: list[dict[str, Any]] = []  # views.open bodies

    def take(self, name: str, by_someone_else: bool = True) -> Channel:
        """A channel that exists before alertgw asks (another team's, say)."""
        channel = self._new(name)
        channel.members.append("U0SOMEONE" if by_someone_else else "UALERTGW")
        return channel

    def named(self, name: str) -> Channel | None:
        return self.channels.get(name)

    def by_id(self, channel_id: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.id == channel_id), None)

    def archived_channel(self, channel_id: str) -> bool:
        channel = self.by_id(channel_id)
        return channel is not None and channel.archived

    def handle(self, method: str, body: dict[str, Any]) -> Reply | None:
        """The answer to `method`, or None when it is not one of these."""
        handler = {
            "conversations.create": self._create,
            "conversations.invite": self._invite,
            "conversations.archive": self._archive,
            "conversations.unarchive": self._unarchive,
            "pins.add": self._pin,
            "usergroups.users.list": self._usergroup,
            "views.open": self._view,
        }.get(method)
        if handler is None:
            return None
        with self._lock:
            return handler(body)

    def _create(self, body: dict[str, Any]) -> Reply:
        name = str(body.get("name", ""))
        if not name:
            return _error("invalid_name_required")
        if len(name) > 80:
            return _error("invalid_name_maxlength")
        if not _NAME.fullmatch(name):
            return _error("invalid_name_specials")
        if name in self.channels:
            return _error("name_taken")
        channel = self._new(name)
        return _ok(channel=_info(channel))

    def _invite(self, body: dict[str, Any]) -> Reply:
        channel = self.by_id(str(body.get("channel", "")))
        if channel is None:
            return _error("channel_not_found")
        if channel.archived:
            return _error("is_archived")
        users = [u for u in str(body.get("users", "")).split(",") if u]
        if not users:
            return _error("no_user")
        new = [u for u in users if u not in channel.members]
        if not new:
            return _error("already_in_channel")
        channel.members.extend(new)
        return _ok(channel=_info(channel))

    def _archive(self, body: dict[str, Any]) -> Reply:
        channel = self.by_id(str(body.get("channel", "")))
        if channel is None:
            return _error("channel_not_found")
        if channel.archived:
            return _error("already_archived")
        channel.archived = True
        return _ok()

    def _unarchive(self, body: dict[str, Any]) -> Reply:
        channel = self.by_id(str(body.get("channel", "")))
        if channel is None:
            return _error("channel_not_found")
        if not channel.archived:
            return _error("not_archived")
        channel.archived = False
        return _ok()

    def _pin(self, body: dict[str, Any]) -> Reply:
        channel = self.by_id(str(body.get("channel", "")))
        if channel is None:
            return _error("channel_not_found")
        ts = str(body.get("timestamp", ""))
        if not ts:
            return _error("no_item_specified")
        if ts in channel.pins:
            return _error("already_pinned")
        channel.pins.append(ts)
        return _ok()

    def _usergroup(self, body: dict[str, Any]) -> Reply:
        group = str(body.get("usergroup", ""))
        if group not in self.usergroups:
            return _error("no_such_subteam")
        return _ok(users=list(self.usergroups[group]))

    def _view(self, body: dict[str, Any]) -> Reply:
        view = body.get("view")
        if not body.get("trigger_id") or not view:
            return _error("invalid_arguments")
        self.views.append(body)
        return _ok(view={"id": f"V{len(self.views):08d}"})

    def _new(self, name: str) -> Channel:
        channel = Channel(
            "C" + hashlib.sha256(f"chan:{name}".encode()).hexdigest()[:10].upper(), name
        )
        self.channels[name] = channel
        return channel


def _info(channel: Channel) -> dict[str, Any]:
    return {"id": channel.id, "name": channel.name, "is_archived": channel.archived}


def _ok(**fields: Any) -> Reply:
    return Reply(200, {"ok": True, **fields})


def _error(error: str) -> Reply:
    return Reply(200, {"ok": False, "error": error})
