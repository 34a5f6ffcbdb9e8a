"""The ids of the buttons an incident's Slack message carries: the workers put them on the
message (workers/notifiers/slack_messages.py) and the gateway's Slack callback acts on
them (gateway/callbacks/slack.py), so both sides read them from here."""

from __future__ import annotations

ACK_ACTION_ID = "incident_ack"
RESOLVE_ACTION_ID = "incident_resolve"
# buttons in thread replies that open a modal (gateway/callbacks/slack_modals.py)
POST_UPDATE_ACTION_ID = "incident_post_update"
POSTMORTEM_DONE_ACTION_ID = "incident_postmortem_done"
