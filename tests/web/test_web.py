"""The web app in a real browser: sign in, run models live, errors, tokens, privacy, CSRF."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import replicate
from playwright.sync_api import Browser, Page, expect
from replicate.exceptions import ReplicateError

from tests.integration.harness import REPO
from tests.web.conftest import (
    IMAGE,
    LLM,
    PASSWORD,
    TICKER,
    TYPED,
    TYPES,
    Site,
    prediction_id,
    sign_in_with_password,
    sign_in_with_token,
    snap,
)

# The first test also waits for the catalog build (BUILD_TIMEOUT_S on a machine without cached
# environments).
pytestmark = [pytest.mark.web, pytest.mark.timeout(1800)]

DONE = "#result .panel[data-done=true]"
# Set before Run: on the first streamed token, note whether the prediction had finished.
WATCH_TOKENS = """() => {
  window.__tokens = {mutations: 0, firstBeforeDone: null};
  new MutationObserver(() => {
    const live = document.querySelector('#result .out-text.live');
    if (!live || !live.textContent) return;
    window.__tokens.mutations += 1;
    if (window.__tokens.firstBeforeDone === null) {
      const panel = document.querySelector('#result .panel');
      window.__tokens.firstBeforeDone = panel.dataset.done === 'false';
    }
  }).observe(document.getElementById('result'),
             {subtree: true, childList: true, characterData: true});
}"""


def test_password_sign_in_and_llm_tokens_appear_live(page: Page, site: Site, shots: Path) -> None:
    sign_in_with_password(page, site, "admin", PASSWORD)
    snap(page, shots / "front-page.png")
    page.goto(f"{site.url}/{LLM}")
    page.fill("#in-prompt", "Name three colours of the rainbow.")
    page.fill("#in-max_new_tokens", "12")
    page.fill("#in-temperature", "0")
    page.fill("#in-seed", "7")
    snap(page, shots / "model-before-run.png")
    page.click("#tab-api")
    snippets = page.locator("#api")
    expect(snippets).to_be_visible()
    expect(page.locator("#playground")).to_be_hidden()
    for text in (
        f'base_url="{site.url}"',
        f'baseUrl: "{site.url}/v1"',
        f"{site.url}/v1/models/{LLM}/predictions",
        f'base_url="{site.url}/openai/v1"',
    ):
        expect(snippets).to_contain_text(text)
    page.click("#tab-playground")
    page.evaluate(WATCH_TOKENS)
    page.click("#run")
    page.wait_for_selector("#result .out-text.live", timeout=240_000)
    page.wait_for_selector(DONE, timeout=240_000)
    seen = page.evaluate("window.__tokens")
    assert seen["firstBeforeDone"] is True, seen
    assert seen["mutations"] > 3, seen  # the text grew token by token
    shown = page.inner_text("#result .out-text")
    pid = prediction_id(page)
    with site.api() as api:
        prediction = api.get(f"/v1/predictions/{pid}").json()
    assert prediction["status"] == "succeeded"
    assert prediction["source"] == "web"
    assert shown == "".join(prediction["output"])
    snap(page, shots / "model-after-run.png")
    page.goto(f"{site.url}/p/{pid}")
    expect(page.locator(".metrics")).to_contain_text("predict_time")
    snap(page, shots / "prediction.png")
    page.click("text=Run again with these inputs")
    expect(page.locator("#in-prompt")).to_have_value("Name three colours of the rainbow.")
    expect(page.locator("#in-seed")).to_have_value("7")
    page.goto(f"{site.url}/usage")
    expect(page.locator("svg.chart rect").first).to_be_attached()
    snap(page, shots / "usage.png")


def test_image_upload_renders_the_output_image(page: Page, site: Site) -> None:
    sign_in_with_token(page, site, site.server.token)
    page.goto(f"{site.url}/{IMAGE}")
    page.set_input_files("#in-image", str(REPO / "models" / "face-blur" / "example.jpg"))
    preview = page.locator("#in-image-preview img")
    expect(preview).to_be_visible()
    page.click("#run")
    page.wait_for_selector(DONE, timeout=180_000)
    image = page.locator("#result img.out-media")
    expect(image).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('#result img.out-media');"
        " return i && i.complete; }"
    )
    assert image.evaluate("i => i.naturalWidth") > 0
    with site.api() as api:
        prediction = api.get(f"/v1/predictions/{prediction_id(page)}").json()
    assert prediction["status"] == "succeeded"
    assert prediction["input"]["image"].startswith(site.url + "/v1/files/")


def test_out_of_range_number_shows_the_422_next_to_its_field(page: Page, site: Site) -> None:
    sign_in_with_token(page, site, site.server.token)
    page.goto(f"{site.url}/{TYPED}")
    expect(page.locator(".field[data-field=name] .req")).to_be_visible()  # required mark
    expect(page.locator("#in-color")).to_have_value("red")  # default filled in
    expect(page.locator("#api")).not_to_contain_text("OpenAI")  # typed is no chat model
    page.fill("#in-name", "x")
    page.fill("#in-count", "50")
    page.click("#run")
    error = page.locator(".field[data-field=count] .field-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("less than or equal to 10")
    expect(page.locator("#in-count")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field[data-field=name] .field-error")).to_be_hidden()
    expect(page.locator("#result .panel")).to_have_count(0)  # nothing was created


def test_lists_choices_and_booleans_reach_the_model_typed(
    page: Page, site: Site, tmp_path: Path
) -> None:
    first, second = tmp_path / "one.txt", tmp_path / "two.txt"
    first.write_text("first file")
    second.write_text("second file")
    sign_in_with_token(page, site, site.server.token)
    page.goto(f"{site.url}/{TYPES}")
    expect(page.locator("#in-words")).to_have_value("x")  # a list's default
    page.set_input_files("#in-files", str(first))
    page.locator("[data-list=files] .add").click()
    page.set_input_files("#in-files-2", str(second))
    expect(page.locator("#in-files-2-preview")).to_have_text("two.txt")
    page.fill("#in-words", "a")
    page.locator("[data-list=words] .add").click()
    page.fill("#in-words-2", "b")
    page.select_option("#in-int_choices", "5")
    page.check("#in-flag")
    page.click("#run")
    page.wait_for_selector(DONE, timeout=120_000)
    output = json.loads(page.inner_text("#result .out-text"))
    assert output == {
        "files": ["first file", "second file"],
        "words": ["a", "b"],
        "int_choices": 5,
        "value": 0,
        "value_type": "int",
        "flag": True,
        "note": None,
    }


def test_logs_appear_live_and_cancel_stops_the_run(page: Page, site: Site) -> None:
    sign_in_with_token(page, site, site.server.token)
    page.goto(f"{site.url}/{TICKER}")
    page.fill("#in-count", "600")
    page.fill("#in-interval", "0.2")
    page.click("#run")
    logs = page.locator("#result .logs")
    expect(logs).to_contain_text("tick 3", timeout=60_000)
    expect(page.locator("#result .out-text.live")).to_contain_text("t3")
    page.click("#result button.cancel")
    expect(page.locator("#result .panel")).to_have_attribute("data-status", "canceled")
    with site.api() as api:
        prediction = api.get(f"/v1/predictions/{prediction_id(page)}").json()
    assert prediction["status"] == "canceled"
    assert prediction["source"] == "web"
    pid = prediction["id"]
    page.goto(f"{site.url}/predictions?model={TICKER}&status=canceled&source=web")
    expect(page.locator("tbody")).to_contain_text(pid)
    for other in ("status=succeeded", "source=api", f"model={TYPED}"):
        page.goto(f"{site.url}/predictions?{other}")
        expect(page.locator("h1")).to_have_text("Predictions")
        assert pid not in page.inner_text("tbody"), other


def test_keyboard_alone_runs_a_model(page: Page, site: Site) -> None:
    sign_in_with_token(page, site, site.server.token)
    page.goto(f"{site.url}/{TYPED}")
    page.focus("#in-name")
    page.keyboard.type("keys")
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_selector(DONE, timeout=120_000)
    expect(page.locator("#result .out-text")).to_have_text("keys:red:0.5")


def test_token_created_in_the_page_works_until_revoked(page: Page, site: Site) -> None:
    sign_in_with_token(page, site, site.server.token)
    page.goto(f"{site.url}/tokens")
    page.fill("#token-name", "from the browser")
    page.click("form:has(#token-name) button[type=submit]")
    token = page.inner_text("#new-token").strip()
    assert token.startswith("my_")
    client = replicate.Client(api_token=token, base_url=site.url)
    assert client.run(TYPED, input={"name": "tok"}) == "tok:red:0.5"
    page.goto(f"{site.url}/tokens")
    assert token not in page.content()  # shown once only
    row = page.locator("tr", has_text="from the browser")
    row.locator("button", has_text="Revoke").click()
    expect(page.locator("tr", has_text="from the browser")).to_contain_text("revoked")
    with pytest.raises(ReplicateError) as failed:
        client.run(TYPED, input={"name": "tok"})
    assert failed.value.status == 401


def test_second_user_sees_nothing_private(browser: Browser, site: Site) -> None:
    with site.api() as api:
        created = api.post(f"/v1/models/{TYPED}/predictions", json={"input": {"name": "secret"}})
        assert created.status_code == 201
        pid = created.json()["id"]
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in_with_token(page, site, site.bob_token)
        assert "admin/typed" not in page.inner_text("main")
        page.fill("#q", "typed")
        page.press("#q", "Enter")
        expect(page.locator("main")).to_contain_text("No models match")
        for path in (f"/{TYPED}", f"/p/{pid}", f"/p/{pid}/live"):
            response = page.goto(f"{site.url}{path}")
            assert response is not None and response.status == 404, path
            assert "Not found" in page.content()
        page.goto(f"{site.url}/predictions")
        assert pid not in page.content()
        expect(page.locator("tbody")).to_contain_text("No predictions")
    finally:
        context.close()


@pytest.fixture
def evil_site(tmp_path: Path, site: Site) -> Iterator[str]:
    """Another origin whose page posts a form to the platform as soon as it loads."""
    (tmp_path / "index.html").write_text(
        f'<form id="f" method="post" action="{site.url}/tokens">'
        '<input name="name" value="stolen"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()


def test_cross_site_form_post_is_refused(page: Page, site: Site, evil_site: str) -> None:
    sign_in_with_token(page, site, site.server.token)
    with site.api() as api:
        before = api.get("/v1/account/tokens").json()
    with page.expect_navigation(url=f"{site.url}/tokens") as navigation:
        page.goto(evil_site)
    response = navigation.value
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("Refused")
    with site.api() as api:
        after = api.get("/v1/account/tokens").json()
    assert after == before
    # The same post from the platform's own page, with its token, goes through.
    page.goto(f"{site.url}/tokens")
    page.fill("#token-name", "mine")
    page.click("form:has(#token-name) button[type=submit]")
    expect(page.locator("#new-token")).to_be_visible()


def test_narrow_screen_offline_pages(browser: Browser, site: Site) -> None:
    """On a phone-sized screen nothing scrolls sideways, and no page fetches anything from
    anywhere but the platform itself (no CDN, no web font)."""
    context = browser.new_context(viewport={"width": 375, "height": 740})
    elsewhere: list[str] = []
    context.on(
        "request",
        lambda r: (
            None if r.url.startswith((site.url, "data:", "blob:")) else elsewhere.append(r.url)
        ),
    )
    try:
        page = context.new_page()
        sign_in_with_token(page, site, site.server.token)
        for path in (
            "/",
            f"/{LLM}",
            f"/{TYPED}",
            "/predictions",
            "/usage",
            "/tokens",
            "/deployments",
        ):
            page.goto(f"{site.url}{path}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, (path, width)
    finally:
        context.close()
    assert elsewhere == []


def test_state_changes_without_a_csrf_token_are_refused(site: Site) -> None:
    with httpx.Client(base_url=site.url) as http:
        page = http.get("/login")
        assert page.status_code == 200
        refused = http.post("/login", data={"token": site.server.token})
        assert refused.status_code == 403
        assert "modelyard_session" not in refused.cookies


def test_deployment_created_and_edited_shows_its_instances(page: Page, site: Site) -> None:
    sign_in_with_token(page, site, site.server.token)
    page.goto(f"{site.url}/deployments")
    page.fill("#d-name", "typed-web")
    page.fill("#d-model", TYPED)
    page.fill("#d-min", "0")
    page.fill("#d-max", "1")
    page.click("form:has(#d-name) button[type=submit]")
    page.wait_for_url(f"{site.url}/deployments/admin/typed-web")
    expect(page.locator("main")).to_contain_text("Release 1")
    expect(page.locator("[data-refresh]")).to_contain_text("No instances running")
    page.fill("#e-min", "1")
    page.click("form:has(#e-min) button[type=submit]")
    page.wait_for_url(f"{site.url}/deployments/admin/typed-web")
    expect(page.locator("main")).to_contain_text("Release 2")
    # The warm instance appears in the live table without a reload.
    expect(page.locator("[data-refresh] .status")).to_have_text("idle", timeout=90_000)
    with site.api() as api:
        deployment = api.get("/v1/deployments/admin/typed-web").json()
        assert deployment["current_release"]["configuration"]["min_instances"] == 1
        api.patch("/v1/deployments/admin/typed-web", json={"min_instances": 0})
    page.fill("#e-max", "99")
    page.click("form:has(#e-max) button[type=submit]")
    expect(page.locator(".problem")).to_contain_text("max_instances")


def test_sign_out_ends_the_session(page: Page, site: Site) -> None:
    sign_in_with_password(page, site, "admin", PASSWORD)
    page.goto(f"{site.url}/predictions")
    expect(page.locator("h1")).to_have_text("Predictions")
    page.click("header button:has-text('Sign out')")
    page.wait_for_url(f"{site.url}/")
    expect(page.locator("header")).to_contain_text("Sign in")
    page.goto(f"{site.url}/predictions")
    assert page.url.startswith(f"{site.url}/login?next=")
    page.fill("#username", "admin")
    page.fill("#password", "not the password")
    page.click("form:has(#password) button[type=submit]")
    expect(page.locator(".problem")).to_contain_text("did not work")


def test_password_guessing_is_slowed_down(site: Site) -> None:
    with httpx.Client(base_url=site.url) as http:
        form = http.get("/login").text
        csrf = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answers = [
            http.post(
                "/login", data={"username": "mallory", "password": f"guess {i}", "csrf_token": csrf}
            ).status_code
            for i in range(11)
        ]
    assert answers == [401] * 10 + [429]
