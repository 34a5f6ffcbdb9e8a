"""`/ui/playground`: what the rules in force do with a payload, without sending anything.

The engine is `alertgw rules test`'s: the source's own parse and normalize, then
`core.rules.explain.explain` on the live policy. On top, for each rule in order,
whether it matched and, if not, which of its matchers failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.models import Alert
from core.rules.explain import explain
from core.rules.model import Policy, Rule
from gateway.exceptions import GatewayError
from gateway.sources import SOURCES
from gateway.sources.base import Delivery
from gateway.ui.http import Console
from gateway.ui.session import Viewer

EXAMPLES = Path(__file__).resolve().parent / "examples"
MAX_PAYLOAD_CHARS = 256 * 1024


@dataclass(frozen=True)
class RuleCheck:
    """One rule's verdict for one alert: matched, or the matchers that failed."""

    name: str
    matched: bool
    failed: tuple[str, ...]
    reached: bool  # False: an earlier rule matched first (and does not `continue`)


@dataclass(frozen=True)
class Trial:
    """One alert of the payload and what the rules decide for it."""

    alert: Alert
    results: list[dict[str, Any]]
    checks: list[RuleCheck]


def examples() -> dict[str, str]:
    """The shipped example payloads: file name -> source (the name's first part)."""
    return {p.name: p.name.split("-", 1)[0] for p in sorted(EXAMPLES.glob("*.json"))}


def example_text(name: str) -> str | None:
    return (EXAMPLES / name).read_text() if name in examples() else None


def rule_checks(policy: Policy, alert: Alert) -> list[RuleCheck]:
    """Every rule in order, as `Policy.classify` walks them (first match wins)."""
    checks, reached = [], True
    for rule in policy.rules:
        failed = _failed(rule, alert)
        checks.append(RuleCheck(rule.name, not failed, failed, reached))
        if not failed and not rule.continue_:
            reached = False
    return checks


def run(policy: Policy, source: str, body: str, now: datetime) -> list[Trial]:
    """Parse and classify a payload as `/webhooks/<source>` would; GatewayError if bad."""
    handler = SOURCES[source]
    delivery = Delivery(
        body=body.encode(),
        headers=Headers({"content-type": "application/json"}),
        query={},
        received_at=now,
    )
    alerts = handler.normalize(handler.parse(delivery), delivery)
    return [Trial(a, explain(policy, a), rule_checks(policy, a)) for a in alerts]


class PlaygroundPage:
    """The playground form and its result (one page: GET with the payload in a form)."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def routes(self) -> list[Route]:
        c = self._console
        # POST: a payload is too big for a URL; it changes nothing, but forms carry CSRF
        return [
            Route("/playground", c.page(self.show), methods=["GET"]),
            Route("/playground", c.form(self.try_it), methods=["POST"]),
        ]

    async def show(self, request: Request, viewer: Viewer) -> Response:
        name = request.query_params.get("example", "")
        text = example_text(name) or ""
        source = examples().get(name, "alertmanager")
        return self._render(request, viewer, source, text, name, None, "")

    async def try_it(self, request: Request, viewer: Viewer, form: Any) -> Response:
        source = str(form.get("source", ""))
        body = str(form.get("payload", ""))[:MAX_PAYLOAD_CHARS]
        if source not in SOURCES:
            return self._render(request, viewer, "alertmanager", body, "", None, "pick a source")
        try:
            trials = run(self._console.policy(), source, body, self._console.services.clock())
        except GatewayError as error:
            return self._render(request, viewer, source, body, "", None, str(error))
        return self._render(request, viewer, source, body, "", trials, "")

    def _render(
        self,
        request: Request,
        viewer: Viewer,
        source: str,
        body: str,
        example: str,
        trials: list[Trial] | None,
        error: str,
    ) -> Response:
        policy = self._console.policy()
        context = {
            "sources": sorted(SOURCES),
            "source": source,
            "payload": body,
            "examples": examples(),
            "example": example,
            "trials": trials,
            "error": error,
            "rules": policy.rules,
            "default": policy.default,
        }
        return self._console.pages.render(request, "playground.html", context, viewer)


def _failed(rule: Rule, alert: Alert) -> tuple[str, ...]:
    return tuple(str(m) for m in rule.matchers if not m.matches(alert.labels))
