"""Playing one drill event: the HTTP request a source, an operator or a vendor would make.

Every event goes through the gateway app (webhooks, the API, the PagerDuty and Slack
callbacks), never straight into the stores, so a drill tries what production runs.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from alertgw.drill.spec import Drill, Event, OperateModel, PostModel, SilenceModel
from alertgw.drill.world import DrillRunError, World
from core.chat_actions import ACK_ACTION_ID, RESOLVE_ACTION_ID

API = "/api/v1"
PAGERDUTY_EVENTS = {
    "ack": "incident.acknowledged",
    "unack": "incident.unacknowledged",
    "resolve": "incident.resolved",
}
SLACK_BUTTONS = {"ack": ACK_ACTION_ID, "resolve": RESOLVE_ACTION_ID}
_serial = itertools.count(1)  # webhook ids and click timestamps, unique per event


class Player:
    """Plays events into a world; remembers incident keys seen and silences by name."""

    def __init__(self, world: World, drill: Drill) -> None:
        self.world = world
        self.resolve_path = drill.resolve_path
        self.keys: list[str] = []
        self.silences: dict[str, str] = {}

    def play(self, event: Event) -> None:
        handler = getattr(self, f"_{event.kind}")
        handler(event, event.spec)

    def _post(self, event: Event, post: PostModel) -> None:
        headers = {"content-type": "application/json", **post.headers}
        if post.file is not None:
            body = self.resolve_path(post.file).read_bytes()
        else:
            payload = post.body if post.body is not None else self._envelope(post.alerts or [])
            body = json.dumps(payload).encode()
        answer = self.world.http.post(f"/webhooks/{post.source}", content=body, headers=headers)
        reply = self._check(event, answer, 202)
        for alert in reply.get("alerts", []):
            if alert["incident"] not in self.keys:
                self.keys.append(alert["incident"])

    def _envelope(self, alerts: list[dict[str, Any]]) -> dict[str, Any]:
        """An Alertmanager webhook v4 body around the drill's alerts, stamped with now."""
        now = self.world.clock().isoformat()
        filled = []
        for alert in alerts:
            status = alert.get("status", "firing")
            ends = now if status == "resolved" else "0001-01-01T00:00:00Z"
            filled.append({"status": status, "startsAt": now, "endsAt": ends, **alert})
        firing = any(a["status"] == "firing" for a in filled)
        return {
            "version": "4",
            "status": "firing" if firing else "resolved",
            "receiver": "alertgw",
            "alerts": filled,
        }

    def _ack(self, event: Event, operate: OperateModel) -> None:
        self._operate(event, "ack", operate)

    def _unack(self, event: Event, operate: OperateModel) -> None:
        self._operate(event, "unack", operate)

    def _resolve(self, event: Event, operate: OperateModel) -> None:
        self._operate(event, "resolve", operate)

    def _note(self, event: Event, operate: OperateModel) -> None:
        key = self._incident(event, operate.incident)
        body = {"by": operate.by, "note": operate.note}
        answer = self.world.http.post(f"{API}/incidents/{key}/notes", json=body, **self._auth())
        self._check(event, answer, 201)

    def _operate(self, event: Event, kind: str, operate: OperateModel) -> None:
        key = self._incident(event, operate.incident)
        via = operate.via or ("pagerduty" if kind == "unack" else "api")
        if via == "pagerduty":
            self._pagerduty(event, kind, key, operate.by)
        elif via == "slack":
            self._slack(event, kind, key, operate.by)
        else:
            path = {"ack": "ack", "resolve": "resolve"}[kind]
            body = {"by": operate.by, "note": operate.note}
            answer = self.world.http.post(
                f"{API}/incidents/{key}/{path}", json=body, **self._auth()
            )
            # 409: already in that state (a race lost to another channel), as in production
            self._check(event, answer, 200, 409)

    def _pagerduty(self, event: Event, kind: str, key: str, by: str) -> None:
        serial = next(_serial)
        envelope = {
            "event": {
                "id": f"drill-{serial}",
                "event_type": PAGERDUTY_EVENTS[kind],
                "resource_type": "incident",
                "agent": {"id": "PDRILL", "summary": by},
                "data": {"id": f"Q{serial}", "incident_key": key},
            }
        }
        answer = self.world.http.post("/webhooks/pagerduty", json=envelope)
        self._check(event, answer, 202)

    def _slack(self, event: Event, kind: str, key: str, by: str) -> None:
        serial = next(_serial)
        interaction = {
            "type": "block_actions",
            "user": {"id": "UDRILL", "username": by, "name": by},
            "container": {"message_ts": f"{serial}.000", "channel_id": "CDRILL"},
            "actions": [{"action_id": SLACK_BUTTONS[kind], "value": key, "action_ts": f"{serial}"}],
        }
        answer = self.world.http.post("/slack/actions", data={"payload": json.dumps(interaction)})
        self._check(event, answer, 200)

    def _silence(self, event: Event, silence: SilenceModel) -> None:
        body: dict[str, Any] = {
            "matchers": silence.matchers,
            "comment": silence.comment,
            "created_by": "drill",
        }
        if silence.duration is not None:
            body["duration"] = silence.duration
        if silence.starts is not None:
            body["starts_at"] = (self.world.start + silence.starts).isoformat()
        if silence.ends is not None:
            body["ends_at"] = (self.world.start + silence.ends).isoformat()
        answer = self.world.http.post(f"{API}/silences", json=body, **self._auth())
        made = self._check(event, answer, 201)
        if silence.name:
            self.silences[silence.name] = str(made["id"])

    def _expire(self, event: Event, name: str) -> None:
        if name not in self.silences:
            raise DrillRunError(f"{event.where}: expire: no silence named {name!r} was made")
        answer = self.world.http.delete(f"{API}/silences/{self.silences[name]}", **self._auth())
        self._check(event, answer, 200)

    def _incident(self, event: Event, selector: str | None) -> str:
        live = self.world.ctx.store.open_incidents(self.world.clock())
        if selector is None:
            found = [i.key for i in live]
            what = "the only live incident"
        else:
            found = [i.key for i in live if selector in (i.key, i.rule)]
            if not found and any(selector == k for k in self.keys):
                found = [selector]  # resolved or forgotten: let the gateway say so
            what = f"incident {selector!r} (a key or a rule name)"
        if len(found) != 1:
            raise DrillRunError(
                f"{event.where}: {event.kind}: cannot pick {what}: "
                f"{len(found)} live incidents match ({', '.join(sorted(found)) or 'none'})"
            )
        return found[0]

    def _auth(self) -> dict[str, Any]:
        return {"headers": {"authorization": f"Bearer {self.world.token}"}}

    def _check(self, event: Event, answer: Any, *ok: int) -> dict[str, Any]:
        if answer.status_code not in ok:
            raise DrillRunError(
                f"{event.where}: {event.kind}: the gateway answered "
                f"{answer.status_code}: {answer.text[:300]}"
            )
        if "json" not in answer.headers.get("content-type", ""):
            return {}  # Slack's callback answers an empty 200
        reply: dict[str, Any] = answer.json()
        return reply
