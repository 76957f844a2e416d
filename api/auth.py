"""Scopes of the ``/v1`` routes. The key itself was checked by :class:`api.guard.RequestGuard`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.guard import API_KEY_SCOPE_KEY
from api.keys import ApiKey
from api.problems import ProblemError

#: Documents the scheme in OpenAPI; the guard has already refused requests without a key.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer <api key>`; create keys with "
    "`tenant-registry api-keys create --name N --scopes a,b`.",
)


def require(scope: str) -> Callable[..., Coroutine[Any, Any, ApiKey]]:
    """A dependency giving the request's API key if it holds ``scope`` (or ``admin``)."""

    async def dependency(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        key = request.scope.get(API_KEY_SCOPE_KEY)
        if not isinstance(key, ApiKey):
            raise ProblemError(401, "unauthorized", "send 'Authorization: Bearer <api key>'")
        if not key.allows(scope):
            raise ProblemError(403, "forbidden", f"this route needs the {scope!r} scope")
        return key

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def actor(key: ApiKey) -> str:
    """Who the events of this request are recorded as."""
    return f"key:{key.name}"
