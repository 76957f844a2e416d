"""Python client of the Tenant Registry (SPEC §9).

``TenantRegistryClient`` / ``AsyncTenantRegistryClient`` call the HTTP API with typed methods;
``TenantDirectory`` keeps a local copy of every tenant, fresh within milliseconds;
``verify_webhook`` checks a webhook delivery's signature.
"""

from tenant_registry_client._calls import UNSET
from tenant_registry_client.aio import AsyncTenantRegistryClient
from tenant_registry_client.client import EventStream, TenantRegistryClient
from tenant_registry_client.directory import Arrival, TenantDirectory
from tenant_registry_client.errors import (
    ConcurrencyConflict,
    Forbidden,
    Gone,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InternalError,
    InvalidTransition,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    ProjectionLagging,
    RegistryUnreachable,
    SlugTaken,
    TenantRegistryError,
    TooManyStreams,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
    VersionMismatch,
    WebhookVerificationError,
)
from tenant_registry_client.models import (
    Change,
    ChangePage,
    CommandResult,
    Event,
    EventPage,
    Projection,
    Stats,
    Tenant,
    TenantPage,
)
from tenant_registry_client.records import DirectoryTenant
from tenant_registry_client.webhooks import verify_webhook

__all__ = [
    "UNSET",
    "Arrival",
    "AsyncTenantRegistryClient",
    "Change",
    "ChangePage",
    "CommandResult",
    "ConcurrencyConflict",
    "DirectoryTenant",
    "Event",
    "EventPage",
    "EventStream",
    "Forbidden",
    "Gone",
    "IdempotencyKeyInProgress",
    "IdempotencyKeyReused",
    "InternalError",
    "InvalidTransition",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "ProblemError",
    "Projection",
    "ProjectionLagging",
    "RegistryUnreachable",
    "SlugTaken",
    "Stats",
    "Tenant",
    "TenantDirectory",
    "TenantPage",
    "TenantRegistryClient",
    "TenantRegistryError",
    "TooManyStreams",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "ValidationFailed",
    "VersionMismatch",
    "WebhookVerificationError",
    "verify_webhook",
]
