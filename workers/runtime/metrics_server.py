"""The Prometheus endpoint of a worker process."""

from __future__ import annotations

import errno
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.registry import Collector


class PortInUse(Exception):
    """The metrics port is taken: a second worker or `alertgw up` on this machine."""

    def __init__(self, port: int) -> None:
        super().__init__(
            f"metrics port {port} is in use (another worker or `alertgw up` on this machine?); "
            "choose another with --metrics-port or ALERTGW_WORKER_METRICS_PORT, "
            "or 0 for a free port"
        )


def serve_metrics(port: int, registry: Collector) -> WSGIServer:
    """Serve `/metrics` on `port` (0: a free port) from a daemon thread."""
    try:
        server, _thread = start_http_server(port, registry=registry)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(port) from None
        raise
    return server
