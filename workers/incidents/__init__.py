"""Stage 2, incidents: react to an incident's state change (changes.py: open, re-fire,
acknowledge, resolve) and resolve quiet incidents (autoresolve.py).
"""
