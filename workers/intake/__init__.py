"""Stage 1, intake: read the gateway's hand-off streams and the heartbeat deadlines,
and turn each alert into an incident change. Start reading at reader.py.
"""
