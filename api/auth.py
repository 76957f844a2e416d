"""Scopes of the ``/v1`` routes. The key itself was checked by :class:`api.guard.RequestGuard`."""

from __future__ import annotations

from fastapi import Request
from fastapi.security import HTTPBearer

from api.guard import API_KEY_SCOPE_KEY
from api.keys import ApiKey
from api.problems import ProblemError

#: How OpenAPI documents the scheme (the guard has already refused requests without a key).
SCHEME_NAME = "ApiKey"
SCHEME_DESCRIPTION = (
    "`Authorization: Bearer <api key>`; create keys with "
    "`tenant-registry api-keys create --name N --scopes a,b`."
)


class _ScopeCheck(HTTPBearer):
    """The scope check of a route, and (being an ``HTTPBearer``) the documentation of its
    security scheme in one dependency. It does not parse the header again: the guard has
    already checked the key and left it in the request's scope. One dependency instead of a
    scope check plus an ``HTTPBearer`` sub-dependency: FastAPI resolves (cache key, call,
    parameters) every dependency of every request (py-spy of ``GET /v1/tenants/{id}``:
    ``solve_dependencies`` 30 % of the event loop's request samples before)."""

    def __init__(self, scope: str) -> None:
        super().__init__(auto_error=False, scheme_name=SCHEME_NAME, description=SCHEME_DESCRIPTION)
        self.scope = scope

    async def __call__(self, request: Request) -> ApiKey:  # type: ignore[override]
        key = request.scope.get(API_KEY_SCOPE_KEY)
        if not isinstance(key, ApiKey):
            raise ProblemError(401, "unauthorized", "send 'Authorization: Bearer <api key>'")
        if not key.allows(self.scope):
            raise ProblemError(403, "forbidden", f"this route needs the {self.scope!r} scope")
        return key


class _DocumentedBearer(HTTPBearer):
    """``HTTPBearer`` for the OpenAPI document only: the guard has already parsed and checked
    the header, so parsing it again per request is waste."""

    async def __call__(self) -> None:  # type: ignore[override]
        return None


#: The scheme for routes that take any valid key (no scope check): documentation only.
bearer = _DocumentedBearer(
    auto_error=False, scheme_name=SCHEME_NAME, description=SCHEME_DESCRIPTION
)


def require(scope: str) -> _ScopeCheck:
    """A dependency giving the request's API key if it holds ``scope`` (or ``admin``)."""
    return _ScopeCheck(scope)


def actor(key: ApiKey) -> str:
    """Who the events of this request are recorded as."""
    return f"key:{key.name}"
