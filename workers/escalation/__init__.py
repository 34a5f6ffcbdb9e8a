"""Stage 3, escalation: which step fires when (path.py), running a step (steps.py),
muting by silences and inhibition, reminders, pending_for and flap damping.
"""
