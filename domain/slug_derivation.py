"""A slug for a tenant that came without one (imports, SPEC §13).

The name, folded to ASCII lower-case letters, digits and hyphens, then the first eight hex
digits of the tenant's id: unique in practice, the same in every run (an import that is
resumed or repeated derives the same slug), and independent of the order rows arrive in, so a
derived slug never takes one that a row of the same source names explicitly.
"""

from __future__ import annotations

import re
import unicodedata
from uuid import UUID

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_SUFFIX = 9  # "-" and eight hex digits
_MAX = 63


def derive_slug(name: object, tenant_id: UUID) -> str:
    """``"Acme Ltd."`` with id ``1a2b3c4d-…`` gives ``"acme-ltd-1a2b3c4d"``."""
    text = name if isinstance(name, str) else ""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    base = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")[: _MAX - _SUFFIX].strip("-")
    return f"{base or 'tenant'}-{tenant_id.hex[:8]}"
