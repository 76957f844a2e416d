"""Webhooks (SPEC §10): signed, retried deliveries of the event feed to registered endpoints.

How the pieces fit:

* ``policy``     pure rules: which URLs are acceptable (http(s), no loopback, private or
                 link-local address unless allowed), which event types exist, when to retry.
* ``signing``    Standard Webhooks secrets, message ids and signatures.
* ``store``      the tables: endpoints, deliveries (positions and outcomes, never payloads), the
                 dispatcher's cursor; and the migration step.
* ``dispatcher`` ``tenant-registry webhooks dispatch``: follows the event feed (LISTEN on the
                 events channel, so it wakes on every commit), and in one transaction per page
                 creates one delivery row per matching endpoint and event and moves its cursor
                 (the cursor row is locked, so two dispatchers never create a row twice). It
                 then wakes the endpoint's delivery job, and once a second it wakes the jobs of
                 endpoints with retries due or deliveries orphaned by a killed worker.
* ``delivery``   the RQ job ``deliver_endpoint(endpoint_id)``: under a per-endpoint advisory
                 lock (one job per endpoint at a time: in position order, nothing twice), it
                 builds each due delivery's body from the event store at send time, signs it,
                 posts it and records the outcome. Jobs carry an endpoint id, never a body.
* ``http``       the outbound POST: the resolved address is checked, the connection pinned to
                 it (no second lookup), connect and total timeouts, no redirects, body unread.
"""
