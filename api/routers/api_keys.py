"""``/v1/api-keys``: list, create and revoke API keys over HTTP (scope ``admin``).

The same store as the ``api-keys`` CLI (:class:`api.keys.KeyAdmin`); this router only converts
requests and answers. The secret is in the 201 answer to a create and nowhere else.
Revocation takes effect within a second in every process (the verifier's cache).
"""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import bearer
from api.guard import API_KEY_SCOPE_KEY
from api.keys import ApiKey, ApiKeyError, KeyAdmin
from api.problems import ProblemError
from api.routers.common import Admin, Ctx, json_response, problems

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])

#: Documents the bearer scheme in OpenAPI (the guard has already checked the key).
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
Scope = Literal["tenants:read", "tenants:write", "tenants:delete", "admin"]
KeyName = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="The key's name (names are unique among active keys).",
    ),
]


class ApiKeyOut(BaseModel):
    """A key, never its secret."""

    key_id: str = Field(description="The public part of the key (before the dot).")
    name: str = Field(description="Events caused with this key record `key:<name>`.")
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyList(BaseModel):
    """Every key, newest first, revoked ones included."""

    data: list[ApiKeyOut]


class ApiKeyCreate(BaseModel):
    """A new key."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"name": "support-desk", "scopes": ["tenants:read"]}},
    )

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="1-64 letters, digits, `.`, `_` or `-`, starting with a letter or digit.",
    )
    scopes: list[Scope] = Field(min_length=1, max_length=4)


class ApiKeyCreated(ApiKeyOut):
    """The new key and its secret, shown only in this answer."""

    secret: str = Field(description="Send as `Authorization: Bearer <secret>`; not stored.")


_CREATE_PROBLEMS = problems(401, 403, 409, 413, 415, 422, 503)
_CREATE_PROBLEMS[409] = {**_CREATE_PROBLEMS[409], "description": "An active key has this name."}


def _document(key: ApiKey) -> dict[str, object]:
    return {
        "key_id": key.key_id,
        "name": key.name,
        "scopes": list(key.scopes),
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


@router.get(
    "",
    response_model=ApiKeyList,
    responses=problems(401, 403, 503),
    summary="List API keys",
    operation_id="listApiKeys",
)
def list_api_keys(ctx: Ctx, _key: Admin) -> Response:
    """Every API key, newest first, revoked ones included; never their secrets."""
    with ctx.connection() as conn:
        keys = KeyAdmin(conn, ctx.settings).list()
    return json_response({"data": [_document(key) for key in keys]})


@router.get(
    "/current",
    response_model=ApiKeyOut,
    responses=problems(401, 503),
    summary="The calling API key",
    operation_id="getCurrentApiKey",
)
def current_api_key(request: Request, _credentials: Credentials) -> Response:
    """The key this request was made with (its name and scopes), for any valid key: lets a
    client such as the console show only what the key may do."""
    key = request.scope.get(API_KEY_SCOPE_KEY)
    if not isinstance(key, ApiKey):
        raise ProblemError(401, "unauthorized", "send 'Authorization: Bearer <api key>'")
    return json_response(_document(key))


@router.post(
    "",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=_CREATE_PROBLEMS,
    summary="Create an API key",
    operation_id="createApiKey",
)
def create_api_key(body: ApiKeyCreate, ctx: Ctx, _key: Admin) -> Response:
    """Create a key with these scopes. The answer holds its `secret`, shown only this once;
    409 `key-name-taken` if an active key already has the name."""
    scopes = tuple(dict.fromkeys(body.scopes))
    with ctx.connection() as conn:
        try:
            key, secret = KeyAdmin(conn, ctx.settings).create(body.name, scopes, ctx.clock.now())
        except ApiKeyError as exc:
            raise ProblemError(409, "key-name-taken", str(exc)) from None
    return json_response({**_document(key), "secret": secret}, 201)


@router.delete(
    "/{name}",
    response_model=ApiKeyOut,
    responses=problems(401, 403, 404, 422, 503),
    summary="Revoke an API key",
    operation_id="revokeApiKey",
)
def revoke_api_key(name: KeyName, ctx: Ctx, _key: Admin) -> Response:
    """Revoke the active key called `name` (every process refuses it within a second);
    404 if no active key has that name. Answers the revoked key."""
    with ctx.connection() as conn:
        try:
            key = KeyAdmin(conn, ctx.settings).revoke(name, ctx.clock.now())
        except ApiKeyError:
            raise ProblemError(404, "not-found", "no active API key has this name") from None
    return json_response(_document(key))
