"""``/docs`` renders with no internet access (SPEC §11, issue 16 acceptance 4).

A real server on a free port, headless Chromium (the Debian package) with every request to
any other host aborted: the page must render its operations, and it must not even ask for
anything elsewhere.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import uvicorn

from api.app import create_app
from common.clock import FrozenClock
from common.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Route

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DEADLINE_MS = 60_000

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Chromium (apt-get install chromium)"
)


@pytest.fixture
def server_url(settings: Settings, clock: FrozenClock) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings, clock), log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE_MS / 1000
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(DEADLINE_MS / 1000)
        sock.close()


def test_docs_render_with_the_network_limited_to_the_server(server_url: str) -> None:
    own = urlsplit(server_url).netloc
    elsewhere: list[str] = []

    def only_the_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.route("**/*", only_the_server)
            page.goto(f"{server_url}/docs", timeout=DEADLINE_MS)
            page.wait_for_selector("#operations-tenants-registerTenant", timeout=DEADLINE_MS)
            title = page.text_content(".swagger-ui .info .title", timeout=DEADLINE_MS)
        finally:
            browser.close()
    assert title is not None
    assert "Tenant Registry" in title
    assert elsewhere == []
