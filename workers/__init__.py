"""Scheduled work (SPEC §5): the trial, grace and purge sweeps, run by RQ.

How the pieces fit, and the choices made:

* ``sweeps``    the sweep itself. The read table proposes candidates (``ReadModel.due``, by
                id, a page at a time); each is re-checked and changed on its aggregate
                (``TenantRegistry.expire_trial/expire_grace/purge``), a few threads at a time.
                Stale rows are skipped, two sweeps over one tenant change it once, a failing
                tenant is counted and logged by id. Counts: examined, changed, skipped, failed.
* ``jobs``      the RQ jobs ``expire_trials``, ``expire_grace``, ``purge_deleted`` (argument:
                an optional ISO ``now``, for tests; result: the counts) and ``dispatch``. A
                sweep catches the read table up first (so it sees every tenant due now even
                when no projector runs) and again after changing tenants (so a purge also
                removes the read row, and with it the PII, without waiting for a projector).
* ``slots``     pure schedule arithmetic: cron expressions read in ``Settings.timezone``
                (DST-correct), the slot a firing belongs to, deterministic job ids.
* ``scheduler`` RQ 3's ``CronScheduler`` with ``TZ`` set to the business zone. It has no lock,
                so it fires ``dispatch``, which enqueues the sweep as ``sweep-<name>-<slot>``
                with ``unique=True``: a second scheduler's firing of the slot is a duplicate.
                On start it dispatches each sweep's latest slot (a missed slot runs, a slot
                that ran does not run again). It also moves due retries back to the queue.
* ``worker``    RQ's forking ``Worker``; each job builds its pools in the work horse
                (``runtime``) and closes them at its end; nothing crosses a fork.
* ``connections`` Redis clients and the backoff both long-running processes use to wait
                out a Redis outage (one log line per retry, no traceback).

Time: jobs use the application's clock (``SystemClock``), so ``faketime`` moves them; tests
pass ``now`` to the jobs of a worker process instead. Nothing a job stores in Redis (arguments,
result, meta) or logs holds more about a tenant than its id.
"""
