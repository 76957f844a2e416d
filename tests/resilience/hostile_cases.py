"""The table of hostile requests: every route, every string field and parameter, raw bytes.

Each :class:`Hostile` is one HTTP request, written as bytes (so invalid UTF-8, NUL and odd
headers reach the server as they are), and the 4xx statuses it may get. ``{tenant}`` in a
target is replaced by an existing tenant's id. Every one of them must be refused with a
problem document (except the few that ``uvicorn`` refuses before the application sees them)
and must write nothing.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

#: Put into hostile strings: the answer must never echo it.
MARK = "HOSTILE-MARK"

JSON = b"application/json"
#: The body routes: (name, method, target, a valid body to corrupt).
BODY_ROUTES: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("register", "POST", "/v1/tenants", {"slug": "hostile-ok", "name": "Hostile"}),
    ("update", "PATCH", "/v1/tenants/{tenant}", {"name": "Hostile"}),
    ("delete", "DELETE", "/v1/tenants/{tenant}", {"reason": "hostile"}),
    *(
        (command, "POST", f"/v1/tenants/{{tenant}}/{command}", {"reason": "hostile"})
        for command in ("activate", "start-grace", "pause", "cancel", "reactivate", "restore")
    ),
)
#: Every route with a tenant id in its path.
ID_ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/v1/tenants/{id}"),
    ("GET", "/v1/tenants/{id}/events"),
    *((method, target.replace("{tenant}", "{id}")) for _, method, target, _ in BODY_ROUTES[1:]),
)
#: Refused in every string field: they are never valid text for the registry.
ALWAYS_BAD = {
    "nul": f"{MARK}\x00",
    "lone-surrogate": f"{MARK}\ud800",
    "10k-chars": MARK + "x" * 10_000,
}
#: Refused in the fields with a syntax (slug, plan, timezone, e-mail), valid as a name.
SYNTAX_BAD = {
    "ansi-escape": f"{MARK}\x1b[2J",
    "sql": f"{MARK}' OR '1'='1'; DROP TABLE tenants; --",
    "rtl-override": f"\u202e{MARK}",
    "emoji": f"{MARK}\U0001f642",
    "path-traversal": f"../../{MARK}/passwd",
    "unknown-zone": "Mars/Olympus_Mons",
    "empty": "",
}
STRICT_FIELDS = ("slug", "plan", "timezone", "contact_email")
#: The string fields of each body route (the lifecycle commands have only ``reason``).
STRING_FIELDS = {
    "register": ("name", "reason", *STRICT_FIELDS),
    "update": ("name", "reason", "plan", "timezone", "contact_email"),
}


@dataclass(frozen=True)
class Hostile:
    """One hostile request and the statuses it may get."""

    id: str
    method: str
    target: bytes
    body: bytes = b""
    content_type: bytes | None = JSON
    headers: bytes = b""
    statuses: frozenset[int] = frozenset((422,))
    problem: bool = True  # False: refused by uvicorn before the app (plain 400)
    auth: bool = True  # send the API key
    idempotency_key: bool = True  # send a fresh Idempotency-Key


def _dumps(document: Any) -> bytes:
    # json, not orjson: it writes lone surrogates as \\ud800 escapes, as an attacker would.
    return json.dumps(document).encode()


def _string_attacks() -> list[Hostile]:
    cases = []
    for route, method, target, valid in BODY_ROUTES:
        for field in STRING_FIELDS.get(route, ("reason",)):
            attacks = {**ALWAYS_BAD, **(SYNTAX_BAD if field in STRICT_FIELDS else {})}
            if field in ("name", "reason"):
                attacks["ansi-escape"] = SYNTAX_BAD["ansi-escape"]
            for attack, value in attacks.items():
                body = _dumps({**valid, field: value})
                cases.append(Hostile(f"{route}-{field}-{attack}", method, target.encode(), body))
        if route in ("register", "update"):
            for attack, value in ALWAYS_BAD.items():
                for where, metadata in (("value", {"k": value}), ("key", {value: "v"})):
                    body = _dumps({**valid, "metadata": metadata})
                    cases.append(
                        Hostile(f"{route}-metadata-{where}-{attack}", method, target.encode(), body)
                    )
    return cases


def _nested(depth: int, *, objects: bool = False) -> bytes:
    if objects:
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth + b"]" * depth


def _structure_attacks() -> list[Hostile]:
    cases = []
    big = b'{"name": "' + b"x" * 70_000 + b'"}'
    bodies: dict[str, tuple[bytes, set[int]]] = {
        "invalid-utf8": (b'{"name": "\xff\xfe", "reason": "\xc3\x28"}', {422}),
        "overlong-utf8": (b'{"name": "\xc0\xaf", "reason": "\xc0\xaf"}', {422}),
        "cesu-surrogate": (b'{"name": "\xed\xa0\x80", "reason": "\xed\xa0\x80"}', {422}),
        "nested-arrays-30k": (_nested(30_000), {422}),
        "nested-objects-9k": (_nested(9_000, objects=True), {422}),
        "nested-arrays-100k": (_nested(100_000), {413, 422}),
        "over-64k": (big, {413}),
        "duplicate-keys": (b'{"name": "A", "reason": "a", "name": "B", "reason": "b"}', {422}),
        "truncated": (b'{"reason": ', {422}),
        "not-an-object": (b'["reason", "x"]', {422}),
        "bare-string": (b'"reason"', {422}),
        "nul-byte": (b"\x00", {422}),
        "unknown-field": (b'{"reason": "x", "hostile": true}', {422}),
        "number-1e400": (b'{"reason": 1e400, "name": 1e400}', {422}),
        "nan": (b'{"reason": NaN, "name": NaN}', {422}),
        "5000-digits": (b'{"reason": ' + b"9" * 5000 + b', "name": 1}', {422}),
        "metadata-1e400": (b'{"metadata": {"k": 1e400}, "reason": 1}', {422}),
        "metadata-huge-int": (b'{"metadata": {"k": ' + b"9" * 30 + b'}, "reason": 1}', {422}),
        "metadata-deep": (b'{"metadata": {"a": ' + _nested(500) + b'}, "reason": 1}', {422}),
    }
    for route, method, target, _ in BODY_ROUTES:
        for attack, (body, statuses) in bodies.items():
            cases.append(
                Hostile(
                    f"{route}-{attack}", method, target.encode(), body, statuses=frozenset(statuses)
                )
            )
        cases.append(
            Hostile(
                f"{route}-chunked-over-64k", method, target.encode(),
                b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big),
                headers=b"Transfer-Encoding: chunked\r\n", statuses=frozenset((413,)),
            )
        )  # fmt: skip
        for media in (b"text/plain", b"application/x-www-form-urlencoded", b"application/xml",
                      b"multipart/form-data; boundary=x", None):  # fmt: skip
            cases.append(
                Hostile(
                    f"{route}-content-type-{(media or b'none').split(b';')[0].decode()}",
                    method, target.encode(), b"reason=hostile", content_type=media,
                    statuses=frozenset((415,)),
                )
            )  # fmt: skip
    register = b"/v1/tenants"
    days_attacks = {"1e400": b"1e400", "nan": b"NaN", "infinity": b"Infinity",
                    "fraction": b"1.5", "2-64": str(2**64).encode(), "zero": b"0"}  # fmt: skip
    for attack, days in days_attacks.items():
        body = b'{"slug": "hostile-ok", "name": "H", "trial_days": ' + days + b"}"
        cases.append(Hostile(f"register-trial-days-{attack}", "POST", register, body))
    return cases


def _path_attacks() -> list[Hostile]:
    ids = {
        "not-a-uuid": b"not-a-uuid",
        "sql": b"'%20OR%20'1'='1",
        "pct-nul": b"%00",
        "pct-surrogate": b"%ED%A0%80",
        "emoji": b"%F0%9F%99%82",
        "300-chars": b"a" * 300,
        "almost-uuid": b"00000000-0000-0000-0000-00000000000g",
    }
    cases = []
    for method, target in ID_ROUTES:
        for attack, tenant_id in ids.items():
            path = target.encode().replace(b"{id}", tenant_id)
            cases.append(Hostile(f"{method}-{target}-{attack}", method, path, content_type=None))
    return cases


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


QUERIES: dict[str, list[str]] = {
    "/v1/tenants": [
        "status=bogus", "status=%00", "status=TRIAL", "plan=%00", "plan=a%00b",
        "plan=%27%20OR%201%3D1--", "plan=" + "a" * 41, "q=%00", f"q={MARK}%00",
        "q=" + "a" * 201, "limit=0", "limit=-1", "limit=201", "limit=1e400", "limit=abc",
        "limit=", "limit=" + "9" * 30, "include_deleted=maybe", "include_deleted=%00",
        "cursor=garbage", "cursor=%00", "cursor=" + "a" * 600,
        "cursor=" + _cursor("c1", "2027-01-01T00:00:00+00:00", "zz"),
        "cursor=" + _cursor("c1", "2027-01-01T00:00:00", "0" * 32),
        "cursor=" + _cursor("c2", "2027-01-01T00:00:00+00:00", "0" * 32),
        "cursor=" + _cursor("c1", 1, 2), "min_position=-1", f"min_position={2**63}",
        "min_position=abc", "min_position=1e400",
    ],
    "/v1/events": [
        "after=-1", "after=abc", "after=1e400", f"after={2**63}", "after=1.5", "limit=0",
        "limit=501", "limit=abc", "type=Bogus", "type=%00", "type=TenantRegistered%00",
    ],
    "/v1/tenants/{tenant}": ["min_position=-1", "min_position=abc", "min_position=NaN"],
}  # fmt: skip


def _query_attacks() -> list[Hostile]:
    return [
        Hostile(
            f"GET-{path}?{n}-{query[:30]}", "GET", f"{path}?{query}".encode(), content_type=None
        )
        for path, queries in QUERIES.items()
        for n, query in enumerate(queries)
    ]


def _header_attacks() -> list[Hostile]:
    activate = b"/v1/tenants/{tenant}/activate"
    big = b"X-Hostile: " + b"a" * 100_000 + b"\r\n"
    many = b"".join(b"X-Hostile-%d: a\r\n" % i for i in range(4_000))
    return [
        Hostile("idempotency-key-256", "POST", activate, b"{}",
                headers=b"Idempotency-Key: " + b"k" * 256 + b"\r\n", idempotency_key=False),
        Hostile("idempotency-key-empty", "POST", activate, b"{}",
                headers=b"Idempotency-Key: \r\n", idempotency_key=False),
        *(
            # Well-formed entity tags that can never match (RFC 9110 compares strongly). A
            # list reaches the command, whose 412 an Idempotency-Key would store: none sent.
            Hostile(f"if-match-{name}", "POST", activate, b"{}",
                    headers=b"If-Match: " + value + b"\r\n", statuses=frozenset((412,)),
                    idempotency_key=False)
            for name, value in (("word", b'"abc"'), ("huge", b'"' + b"9" * 20 + b'"'),
                                ("negative", b'W/"-1"'), ("list", b'"7", "8"'))
        ),
        Hostile("if-match-arabic-digit", "POST", activate, b"{}",
                headers=b'If-Match: ' + '"\u0663"'.encode() + b"\r\n"),
        *(
            Hostile(f"{where}-header-100k", method, target, body, headers=big,
                    statuses=frozenset((431,)))
            for where, method, target, body in (("get", "GET", b"/v1/stats", b""),
                                                ("post", "POST", activate, b"{}"))
        ),
        Hostile("4000-headers", "GET", b"/v1/stats", headers=many, statuses=frozenset((431,))),
        Hostile("bearer-8k", "GET", b"/v1/stats", headers=b"Authorization: Bearer " + b"a" * 8000
                + b"\r\n", auth=False, statuses=frozenset((401,))),
        Hostile("bearer-non-ascii", "GET", b"/v1/stats", auth=False,
                headers=b"Authorization: Bearer \xff\xfe.\xe2\x80\xae\r\n",
                statuses=frozenset((401,))),
        Hostile("basic-auth", "GET", b"/v1/stats", auth=False,
                headers=b"Authorization: Basic YWRtaW46YWRtaW4=\r\n", statuses=frozenset((401,))),
        Hostile("content-length-huge", "POST", activate, content_type=JSON,
                headers=b"Content-Length: 99999999999\r\n", statuses=frozenset((413,))),
    ]  # fmt: skip


def _protocol_attacks() -> list[Hostile]:
    """Requests ``uvicorn`` refuses itself (a plain 400: the app never sees them)."""
    plain = frozenset((400,))
    cases = [
        ("nul-in-header", "GET", b"/v1/stats", b"X-Hostile: a\x00b\r\n"),
        ("negative-content-length", "POST", b"/v1/tenants", b"Content-Length: -5\r\n"),
        ("content-length-and-chunked", "POST", b"/v1/tenants",
         b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
        ("nul-in-path", "GET", b"/v1/tenants/\x00", b""),
        ("raw-bytes-in-path", "GET", b"/v1/tenants/\xff\xfe", b""),
        ("url-200k", "GET", b"/v1/tenants?q=" + b"a" * 200_000, b""),
    ]  # fmt: skip
    return [
        Hostile(name, method, target, b"", content_type=None, headers=headers, statuses=plain,
                problem=False)
        for name, method, target, headers in cases
    ]  # fmt: skip


def hostile_requests() -> dict[str, list[Hostile]]:
    """The whole table, by family."""
    return {
        "strings-in-every-field": _string_attacks(),
        "bodies-encodings-and-media-types": _structure_attacks(),
        "ids-in-paths": _path_attacks(),
        "query-parameters": _query_attacks(),
        "headers": _header_attacks(),
        "http-protocol": _protocol_attacks(),
    }
