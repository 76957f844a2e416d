"""API keys as the routes see them; the store (SQL, hashing, cache) is :mod:`application.keys`."""

from application.keys import (
    ADMIN,
    CACHE_SECONDS,
    DELETE,
    READ,
    SCOPES,
    WRITE,
    ApiKey,
    ApiKeyError,
    KeyAdmin,
    KeyVerifier,
    parse_scopes,
)

__all__ = [
    "ADMIN",
    "CACHE_SECONDS",
    "DELETE",
    "READ",
    "SCOPES",
    "WRITE",
    "ApiKey",
    "ApiKeyError",
    "KeyAdmin",
    "KeyVerifier",
    "parse_scopes",
]
