"""The client's copies of the API's shapes agree with the server's (one check, not a hope)."""

from __future__ import annotations

from pydantic import BaseModel
from tenant_registry_client import models
from tenant_registry_client.errors import PROBLEM_CLASSES
from tenant_registry_client.records import FIELDS

from api.change_models import ChangeOut
from api.models import EventOut, ProjectionOut, Stats, TenantOut
from api.problems import _TITLES
from domain.tenant import TENANT_FIELDS


def test_every_problem_token_the_server_answers_has_its_exception_class() -> None:
    assert set(_TITLES) <= set(PROBLEM_CLASSES)


def test_the_client_models_have_the_fields_of_the_server_models() -> None:
    pairs: list[tuple[type[BaseModel], type[BaseModel]]] = [
        (models.Tenant, TenantOut),
        (models.Event, EventOut),
        (models.Change, ChangeOut),
        (models.Stats, Stats),
        (models.Projection, ProjectionOut),
    ]
    for client_model, server_model in pairs:
        assert set(client_model.model_fields) == set(server_model.model_fields), client_model


def test_a_directory_record_holds_every_field_of_a_tenant() -> None:
    assert set(FIELDS) == set(TENANT_FIELDS)
