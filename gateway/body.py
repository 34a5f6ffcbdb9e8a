"""Reading a request body safely: capped by counted bytes, bounded in time."""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request

from gateway.exceptions import BadPayload, PayloadTooLarge, RequestTimeout

# A sender that has not finished its body by then is either broken or hostile.
BODY_TIMEOUT_SECONDS = 10.0


async def read_body(request: Request, limit: int, timeout: float = BODY_TIMEOUT_SECONDS) -> bytes:
    """The raw body, or PayloadTooLarge once more than `limit` bytes arrived.

    Content-Length is only a first check: a client can lie about it or stream a chunked
    body, so the bytes are counted as they arrive and reading stops at the cap.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    try:
        async with asyncio.timeout(timeout):
            return await _read_capped(request, limit)
    except TimeoutError:
        raise RequestTimeout(f"body not received within {timeout:g} s") from None
    except ClientDisconnect:
        raise BadPayload("client disconnected before the body was complete") from None


async def _read_capped(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
