"""``tenants …``: look at and change tenants without writing curl (SPEC §11).

Commands go through the application (``TenantRegistry``) as the API's do, with the actor
``cli:<login name>``; ``list`` and ``get`` read the read table as the API does, ``history``
the event store. Output is a table (or ``field: value`` lines) for people, and with ``--json``
(after the subcommand) one JSON document shaped as the API's answer, for scripts. A refused
command is one line on standard error and exit status 1.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from api.representations import dumps, event_document, tenant_document
from application.cause import Cause, new_correlation_id
from application.registry import CommandResult, TenantRegistry
from cli.errors import CliError
from common.settings import get_settings
from domain.errors import (
    InvalidTransition,
    SlugTaken,
    TenantGone,
    TenantNotFound,
    ValidationFailed,
    VersionMismatch,
)
from domain.lifecycle import Command
from domain.tenant import Status
from projections.models import InvalidCursor
from projections.queries import ReadModel

_LIST_COLUMNS = ("id", "slug", "name", "status", "plan", "created_at", "deleted_at")
_HISTORY_COLUMNS = ("position", "version", "type", "occurred_at", "actor", "reason")


def register(subparsers: Any) -> None:
    tenants = subparsers.add_parser(
        "tenants",
        help="list, show and change tenants (through the application, as the API does)",
        description="Look at and change tenants. Changes are recorded with the actor "
        "cli:<login name>. Add --json after the subcommand for one JSON document.",
    )
    actions = tenants.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="tenants newest first, from the read table")
    listing.add_argument("--status", choices=[s.value for s in Status])
    listing.add_argument("--plan")
    listing.add_argument("--q", help="name contains (any case) or slug starts with")
    listing.add_argument("--include-deleted", action="store_true")
    listing.add_argument("--limit", type=int, default=50, help="1-200 (default 50)")
    listing.add_argument("--cursor", help="next_cursor of the previous page")
    _json(listing)
    listing.set_defaults(handler=cmd_list)

    get = actions.add_parser("get", help="one tenant, from the read table")
    get.add_argument("tenant_id", metavar="ID")
    _json(get)
    get.set_defaults(handler=cmd_get)

    history = actions.add_parser("history", help="one tenant's events, from the event store")
    history.add_argument("tenant_id", metavar="ID")
    _json(history)
    history.set_defaults(handler=cmd_history)

    reg = actions.add_parser("register", help="register a new tenant (in trial)")
    reg.add_argument("--slug", required=True)
    reg.add_argument("--name", required=True)
    _profile_options(reg)
    reg.add_argument("--trial-days", type=int)
    reg.add_argument("--reason")
    _json(reg)
    reg.set_defaults(handler=cmd_register)

    for command in Command:  # named as in the URLs
        action = actions.add_parser(command.value, help=f"{command.value} a tenant")
        action.add_argument("tenant_id", metavar="ID")
        action.add_argument("--reason")
        action.add_argument(
            "--if-version", type=int, help="refuse unless the tenant is at this version"
        )
        _json(action)
        action.set_defaults(handler=cmd_lifecycle, command_name=command)

    update = actions.add_parser("update", help="change profile fields (one event)")
    update.add_argument("tenant_id", metavar="ID")
    update.add_argument("--name")
    _profile_options(update)
    update.add_argument("--reason")
    update.add_argument("--if-version", type=int)
    _json(update)
    update.set_defaults(handler=cmd_update)


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _profile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timezone", help="an IANA zone, e.g. Asia/Jerusalem")
    parser.add_argument("--plan")
    parser.add_argument("--contact-email", help="'' clears it")
    parser.add_argument("--metadata", help="a JSON object")


def actor() -> str:
    """``cli:<login name>`` of whoever runs the command."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no LOGNAME/USER and no passwd entry (a bare container)
        login = "unknown"
    return f"cli:{login or 'unknown'}"


#: This CLI invocation's id: the ``correlation_id`` of every event it records.
INVOCATION_ID = new_correlation_id()


def cause() -> Cause:
    """Who (``cli:<login>``) and which invocation caused the change."""
    return Cause(actor(), INVOCATION_ID)


# ---- reads --------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 200:
        msg = "--limit must be between 1 and 200"
        raise CliError(msg)
    with _read_model() as reads:
        try:
            page = reads.list(
                status=args.status,
                plan=args.plan,
                q=args.q,
                include_deleted=args.include_deleted,
                limit=args.limit,
                cursor=args.cursor,
            )
        except InvalidCursor:
            msg = "--cursor is not a cursor this registry issued"
            raise CliError(msg) from None
    documents = [tenant_document(row) for row in page.items]
    if args.json:
        _print_json({"data": documents, "next_cursor": page.next_cursor})
        return 0
    _print_table(_LIST_COLUMNS, documents)
    if page.next_cursor:
        print(f"more: --cursor {page.next_cursor}")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    tenant_id = _tenant_id(args.tenant_id)
    with _read_model() as reads, _refusals():
        row = reads.get(tenant_id)
    if row is None:
        msg = f"tenant {tenant_id} not found"
        raise CliError(msg)
    _print_tenant(tenant_document(row), as_json=args.json)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    tenant_id = _tenant_id(args.tenant_id)
    with _registry() as registry, _refusals():
        events = registry.history(tenant_id)
    documents = [event_document(event) for event in events]
    if args.json:
        _print_json({"data": documents})
        return 0
    _print_table(_HISTORY_COLUMNS, documents)
    return 0


# ---- commands -----------------------------------------------------------------------------


def cmd_register(args: argparse.Namespace) -> int:
    fields = _profile(args)
    with _registry() as registry, _refusals():
        result = registry.register(
            slug=args.slug,
            name=args.name,
            actor=cause(),
            trial_days=args.trial_days,
            reason=args.reason,
            **fields,
        )
    return _answer(result, args)


def cmd_lifecycle(args: argparse.Namespace) -> int:
    tenant_id = _tenant_id(args.tenant_id)
    with _registry() as registry, _refusals():
        result = registry.run(
            args.command_name,
            tenant_id,
            actor=cause(),
            reason=args.reason,
            expected_version=args.if_version,
        )
    return _answer(result, args)


def cmd_update(args: argparse.Namespace) -> int:
    tenant_id = _tenant_id(args.tenant_id)
    changes = _profile(args)
    if args.name is not None:
        changes["name"] = args.name
    if not changes:
        msg = "nothing to change: give --name, --timezone, --plan, --contact-email or --metadata"
        raise CliError(msg)
    with _registry() as registry, _refusals():
        result = registry.update_profile(
            tenant_id,
            changes,
            actor=cause(),
            reason=args.reason,
            expected_version=args.if_version,
        )
    return _answer(result, args)


def _profile(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("timezone", "plan"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.contact_email is not None:
        fields["contact_email"] = args.contact_email or None
    if args.metadata is not None:
        try:
            fields["metadata"] = json.loads(args.metadata)
        except ValueError:
            msg = "--metadata must be a JSON object"
            raise CliError(msg) from None
    return fields


def _answer(result: CommandResult, args: argparse.Namespace) -> int:
    document = tenant_document(result.tenant)
    if args.json:
        _print_json(document)
        return 0
    _print_tenant(document, as_json=False)
    done = "changed" if result.changed else "unchanged (already so; nothing recorded)"
    print(f"{done}; event position {result.position}")
    return 0


# ---- plumbing -----------------------------------------------------------------------------


def _tenant_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        msg = f"{text!r} is not a tenant id (a UUID)"
        raise CliError(msg) from None


@contextmanager
def _registry() -> Iterator[TenantRegistry]:
    registry = TenantRegistry(get_settings())
    try:
        yield registry
    finally:
        registry.close()


@contextmanager
def _read_model() -> Iterator[ReadModel]:
    reads = ReadModel(get_settings())
    try:
        yield reads
        _warn_if_behind(reads)
    finally:
        reads.close()


def _warn_if_behind(reads: ReadModel) -> None:
    """Reads come from the read table: say so when it has not caught up with the events."""
    for status in reads.projections():
        if status.name == "tenants" and status.lag_events > 0:
            print(
                f"tenant-registry: note: the read table is {status.lag_events} event(s) behind"
                f" (projector {status.state})",
                file=sys.stderr,
            )


@contextmanager
def _refusals() -> Iterator[None]:
    """The domain's refusals as one-line CLI errors."""
    try:
        yield
    except InvalidTransition as exc:
        allowed = ", ".join(exc.allowed) or "none"
        msg = f"invalid transition: {exc} (allowed: {allowed})"
        raise CliError(msg) from None
    except (TenantNotFound, TenantGone, SlugTaken, VersionMismatch) as exc:
        raise CliError(str(exc)) from None
    except ValidationFailed as exc:
        msg = f"invalid: {exc}"
        raise CliError(msg) from None


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _print_table(columns: Sequence[str], documents: Sequence[dict[str, Any]]) -> None:
    cells = [[_plain(d.get(c)) for c in columns] for d in documents]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    line: Callable[[Sequence[str]], str] = lambda values: "  ".join(  # noqa: E731
        v.ljust(w) for v, w in zip(values, widths, strict=True)
    ).rstrip()
    print(line([c.upper() for c in columns]))
    for row in cells:
        print(line(row))
    if not documents:
        print("(none)")


def _print_tenant(document: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        _print_json(document)
        return
    width = max(len(k) for k in document)
    for key, value in document.items():
        print(f"{key.ljust(width)}  {_plain(value)}")


def _print_json(document: Any) -> None:
    sys.stdout.write(dumps(document).decode() + "\n")
