"""Scopes of the ``/v1`` routes. The key itself was checked by :class:`api.guard.RequestGuard`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from api.guard import API_KEY_SCOPE_KEY
from api.keys import ApiKey
from api.problems import ProblemError


class _DocumentedBearer(HTTPBearer):
    """``HTTPBearer`` for the OpenAPI document only: the guard has already parsed and checked
    the header (and refused requests without a key), so parsing it again per request is waste
    (py-spy of ``GET /v1/tenants/{id}``: 2.6 % of the event loop's samples)."""

    async def __call__(self) -> None:  # type: ignore[override]
        return None


#: Documents the scheme in OpenAPI; the guard has already refused requests without a key.
bearer = _DocumentedBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer <api key>`; create keys with "
    "`tenant-registry api-keys create --name N --scopes a,b`.",
)


def require(scope: str) -> Callable[..., Coroutine[Any, Any, ApiKey]]:
    """A dependency giving the request's API key if it holds ``scope`` (or ``admin``)."""

    async def dependency(
        request: Request,
        _credentials: Annotated[None, Depends(bearer)],
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
