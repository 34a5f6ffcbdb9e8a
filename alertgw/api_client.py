"""Calling the operator API from the command line: `alertgw silence` and `alertgw incidents`.

The commands hold no state of their own: they call `/api/v1` on a running gateway
(`--url`, default `http://$ALERTGW_HOST:$ALERTGW_PORT`) with ALERTGW_API_TOKEN, so they
work the same against a laptop's `alertgw up` and a cluster's gateway.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx

from core.settings import Settings

TIMEOUT_SECONDS = 10.0
# a gateway listening on every interface is reached on loopback from the same machine
_ANY_ADDRESS = {"0.0.0.0", "::", ""}  # noqa: S104 - compared against, never bound


def base_url(args: argparse.Namespace, settings: Settings) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    host = "127.0.0.1" if settings.host in _ANY_ADDRESS else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def request(
    args: argparse.Namespace,
    settings: Settings,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
) -> httpx.Response | None:
    """The gateway's successful answer, or None after printing why there is none."""
    headers = {}
    if settings.api_token is not None:
        headers["authorization"] = f"Bearer {settings.api_token.get_secret_value()}"
    url = base_url(args, settings) + path
    try:
        response = httpx.request(method, url, json=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        print(f"alertgw: cannot reach the gateway at {url}: {error}", file=sys.stderr)
        return None
    if response.status_code >= 400:
        try:
            answer = response.json()
        except ValueError:
            answer = {"error": response.text[:200]}
        why = answer.get("error", answer) if isinstance(answer, dict) else answer
        print(f"alertgw: {response.status_code}: {why}", file=sys.stderr)
        if response.status_code == 401 and settings.api_token is None:
            print("alertgw: set ALERTGW_API_TOKEN to the gateway's API token", file=sys.stderr)
        return None
    return response


def call(
    args: argparse.Namespace,
    settings: Settings,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
) -> Any:
    """The API's JSON answer, or None after printing why there is none."""
    response = request(args, settings, method, path, body)
    if response is None:
        return None
    try:
        return response.json()
    except ValueError:
        print(f"alertgw: the gateway answered {path} with no JSON", file=sys.stderr)
        return None
