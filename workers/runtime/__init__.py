"""Stage 0, the process: the RQ worker loop and its supervisor, stopping on a signal,
the metrics server, the periodic refresher and the `alertgw worker` commands.
"""
