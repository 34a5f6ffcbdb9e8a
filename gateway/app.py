"""The gateway's Starlette application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core import logs
from core.deadletters import DeadLetters
from core.gauges import refresh_shared_gauges
from core.gctune import tune_gc
from core.metrics import RefreshingRegistry
from core.reload import LivePolicy
from core.sentry import RuleSecrets, init_sentry
from core.settings import Settings, load_settings
from gateway.api import api_mount
from gateway.api.services import Services, utc_now
from gateway.auth import require_api_token
from gateway.body import BODY_TIMEOUT_SECONDS
from gateway.callbacks import callback_routes
from gateway.exceptions import GatewayError
from gateway.handoff_writer import Handoff
from gateway.heartbeat_routes import HeartbeatRoutes
from gateway.redis_clients import connect_async
from gateway.ui import console_routes
from gateway.webhooks import WebhookEndpoint, error_response

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    policy: LivePolicy | None = None,
    body_timeout: float = BODY_TIMEOUT_SECONDS,
    clock: Callable[[], datetime] = utc_now,
) -> Starlette:
    """Build the gateway. Loads the rules now: invalid rules raise RulesError.

    `body_timeout`: seconds a sender gets to finish its body before a 408.
    `clock`: what "now" is for received alerts and operator actions (a drill's is virtual).
    """
    live = policy or LivePolicy(settings.rules)
    client = connect_async(settings)
    handoff = Handoff(client, settings.redis_prefix)
    webhook = WebhookEndpoint(settings, live, handoff, body_timeout, clock)
    # the incident and silence stores are sync (shared with the workers): their own client
    services = Services.connect(settings, live, clock)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        try:
            await client.ping()
        except RedisError as error:
            return JSONResponse({"status": "unavailable", "redis": type(error).__name__}, 503)
        return JSONResponse(
            {"status": "ready", "rules": len(live.current.rules), "files": len(live.current.files)}
        )

    # shared state (open incidents, dead letters, intake lag) is read from Redis per scrape
    dead_letters = DeadLetters(services.redis, settings.redis_prefix)
    scraped = RefreshingRegistry(
        lambda: refresh_shared_gauges(
            services.redis,
            settings.redis_prefix,
            services.incidents,
            dead_letters,
            services.clock(),
        )
    )

    async def metrics_endpoint(request: Request) -> Response:
        body = await run_in_threadpool(generate_latest, scraped)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def reload(request: Request) -> JSONResponse:
        try:
            require_api_token(request, settings)
        except GatewayError as error:
            return error_response(error)
        if live.reload():
            return JSONResponse({"reloaded": True, "rules": len(live.current.rules)})
        problems = live.last_error.problems if live.last_error else []
        return JSONResponse(
            {"error": "rules rejected; the last good rules stay active", "problems": problems},
            422,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        watcher = asyncio.create_task(live.watch(stop))
        _on_sighup(live)
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(watcher, timeout=2)
            await client.aclose()
            services.redis.close()

    routes: list[BaseRoute] = [
        *callback_routes(services),  # before /webhooks/{source}: /webhooks/pagerduty wins
        Route("/webhooks/{source}", webhook.handle, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/-/reload", reload, methods=["POST"]),
        *HeartbeatRoutes(services, live).routes(),  # before the /api/v1 mount
        api_mount(services),
        *console_routes(services, lambda: live.current, dead_letters),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _on_sighup(live: LivePolicy) -> None:
    loop = asyncio.get_running_loop()
    # Only the main thread may install signal handlers (not so under a test client).
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, live.reload)


def app_from_env() -> Starlette:
    """uvicorn's factory: `uvicorn --factory gateway.app:app_from_env`."""
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    live = LivePolicy(settings.rules)
    # the rules' routing keys as they are at each event: a reload may add some
    init_sentry(settings, "gateway", RuleSecrets(lambda: live.current))
    app = create_app(settings, live)
    tune_gc()  # a server process from here on: see core.gctune
    return app
