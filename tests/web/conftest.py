"""Browser tests of the web app: `make test-web` (Debian's chromium, driven by Playwright).

They run only when selected with `-m web`; a plain `pytest tests` skips them. The browser is
the machine's `/usr/bin/chromium` (override with MODELYARD_CHROMIUM); none is ever downloaded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.integration.harness import REPO, Server

CHROMIUM = os.environ.get("MODELYARD_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery"
LLM = "modelyard/smollm2-135m-instruct"
IMAGE = "modelyard/face-blur"
CATALOG = (LLM, IMAGE)
TYPED = "admin/typed"
TYPES = "admin/cli-types"
TICKER = "admin/ticker"
BUILD_TIMEOUT_S = 1500.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if re.search(r"(?<!not )\bweb\b", config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="browser tests: run `make test-web` (-m web)")
    for item in items:
        if f"{os.sep}web{os.sep}" in str(item.path):
            item.add_marker(skip)


@dataclass
class Site:
    """The server under test and the accounts on it."""

    server: Server
    bob_token: str

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.server.token}"},
            timeout=120,
        )


def _cli_with_input(srv: Server, text: str, *args: str) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "modelyard"), *args],
        env=srv.env(),
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, shared_envs_dir: Path) -> Iterator[Site]:
    """One server with two models of the built-in catalog (the LLM and the face blurrer) and
    admin's private typed model; admin has a password, bob is a second user with a token."""
    names = ",".join(ref.split("/", 1)[1] for ref in CATALOG)
    srv = Server(
        data_dir=tmp_path_factory.mktemp("web") / "data",
        envs_dir=shared_envs_dir,
        settings={
            "MODELYARD_REGISTER_BUILTIN_MODELS": "1",
            "MODELYARD_BUILTIN_MODELS": names,
        },
    )
    srv.start()
    try:
        for scenario, ref in (("typed", TYPED), ("cli-types", TYPES), ("ticker", TICKER)):
            srv.push(scenario, ref)
        _cli_with_input(srv, f"{PASSWORD}\n{PASSWORD}\n", "users", "set-password", "admin")
        created = srv.cli("users", "create", "bob")
        assert created.returncode == 0, created.stderr
        token = srv.cli("tokens", "create", "--user", "bob")
        assert token.returncode == 0, token.stderr
        _wait_for_catalog(srv, time.monotonic() + BUILD_TIMEOUT_S)
        yield Site(server=srv, bob_token=token.stdout.strip())
    finally:
        srv.stop()


def _wait_for_catalog(srv: Server, deadline: float) -> None:
    """Until the catalog models have a version and their default example (the cover shot)."""
    with srv.http() as http:
        for ref in CATALOG:
            while True:
                model = http.get(f"/v1/models/{ref}").json()
                example = model.get("default_example") or {}
                if example.get("status") in ("succeeded", "failed", "canceled"):
                    break
                assert time.monotonic() < deadline, srv.log_path.read_text()[-5000:]
                time.sleep(2)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test-web` installs Debian's chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where screenshots go: WEB_SCREENSHOTS, else a folder under the test run's tmp."""
    folder = Path(os.environ.get("WEB_SCREENSHOTS") or REPO / ".cache" / "web-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def snap(page: Page, path: Path) -> None:
    """A whole-page screenshot. Playwright's `full_page` leaves Chromium's hit-testing off
    afterwards (later clicks miss), so the viewport is made as tall as the page instead."""
    size = page.viewport_size or {"width": 1280, "height": 900}
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def sign_in_with_password(page: Page, site: Site, username: str, password: str) -> None:
    page.goto(f"{site.url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form:has(#password) button[type=submit]")
    page.wait_for_url(f"{site.url}/")


def sign_in_with_token(page: Page, site: Site, token: str) -> None:
    page.goto(f"{site.url}/login")
    page.fill("#token", token)
    page.click("form:has(#token) button[type=submit]")
    page.wait_for_url(f"{site.url}/")


def prediction_id(page: Page) -> str:
    value = page.get_attribute("#result .panel", "data-prediction")
    assert value and re.fullmatch(r"[a-z0-9]{26}", value), value
    return value
