"""The delivery side, by stage in data-flow order: runtime/ (the process), intake/ (read
the hand-off), incidents/ (state changes), escalation/ (steps, muting, reminders),
delivery/ (send once, retry, dead-letter), notifiers/ (PagerDuty, Slack). jobs.py keeps
every RQ job's queued name; context.py is what a job runs with. Stands on core/ and never
imports gateway/; a stage imports only the stages after it (docs/architecture.md).
"""
