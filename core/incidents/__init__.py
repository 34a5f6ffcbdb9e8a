"""The incident state in Redis: the record (record.py); the store that dedupes, opens,
acknowledges and resolves (store.py) over the key layout and plain reads (reads.py); and
the atomic Lua scripts behind every change: the alert's transition (transitions.py), the
ones by hand and by the clock (operations.py), the escalation's claims (claims.py). The
gateway's API and the workers change incidents only here.
"""
