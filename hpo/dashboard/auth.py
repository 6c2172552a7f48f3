"""Who may read the API: the coordinator's bearer tokens, checked by ASGI middleware.

Requests under ``/api/`` must carry ``Authorization: Bearer <secret>`` of a known,
unrevoked, unexpired token; its role does not matter, since every role includes ``reader``
(reader < worker < admin). The check is the coordinator's own
(:class:`hpo.token_checks.TokenChecker`): the same lookup by the secret's SHA-256, the same
cache, so a token revoked in the store stops working here within its ``cache_seconds`` too.
Without the header a request is refused with 401, unless the dashboard runs in anonymous
mode, which, as for the coordinator, is allowed only on a loopback address and is the
default there (:func:`hpo.token_checks.resolve_anonymous`).

The pages and ``/static/`` are public: they hold no data, only the code that asks the API.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from hpo.dashboard.api import json_response
from hpo.errors import StoreUnavailableError, UnauthenticatedError
from hpo.token_checks import TokenChecker

API_PREFIX = "/api/"
log = logging.getLogger(__name__)


class ReaderTokens:
    """ASGI middleware: refuses ``/api/`` requests without a reader token (401, JSON)."""

    def __init__(self, app: ASGIApp, checker: TokenChecker) -> None:
        self.app = app
        self.checker = checker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        authorization = [
            value.decode("latin-1")
            for key, value in scope["headers"]
            if key.lower() == b"authorization"
        ]
        if not authorization and not self.checker.anonymous:
            refusal = (
                "missing bearer token: send 'Authorization: Bearer <token>' with a reader "
                "token (hpo token create NAME --role reader); this dashboard does not accept "
                "anonymous requests"
            )
            await _refuse(401, refusal, scope, receive, send)
            return
        try:
            # A lookup is a read transaction: keep it off the event loop.
            await run_in_threadpool(self.checker.authenticate, authorization)
        except UnauthenticatedError as refused:
            log.info("%s refused: %s", scope["path"], refused)
            await _refuse(401, str(refused), scope, receive, send)
            return
        except StoreUnavailableError as error:
            log.exception("token lookup failed: the store is unavailable")
            await _refuse(503, str(error), scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _refuse(status: int, message: str, scope: Scope, receive: Receive, send: Send) -> None:
    response = json_response({"error": message}, status_code=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="hpo"'
    await response(scope, receive, send)
