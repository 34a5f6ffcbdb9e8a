"""The incident state in Redis: the record (record.py), the store that dedupes, opens,
acknowledges and resolves (store.py) and the atomic transition scripts behind it
(transitions.py). The gateway's API and the workers change incidents only here.
"""
