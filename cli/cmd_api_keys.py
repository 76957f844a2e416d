"""``api-keys create|list|revoke``: the keys that open ``/v1``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from application.keys import SCOPES, ApiKeyError, KeyAdmin, parse_scopes
from cli.errors import CliError
from common.clock import SystemClock
from common.db import connect
from common.settings import get_settings


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("api-keys", help="create, list or revoke API keys")
    actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="create a key; its secret is printed once, alone on the last line"
    )
    create.add_argument("--name", required=True, help="a unique name (events record key:NAME)")
    create.add_argument(
        "--scopes", required=True, help=f"comma-separated, from: {', '.join(SCOPES)}"
    )
    create.set_defaults(handler=cmd_create)
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    listing.set_defaults(handler=cmd_list)
    revoke = actions.add_parser("revoke", help="revoke a key by name (effective at once)")
    revoke.add_argument("name", help="the key's name")
    revoke.set_defaults(handler=cmd_revoke)


def cmd_create(args: argparse.Namespace) -> int:
    try:
        scopes = parse_scopes(args.scopes)
    except ApiKeyError as exc:
        raise CliError(str(exc)) from None
    with connect(get_settings()) as conn:
        try:
            key, secret = KeyAdmin(conn, get_settings()).create(
                args.name, scopes, SystemClock().now()
            )
        except ApiKeyError as exc:
            raise CliError(str(exc)) from None
    print(f"created API key {key.name!r} ({key.key_id}) with scopes {', '.join(key.scopes)}")
    print("the secret below is shown only now; send it as 'Authorization: Bearer <secret>'")
    print(secret)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with connect(get_settings()) as conn:
        keys = KeyAdmin(conn, get_settings()).list()
    if args.json:
        document = {
            "data": [
                {
                    "name": key.name,
                    "key_id": key.key_id,
                    "scopes": list(key.scopes),
                    "created_at": key.created_at.isoformat(),
                    "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
                }
                for key in keys
            ]
        }
        print(json.dumps(document))
        return 0
    print(f"{'NAME':<24} {'KEY ID':<16} {'SCOPES':<44} {'CREATED':<20} REVOKED")
    for key in keys:
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "-"
        print(
            f"{key.name:<24} {key.key_id:<16} {','.join(key.scopes):<44} "
            f"{key.created_at.strftime('%Y-%m-%d %H:%M'):<20} {revoked}"
        )
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with connect(get_settings()) as conn:
        try:
            key = KeyAdmin(conn, get_settings()).revoke(args.name, SystemClock().now())
        except ApiKeyError as exc:
            raise CliError(str(exc)) from None
    print(f"revoked API key {key.name!r} ({key.key_id})")
    return 0
