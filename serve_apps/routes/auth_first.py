"""Routes that check the caller before they complain about the body.

FastAPI reads and parses a JSON body before it runs a route's dependencies, so a request
with no token and a malformed body would hear about the body (400/422) rather than about
the token (401). ``AuthFirstRoute`` keeps the promise that authentication comes first: when
the body could not be read, the route's own auth dependencies (those built on
``deps.principal``: who is calling, and in which role) run before the refusal is answered.
The happy path costs nothing extra.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import solve_dependencies
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from serve_apps.deps import principal

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _reads_token(dependant: Dependant) -> bool:
    return dependant.call is principal or any(_reads_token(d) for d in dependant.dependencies)


class AuthFirstRoute(APIRoute):
    """An ``APIRoute`` whose body refusals wait for its auth dependencies to pass."""

    def get_route_handler(self) -> Handler:
        handler: Handler = super().get_route_handler()
        guards = [d for d in self.dependant.dependencies if _reads_token(d)]
        if not guards or self.body_field is None:  # nothing is read before the guards run
            return handler
        gate = Dependant(dependencies=guards, path=self.path_format)

        async def auth_first(request: Request) -> Response:
            try:
                return await handler(request)
            except (RequestValidationError, HTTPException):
                async with AsyncExitStack() as stack:  # raises 401/403 if the caller is not let in
                    await solve_dependencies(request=request, dependant=gate,
                                             async_exit_stack=stack, embed_body_fields=False)
                raise

        return auth_first
