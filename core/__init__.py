"""The shared core: what the gateway (gateway/) and the workers (workers/) both stand
on, and nothing either side alone needs. The canonical alert model, settings, the
rule engine (rules/), the incident state in Redis (incidents/), the hand-off stream
format, silences, inhibition, heartbeats, dead letters, metrics, logs and Sentry.
It imports neither side (docs/architecture.md).
"""
