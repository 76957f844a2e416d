"""docker-compose.yml and the Dockerfile, checked without Docker (it does not run here).

The compose file is validated against the Compose specification's JSON schema, as vendored by
the ``pod-porter`` package (a copy of compose-spec/compose-spec ``schema/compose-spec.json``);
every command a container runs must parse with the real CLI.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs; only the validator is used
import pytest
import yaml

from cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("api", "projector", "worker", "scheduler")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and line[0] != "#"]


def compose_schema() -> dict[str, Any]:
    spec = resources.files("pod_porter.render") / "compose_spec" / "compose-spec.json"
    schema: dict[str, Any] = json.loads(spec.read_text())
    return schema


def _parses(argv: list[str]) -> bool:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        return False
    return callable(getattr(args, "handler", None))


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = compose_schema()
    assert schema["title"] == "Compose Specification"
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_check_rejects_a_broken_compose_file(compose: dict[str, Any]) -> None:
    broken = {**compose, "services": {**compose["services"], "api": {"command": 42}}}
    assert not jsonschema.Draft7Validator(compose_schema()).is_valid(broken)


def test_every_container_command_is_a_cli_command(compose: dict[str, Any]) -> None:
    ours = {n: s for n, s in compose["services"].items() if s.get("image", "").startswith("tenant")}
    assert set(ours) == {"migrate", *APP_SERVICES}
    for name, service in ours.items():
        assert _parses(service["command"]), f"{name}: {service['command']} is not a CLI command"
    projector_check = " ".join(ours["projector"]["healthcheck"]["test"][1:])
    command = projector_check.split("|")[0].split()
    assert command[0] == "tenant-registry"
    assert _parses(command[1:])


def test_services_wait_for_healthy_servers_and_a_finished_migration(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in ("postgres", "redis"):
        assert "test" in services[name]["healthcheck"], name
        assert services[name]["volumes"], name
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert not services[name]["healthcheck"].get("disable", False), name
    assert "--appendonly" in services["redis"]["command"]


def test_api_and_worker_scale_to_three_without_conflicts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert not [name for name, s in services.items() if "container_name" in s]
    assert "ports" not in services["worker"]
    (published,) = services["api"]["ports"]
    host, container = published.rsplit(":", 1)
    assert container == "8000"
    first, last = (int(p) for p in host.split("-"))
    assert last - first + 1 >= 3, "each of three API replicas needs its own host port"


def test_scheduler_runs_in_the_business_time_zone(compose: dict[str, Any]) -> None:
    env = compose["services"]["scheduler"]["environment"]
    assert env["TZ"] == env["TENANT_REGISTRY_TIMEZONE"]
    assert env["TZ"] in zoneinfo.available_timezones()
    assert all(compose["services"][name]["environment"]["DATABASE_URL"] for name in APP_SERVICES)


def test_image_is_multi_stage_slim_and_runs_as_a_user(dockerfile: list[str]) -> None:
    stages = [line for line in dockerfile if line.upper().startswith("FROM")]
    assert len(stages) >= 2
    assert any("AS builder" in line for line in stages[:-1])
    args = dict(
        line.split(None, 1)[1].split("=", 1) for line in dockerfile if line.startswith("ARG")
    )
    assert stages[-1] in ("FROM python:3.11-slim", "FROM ${PYTHON_IMAGE}")
    assert args.get("PYTHON_IMAGE", "python:3.11-slim") == "python:3.11-slim"
    final = dockerfile[dockerfile.index(stages[-1]) :]
    assert not [line for line in final if re.search(r"build-essential|gcc|\bmake\b", line)]
    users = [line.split()[1] for line in final if line.startswith("USER")]
    assert users and users[-1] not in ("root", "0")


def test_image_runs_the_cli_and_checks_healthz(dockerfile: list[str]) -> None:
    def value(instruction: str) -> Any:
        (line,) = [x for x in dockerfile if x.startswith(instruction + " ")]
        return line[len(instruction) + 1 :]

    assert json.loads(value("ENTRYPOINT")) == ["tenant-registry"]
    assert _parses(json.loads(value("CMD")))
    assert json.loads(value("CMD"))[:3] == ["serve", "--host", "0.0.0.0"]  # noqa: S104
    assert value("EXPOSE") == "8000"
    health = value("HEALTHCHECK")
    assert "/healthz" in health and "urllib" in health and "curl" not in health


def test_build_context_leaves_out_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "var", "tests"):
        assert entry in ignored


def test_operations_guide_documents_every_setting() -> None:
    from common.settings import Settings  # noqa: PLC0415

    guide = (ROOT / "docs" / "operations.md").read_text()
    for name, field in Settings.model_fields.items():
        variable = field.validation_alias or f"TENANT_REGISTRY_{name.upper()}"
        assert f"`{variable}`" in guide, f"{variable} is missing from docs/operations.md"
        if isinstance(variable, str) and variable.startswith("TENANT_REGISTRY_"):
            # The table's default column must follow the code: | `VAR` | `default` | … |
            row = guide.split(f"| `{variable}` |", 1)[1].split("|", 1)[0].strip()
            assert row == f"`{field.default}`", f"{variable}: docs say {row}, code {field.default}"
