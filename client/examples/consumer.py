"""A consumer service, typed: the directory on the hot path, read-your-writes after a command.

Run against a registry: ``python consumer.py http://127.0.0.1:8000 <api key> <tenant id>``.
``mypy --strict`` checks it in the repo's lint and in a fresh venv with only the client.
"""

from __future__ import annotations

import sys

from tenant_registry_client import (
    DirectoryTenant,
    InvalidTransition,
    TenantDirectory,
    TenantRegistryClient,
)


def may_serve(directory: TenantDirectory, tenant_id: str) -> bool:
    """The hot-path check: no I/O, a dictionary look-up."""
    tenant: DirectoryTenant | None = directory.get(tenant_id)
    return tenant is not None and tenant.status in {"trial", "active", "grace"}


def main(base_url: str, api_key: str, tenant_id: str) -> int:
    with TenantRegistryClient(base_url, api_key) as client:
        directory = TenantDirectory(client)
        directory.start()  # bootstrapped from the changes feed; follows the stream from here
        try:
            serving = may_serve(directory, tenant_id)
            print(f"{len(directory)} tenants; may serve {tenant_id}: {serving}")
            try:
                result = client.activate_tenant(tenant_id, reason="payment received")
            except InvalidTransition as refused:
                print(f"not now: {refused.current_status}, allowed {refused.allowed}")
                return 1
            if directory.wait_for(result.position, timeout=5.0):  # read your own write
                print(f"now {directory.get(tenant_id)}, lag {directory.lag_seconds:.3f} s")
        finally:
            directory.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
