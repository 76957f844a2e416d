"""The operator console in a real browser: Debian's Chromium, headless, driven by Playwright.

One ``tenant-registry serve`` and one ``tenant-registry project`` run as subprocesses on the
session's database for the whole module; every test opens a fresh browser context (its own
``sessionStorage``) and signs in with a key. Waits are on selectors and texts, never sleeps.
Set ``TR_CONSOLE_SCREENSHOTS=<folder>`` to also save the README's screenshots there.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.keys import KeyAdmin
from application.registry import TenantRegistry
from common.clock import FrozenClock, SystemClock
from common.db import connect
from common.settings import Settings
from tests.conftest import REDIS_URL, truncate_all
from tests.support.private_pg import free_port

CLI = str(Path(sys.executable).with_name("tenant-registry"))
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = os.environ.get("TR_CONSOLE_SCREENSHOTS")
#: Generous: two loaded cores shared with other suites.
WAIT_MS = 20_000

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="needs Chromium (apt-get install chromium; CI installs it and fails without it)",
)


class Registry:
    """The server under test: its URL, keys, and a plain HTTP client for moves behind the
    console's back."""

    def __init__(self, settings: Settings, url: str, admin: str, reader: str) -> None:
        self.settings = settings
        self.url = url
        self.admin = admin
        self.reader = reader
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=30
        )

    def register(self, slug: str, **fields: Any) -> dict[str, Any]:
        body = {"slug": slug, "name": slug.replace("-", " ").title(), **fields}
        response = self.http.post("/v1/tenants", json=body)
        assert response.status_code == 201, response.text
        document: dict[str, Any] = response.json()
        return document

    def command(self, tenant_id: str, name: str) -> None:
        if name == "delete":
            response = self.http.delete(f"/v1/tenants/{tenant_id}")
        else:
            response = self.http.post(f"/v1/tenants/{tenant_id}/{name}")
        assert response.status_code == 200, response.text


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("serve did not start")


@pytest.fixture(scope="module")
def registry(database_url: str) -> Iterator[Registry]:
    settings = Settings.model_validate(
        {"DATABASE_URL": database_url, "REDIS_URL": f"{REDIS_URL}/0"}
    )
    truncate_all(settings)
    with connect(settings) as conn:
        admin = KeyAdmin(conn, settings)
        _, admin_key = admin.create("ops", ("admin",), SystemClock().now())
        _, reader_key = admin.create("viewer", ("tenants:read",), SystemClock().now())
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.redis_url,
        # the webhook test's receiver URL is on loopback (ignored without the webhooks API)
        "TENANT_REGISTRY_WEBHOOKS_ALLOW_PRIVATE": "true",
    }
    processes = [
        subprocess.Popen([CLI, "serve", "--port", str(port)], env=env),
        subprocess.Popen([CLI, "project"], env=env),
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, processes[0])
        served = Registry(settings, url, admin_key, reader_key)
        yield served
        served.http.close()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == [], "the console threw"


def sign_in(page: Page, registry: Registry, key: str, where: str = "") -> None:
    page.goto(f"{registry.url}/console/{where}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who-name")).to_be_visible()


def open_tenant(page: Page, registry: Registry, tenant_id: str) -> None:
    page.goto(f"{registry.url}/console/#/tenants/{tenant_id}")
    expect(page.get_by_role("heading", name="History")).to_be_visible()


def command_buttons(page: Page) -> Any:
    return page.get_by_role("group", name="Allowed commands").get_by_role("button")


def timeline(page: Page) -> Any:
    return page.locator("ol.timeline > li")


def test_operator_registers_finds_and_activates_a_tenant_with_a_reason(
    page: Page, registry: Registry
) -> None:
    sign_in(page, registry, registry.admin)
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    page.get_by_text("Register a tenant").click()
    page.get_by_label("Slug", exact=True).fill("northwind")
    page.get_by_label("Name", exact=True).fill("Northwind Traders")
    page.get_by_label("Time zone").fill("America/New_York")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Northwind Traders")
    expect(page.locator("h1 .badge")).to_have_text("trial")
    expect(
        page.get_by_role("columnheader", name="Tenant's time (America/New_York)")
    ).to_be_visible()

    page.get_by_role("link", name="All tenants").click()
    page.get_by_label("Name or slug").fill("northw")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Northwind Traders").click()

    expect(command_buttons(page)).to_have_text(["Activate", "Pause", "Cancel"])
    page.get_by_label("Reason").fill("paid by wire")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("h1 .badge")).to_have_text("active")
    latest = timeline(page).first
    expect(latest).to_contain_text("Activated by key:ops")
    expect(latest).to_contain_text("Reason: paid by wire")
    expect(command_buttons(page)).to_have_text(["Start grace period", "Pause", "Cancel"])


def test_list_filters_by_status_and_plan_pages_with_the_cursor_and_can_include_deleted(
    page: Page, registry: Registry
) -> None:
    slugs = [f"paged-{n:02d}" for n in range(21)]
    for slug in slugs:
        registry.register(slug, plan="paging")
    gone = registry.register("paged-gone", plan="paging")
    registry.command(gone["id"], "cancel")
    registry.command(gone["id"], "delete")
    sign_in(page, registry, registry.admin)
    search = page.get_by_role("search")
    search.get_by_label("Plan").fill("paging")
    page.get_by_role("button", name="Search").click()
    rows = page.locator(".results tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text("paged-20")  # newest first
    page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("paged-00")
    page.get_by_role("link", name="Previous page").click()
    expect(rows).to_have_count(20)

    search.get_by_label("Status").select_option("cancelled")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No tenant matches.")).to_be_visible()
    search.get_by_label("Include deleted").check()
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("deleted")


def test_refused_command_shows_the_problem_in_words_and_the_allowed_commands(
    page: Page, registry: Registry
) -> None:
    tenant = registry.register("contoso")
    sign_in(page, registry, registry.admin)
    open_tenant(page, registry, tenant["id"])
    registry.command(tenant["id"], "cancel")  # behind the console's back

    page.get_by_role("button", name="Pause").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The tenant's state does not allow this command")
    expect(alert).to_contain_text("Allowed now: Reactivate, Delete")
    expect(command_buttons(page)).to_have_text(["Reactivate", "Delete"])


def test_profile_edit_is_saved_and_a_concurrent_change_is_explained(
    page: Page, registry: Registry
) -> None:
    tenant = registry.register("fabrikam")
    sign_in(page, registry, registry.admin)
    open_tenant(page, registry, tenant["id"])
    page.get_by_label("Name", exact=True).fill("Fabrikam Inc")
    page.get_by_label("Plan").fill("pro")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Fabrikam Inc")
    expect(timeline(page).first).to_contain_text("Profile updated by key:ops")

    changed = registry.http.patch(f"/v1/tenants/{tenant['id']}", json={"plan": "enterprise"})
    assert changed.status_code == 200, changed.text
    page.get_by_label("Contact e-mail").fill("ops@fabrikam.example")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Someone else changed this tenant since you opened it"
    )
    page.get_by_role("button", name="Reload the tenant").click()
    expect(page.get_by_label("Plan")).to_have_value("enterprise")


def test_delete_and_restore_ask_for_confirmation(page: Page, registry: Registry) -> None:
    tenant = registry.register("tailspin")
    registry.command(tenant["id"], "cancel")
    sign_in(page, registry, registry.admin)
    open_tenant(page, registry, tenant["id"])

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Keep as it is").click()
    expect(page.locator("h1 .badge.deleted")).to_have_count(0)
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.locator("h1 .badge.deleted")).to_be_visible()
    expect(command_buttons(page)).to_have_text(["Restore"])
    expect(page.get_by_role("heading", name="Profile")).to_have_count(0)

    page.get_by_role("button", name="Restore").click()
    page.get_by_role("button", name="Yes, restore").click()
    expect(page.locator("h1 .badge.deleted")).to_have_count(0)
    expect(timeline(page).first).to_contain_text("Restored by key:ops")
    expect(timeline(page).nth(1)).to_contain_text("Deleted by key:ops")


def test_read_only_key_sees_no_command_buttons_and_a_403_is_explained(
    page: Page, registry: Registry
) -> None:
    tenant = registry.register("adventure-works")
    page.goto(f"{registry.url}/console/")
    expect(page.get_by_label("API key")).to_be_focused()  # signing in needs only the keyboard
    page.keyboard.type(registry.reader)
    page.keyboard.press("Enter")
    expect(page.locator("#who-name")).to_have_text("Key viewer (tenants:read)")
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link")).to_have_text(
        ["Tenants"]
    )
    expect(page.get_by_text("Register a tenant")).to_have_count(0)
    open_tenant(page, registry, tenant["id"])
    expect(page.get_by_text("Your API key can only read")).to_be_visible()
    expect(page.locator("main button")).to_have_count(0)

    page.goto(f"{registry.url}/console/#/keys")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The API key lacks the scope this route needs")
    expect(alert).to_contain_text("Your API key “viewer” is not allowed to do this")


def test_purged_tenant_is_shown_as_purged(page: Page, registry: Registry) -> None:
    tenant = registry.register("wingtip")
    registry.command(tenant["id"], "cancel")
    registry.command(tenant["id"], "delete")
    clock = FrozenClock(SystemClock().now())
    clock.advance(timedelta(days=registry.settings.retention_days + 1))
    app = TenantRegistry(registry.settings, clock)
    try:
        assert app.purge(UUID(tenant["id"])) == "changed"
    finally:
        app.close()
    sign_in(page, registry, registry.admin)
    page.goto(f"{registry.url}/console/#/tenants/{tenant['id']}")
    expect(page.get_by_role("heading", name="Purged tenant")).to_be_visible()
    expect(page.locator(".purged")).to_contain_text("data has been erased")


def test_admin_creates_a_key_sees_its_secret_once_and_revokes_it(
    page: Page, registry: Registry
) -> None:
    sign_in(page, registry, registry.admin)
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("support-desk")
    page.get_by_label("tenants:read").check()
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret of support-desk").input_value()
    assert re.fullmatch(r"[0-9a-f]{16}\.\S+", secret)
    ok = httpx.get(
        f"{registry.url}/v1/tenants", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )
    assert ok.status_code == 200

    page.get_by_role("button", name="Revoke support-desk").click()
    page.get_by_role("button", name="Yes, revoke support-desk").click()
    row = page.get_by_role("row").filter(has_text="support-desk")
    expect(row).to_contain_text("revoked")
    page.reload()
    expect(page.get_by_role("row").filter(has_text="support-desk")).not_to_contain_text(secret)


@pytest.mark.skipif(
    importlib.util.find_spec("api.routers.webhooks") is None,
    reason="the webhooks API (SPEC §10) is not in this build; the console hides its pages",
)
def test_admin_adds_a_webhook_sees_its_secret_once_and_its_delivery_log(
    page: Page, registry: Registry
) -> None:
    sign_in(page, registry, registry.admin)
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("URL").fill("http://127.0.0.1:9/hooks")
    page.get_by_label("Description").fill("billing")
    page.get_by_label("Cancelled").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.get_by_label("Signing secret of http://127.0.0.1:9/hooks").input_value()
    assert secret.startswith("whsec_")

    page.get_by_role("link", name="http://127.0.0.1:9/hooks").click()
    expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("button", name="Enable")).to_be_visible()
    page.get_by_role("button", name="Rotate secret").click()
    page.get_by_role("button", name="Yes, rotate").click()
    rotated = page.get_by_label("New signing secret of http://127.0.0.1:9/hooks").input_value()
    assert rotated.startswith("whsec_") and rotated != secret
    page.get_by_role("button", name="Delete endpoint").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_text("No endpoint yet.")).to_be_visible()


def _serious(page: Page) -> list[str]:
    results = Axe().run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def _shoot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page="desktop" in name)


def test_main_pages_have_no_serious_accessibility_violations(
    browser: Browser, registry: Registry
) -> None:
    for slug, plan in (("blue-yonder", "pro"), ("litware", "standard"), ("proseware", "pro")):
        registry.register(slug, plan=plan, contact_email=f"billing@{slug}.example")
    tenant = registry.register(
        "alpine-ski-house",
        name="Alpine Ski House",
        plan="enterprise",
        contact_email="ops@alpineskihouse.example",
        metadata={"crm_id": "A-17"},
    )
    registry.command(tenant["id"], "activate")
    for width, height, suffix in ((1280, 900, "desktop"), (390, 844, "phone")):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        try:
            desktop = suffix == "desktop"  # the phone width checks the densest page only
            page.goto(f"{registry.url}/console/")
            expect(page.get_by_label("API key")).to_be_visible()
            assert not desktop or _serious(page) == [], "sign-in page"
            sign_in(page, registry, registry.admin)
            expect(page.get_by_role("link", name="Alpine Ski House")).to_be_visible()
            assert not desktop or _serious(page) == [], "tenant list"
            _shoot(page, f"tenants-{suffix}")
            page.get_by_role("link", name="Alpine Ski House").click()
            expect(timeline(page)).to_have_count(2)
            assert _serious(page) == [], f"tenant page ({suffix})"
            _shoot(page, f"tenant-{suffix}")
            if desktop:
                page.get_by_role("link", name="API keys").click()
                expect(page.get_by_role("row").filter(has_text="viewer")).to_be_visible()
                assert _serious(page) == [], "API keys page"
                page.get_by_role("link", name="Projections").click()
                expect(page.get_by_role("cell", name="tenants", exact=True)).to_be_visible()
                assert _serious(page) == [], "projections page"
        finally:
            context.close()
