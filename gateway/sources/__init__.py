"""The registry of sources: `/webhooks/<name>` is served by `SOURCES[name]`."""

from __future__ import annotations

from gateway.sources import alertmanager, datadog, sentry, vercel
from gateway.sources.base import Source

SOURCES: dict[str, Source] = {
    source.name: source
    for source in (alertmanager.SOURCE, sentry.SOURCE, datadog.SOURCE, vercel.SOURCE)
}
