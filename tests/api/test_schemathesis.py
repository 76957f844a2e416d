"""Property-based conformance: Schemathesis drives every operation of ``/openapi.json``.

No response may be a 5xx, and every response must match the status codes, media types,
headers and bodies the document declares. Bounded: a few dozen examples per operation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from common.clock import FrozenClock
from common.db import connect
from common.settings import Settings
from projections.batch import BatchProjector, Target
from projections.runner import drain
from tests.api.conftest import Headers

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# The document comes from an app that never connects (building one touches nothing); the
# calls go to an app on the test's database, given per call below. (Schemathesis's
# ``from_fixture`` does not work with this pytest.)
_UNUSED = Settings.model_validate({"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"})
schema = schemathesis.openapi.from_dict(create_app(_UNUSED).openapi())
# Methods a path does not declare answer a problem 405 (test_protocol.py); sending every one
# of them to every path would double the run for nothing new.
schema.config.phases.coverage.unexpected_methods = set()
# A 200 of a stream never ends; tests/changes covers the streams on a real server.
operations = schema.exclude(path_regex=r"/stream$")


@pytest.fixture
def app_under_test(settings: Settings, clock: FrozenClock) -> Iterator[FastAPI]:
    """An app on the test's database, with the read side kept current meanwhile (so a
    ``min_position`` Schemathesis finds in the store is reached, not a 5 s wait)."""
    stop = threading.Event()

    def project() -> None:
        # One connection for the whole test, not two new ones every 50 ms: with other suites
        # on the same server, connection slots run out ("too many clients"), and a lost
        # connection is retried as the real projector does, not a thread that dies.
        projector = BatchProjector(settings, Target())
        while not stop.is_set():
            try:
                with connect(settings) as conn:
                    while not stop.wait(0.05):
                        drain(conn, projector)
            except psycopg.OperationalError:
                stop.wait(0.5)

    projector = threading.Thread(target=project, daemon=True)
    projector.start()
    app = create_app(settings, clock)
    try:
        with TestClient(app):  # its pools are closed at the end
            yield app
    finally:
        stop.set()
        projector.join()


@operations.parametrize()
@hypothesis_settings(
    max_examples=5,  # the coverage phase adds the boundary and negative cases
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms_to_the_openapi_document(
    case: Any, app_under_test: FastAPI, admin: Headers
) -> None:
    case.call_and_validate(app=app_under_test, headers=admin, checks=CHECKS)
