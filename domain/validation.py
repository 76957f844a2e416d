"""Validation of tenant fields (SPEC §2). Each checker returns the clean value or an error text."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import Any

from domain.errors import FieldError, ValidationFailed

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
PLAN = re.compile(r"^[a-z0-9_-]{1,40}$")
_EMAIL_LOCAL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$"
)
_EMAIL_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_EMAIL_TLD = re.compile(r"^[A-Za-z]{2,63}$")

NAME_MAX = 200
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_MAX_BYTES = 8 * 1024
METADATA_MAX_DEPTH = 16
_INT64 = 2**63


class Collector:
    """Gathers every field error of one command, so a caller sees all problems at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """The zone names of the IANA database as the ``tzdata`` package ships it.

    Not ``zoneinfo.available_timezones()``: that also lists whatever the host's zoneinfo
    folder holds (``localtime``, ``posixrules``, ``right/...``), so it differs by machine.
    """
    listing = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in listing.splitlines() if line.strip())


def check_slug(value: object) -> str | None:
    if not isinstance(value, str) or not SLUG.fullmatch(value):
        return (
            "must be 3-63 characters of lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return None


def clean_name(value: object) -> tuple[str, str | None]:
    if not isinstance(value, str):
        return "", "must be a string"
    if not _is_utf8(value):
        return "", "must be valid UTF-8"
    name = value.strip()
    if not 1 <= len(name) <= NAME_MAX:
        return name, f"must be 1-{NAME_MAX} characters after trimming"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return name, "must not contain control characters"
    return name, None


def check_timezone(value: object) -> str | None:
    if not isinstance(value, str) or value not in known_zones():
        return "must be an IANA time zone name such as Asia/Jerusalem"
    return None


def check_plan(value: object) -> str | None:
    if not isinstance(value, str) or not PLAN.fullmatch(value):
        return "must be 1-40 characters of lower-case letters, digits, '_' and '-'"
    return None


def clean_email(value: object) -> tuple[str | None, str | None]:
    """A pragmatic RFC 5321 check: dot-atom local part, a hostname with a TLD."""
    if value is None:
        return None, None
    bad = "must be a valid e-mail address"
    if not isinstance(value, str) or len(value) > 254 or not value.isascii():
        return None, bad
    local, at, domain = value.rpartition("@")
    if not at or not 1 <= len(local) <= 64 or not _EMAIL_LOCAL.fullmatch(local):
        return None, bad
    labels = domain.split(".")
    if len(labels) < 2 or not _EMAIL_TLD.fullmatch(labels[-1]):
        return None, bad
    if not all(_EMAIL_LABEL.fullmatch(label) for label in labels):
        return None, bad
    return f"{local}@{domain.lower()}", None


def _storable_text(text: str) -> bool:
    # PostgreSQL's jsonb (the read table) cannot hold U+0000: a metadata string with it
    # would be stored as an event and then stop the projection at that event for good.
    return _is_utf8(text) and "\x00" not in text


def _json_value_problem(value: Any, depth: int) -> str | None:
    if depth > METADATA_MAX_DEPTH:
        return f"must not nest deeper than {METADATA_MAX_DEPTH} levels"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -_INT64 <= value < _INT64 else "integers must fit in 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite"
    if isinstance(value, str):
        return None if _storable_text(value) else "strings must be valid UTF-8 without NUL"
    if isinstance(value, list):
        for item in value:
            if problem := _json_value_problem(item, depth + 1):
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not _storable_text(key):
                return "keys must be strings (valid UTF-8, no NUL)"
            if problem := _json_value_problem(item, depth + 1):
                return problem
        return None
    return "values must be JSON"


def check_metadata(value: object) -> str | None:
    if not isinstance(value, dict):
        return "must be a JSON object"
    if len(value) > METADATA_MAX_KEYS:
        return f"must have at most {METADATA_MAX_KEYS} keys"
    for key in value:
        if not isinstance(key, str) or not 1 <= len(key) <= METADATA_KEY_MAX:
            return f"keys must be 1-{METADATA_KEY_MAX} characters"
    if problem := _json_value_problem(value, 0):
        return problem
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > METADATA_MAX_BYTES:
        return f"must serialise to at most {METADATA_MAX_BYTES} bytes (got {size})"
    return None


def check_days(value: object, *, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"must be a whole number from {low} to {high}"
    return None


def check_reason(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _is_utf8(value) or len(value) > 500:
        return "must be a string of at most 500 characters"
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        return "must not contain control characters"
    return None
