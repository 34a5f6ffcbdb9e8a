"""Who acted in Slack, by the name alertgw records them under, and their Slack user id.

The gateway's Slack callback records it when someone acknowledges with the button (the
incident's lead is then "@jane (Slack)"); the workers read it to invite the
acknowledger into the incident's channel (`workers.escalation.incident_channels`).
"""

from __future__ import annotations

import redis

TTL_SECONDS = 90 * 86400  # people come back; a stale id only costs a failed invite


def users_key(prefix: str) -> str:
    """Hash: recorded name ("@jane (Slack)") -> Slack user id (U...)."""
    return f"{prefix}slack-users"


def remember(client: redis.Redis, prefix: str, name: str, user_id: str) -> None:
    with client.pipeline(transaction=False) as pipe:
        pipe.hset(users_key(prefix), name, user_id)
        pipe.expire(users_key(prefix), TTL_SECONDS)
        pipe.execute()


def user_id(client: redis.Redis, prefix: str, name: str) -> str | None:
    found = client.hget(users_key(prefix), name)
    return found.decode() if isinstance(found, bytes) else found
