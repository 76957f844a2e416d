"""Names of the tables the layers share through the database (all in ``Settings.db_schema``)."""

#: The event store (created by the ``eventsourcing`` library for the ``TenantRegistry`` app).
EVENTS_TABLE = "tenantregistry_events"
SNAPSHOTS_TABLE = "tenantregistry_snapshots"
#: PostgreSQL NOTIFY channel the recorder signals on every commit of events.
EVENTS_CHANNEL = EVENTS_TABLE
#: Tombstones of purged tenants (id, purged_at), written by the purge transaction.
TOMBSTONES_TABLE = "purged_tenants"
#: Idempotency records of the HTTP API (deleted with a tenant's data on purge).
IDEMPOTENCY_TABLE = "idempotency_records"
#: Secrets the deployment generates for itself (the idempotency fingerprint key).
SECRETS_TABLE = "registry_secrets"
