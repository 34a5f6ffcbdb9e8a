"""The console in a real headless browser: Debian's chromium driven by Playwright.

The gateway is the real app served by uvicorn over HTTP; the workers are the real
worker code on a virtual clock (the harness), so "the escalation stopped" is checked as
the exact pages sent, not by waiting minutes. Every wait is on an element (30 s), never
a sleep. No browser is ever downloaded: the tests use /usr/bin/chromium, and when
ALERTGW_REQUIRE_BROWSER is set (CI sets it) a missing browser fails instead of skipping.
Set ALERTGW_UI_SCREENSHOTS=docs/ui to refresh the screenshots in docs/ui.md.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.api.operator import KEY, open_incident, served
from tests.ui.console import API_TOKEN, console_app, pages_sent
from tests.workers.conftest import Harness, _forget_jobs, make_harness

CHROMIUM = os.environ.get("ALERTGW_CHROMIUM", "/usr/bin/chromium")
WAIT_MS = 30_000
SEARCH = "search-slow:service=search"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        message = f"no chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("ALERTGW_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        # root in a container has no user namespaces for chromium's sandbox
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def site(redis_client: redis.Redis, key_prefix: str) -> Iterator[tuple[str, Harness]]:
    harness = make_harness(redis_client, key_prefix)
    app, _ = console_app(redis_client, key_prefix, harness)
    try:
        with served(app) as url:
            yield url, harness
    finally:
        _forget_jobs(harness)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("ALERTGW_UI_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def log_in(page: Page, url: str, name: str = "alice") -> None:
    page.goto(f"{url}/ui/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # refused until then
    page.get_by_label("Your name").fill(name)
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()


def test_log_in_see_sev1_above_sev3_and_acknowledge(
    site: tuple[str, Harness], page: Page, tmp_path: Path
):
    url, harness = site
    open_incident(harness, key=SEARCH, fingerprint="am:2", severity="SEV3", service="search")
    open_incident(harness)
    log_in(page, url)
    rows = page.locator("table.board tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("SEV1")
    expect(rows.nth(1)).to_contain_text("SEV3")
    screenshot(page, "board", tmp_path)

    rows.nth(0).get_by_role("link").click()
    expect(page.locator("#escalation")).to_contain_text("next: eng-lead")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".timeline")).to_contain_text("Acknowledged by alice (UI)")
    expect(page.locator("#escalation")).to_contain_text("stopped (acknowledged)")
    screenshot(page, "incident", tmp_path)
    harness.clock.advance(timedelta(minutes=10))
    harness.run_due()
    # the acknowledged SEV1 pages nobody more; the SEV3 nobody acknowledged escalates
    assert pages_sent(harness, KEY) == [("trigger", "oncall"), ("acknowledge", "oncall")]
    assert pages_sent(harness, SEARCH) == [("trigger", "oncall"), ("trigger", "eng-lead")]


def test_silence_like_this_mutes_the_next_step(
    site: tuple[str, Harness], page: Page, tmp_path: Path
):
    url, harness = site
    open_incident(harness)
    log_in(page, url, "bob")
    page.locator("table.board tbody tr").first.get_by_role("link").click()
    page.get_by_role("link", name="Silence like this").click()
    expect(page.locator("#preview")).to_contain_text("Would mute 1 live incident(s)")
    page.get_by_label("Matchers").fill('service="nothing-like-this"')
    expect(page.locator("#preview")).to_contain_text("Would mute no live incident")
    page.get_by_label("Matchers").fill('service="checkout"')
    expect(page.locator("#preview")).to_contain_text("Would mute 1 live incident(s)")
    screenshot(page, "silence-editor", tmp_path)
    page.get_by_role("button", name="Create silence").click()
    expect(page.get_by_role("heading", name="Active (1)")).to_be_visible()

    harness.clock.advance(timedelta(minutes=5))
    harness.run_due()
    assert pages_sent(harness, KEY) == [("trigger", "oncall")]
    page.goto(f"{url}/ui/incidents/{KEY}")
    expect(page.locator(".timeline")).to_contain_text("silenced")


def test_the_playground_runs_a_shipped_payload(
    site: tuple[str, Harness], page: Page, tmp_path: Path
):
    url, _ = site
    log_in(page, url)
    page.get_by_role("navigation").get_by_role("link", name="Playground").click()
    page.get_by_label("Shipped example").select_option("alertmanager-checkout-firing.json")
    page.get_by_role("button", name="Load example").click()
    expect(page.get_by_label("Payload")).to_contain_text("checkout")
    page.get_by_role("button", name="Run").click()
    result = page.locator("#result")
    expect(result).to_contain_text("Incident key")
    expect(result.locator(".matched-rule").first).to_have_text("default")
    expect(result).to_contain_text("+5m: eng-lead")
    screenshot(page, "playground", tmp_path)


def test_a_post_without_csrf_token_is_refused(site: tuple[str, Harness], page: Page):
    url, harness = site
    open_incident(harness)
    log_in(page, url)
    # the browser's own cookies (a signed-in session) but no CSRF token in the form
    answer = page.request.post(f"{url}/ui/incidents/{KEY}/ack", form={"note": "x"})
    assert answer.status == 403
    assert harness.ctx.store.get(KEY).status == "open"


def test_phone_width(site: tuple[str, Harness], browser: Browser, tmp_path: Path):
    url, harness = site
    open_incident(harness)
    context = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="UTC")
    context.set_default_timeout(WAIT_MS)
    try:
        phone = context.new_page()
        log_in(phone, url)
        row = phone.locator("table.board tbody tr").first
        expect(row).to_contain_text("SEV1")
        # no sideways scrolling: the table folds into one card per incident
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(phone, "board-phone", tmp_path)
    finally:
        context.close()
