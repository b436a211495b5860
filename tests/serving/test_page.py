"""The page of ``digitgan serve`` in a real browser: Debian's chromium (never a downloaded
one), driven by Playwright, against a real server on loopback."""

from __future__ import annotations

import shutil

import pytest
from live_server import live_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


def test_pick_a_digit_generate_and_walk(browser, preset_runs, tmp_path):
    # Playwright's expect() polls without eval(): the page's Content-Security-Policy forbids it
    from playwright.sync_api import expect

    runs = [preset_runs["cgan"], preset_runs["seed"]]
    with live_server(*map(str, runs)) as (_, url):
        page = browser.new_page(viewport={"width": 1000, "height": 1100})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        assert page.input_value("#run") == runs[0].name

        # keyboard only: choose digit 7 and 16 digits, then Enter in the seed box submits
        page.focus("#digit")
        page.select_option("#digit", "7")
        page.fill("#n", "16")
        page.fill("#seed", "42")
        page.focus("#seed")
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_contain_text("seed 42")
        assert page.evaluate("document.getElementById('grid').naturalWidth") == 4 * 30 + 2
        assert page.get_attribute("#download", "download") == f"{runs[0].name}-seed42.png"

        # the walk: load it, then the slider redraws the frame as it moves
        page.select_option("#walk-kind", "digits")
        page.click("#walk-form button[type=submit]")
        expect(page.locator("#walk")).to_be_enabled()
        first = page.evaluate("document.getElementById('walk-frame').toDataURL()")
        for _ in range(31):
            page.keyboard.press("ArrowRight")  # the slider has focus once the walk is loaded
        assert page.get_attribute("#walk-frame", "data-frame") == "31"
        assert page.evaluate("document.getElementById('walk-frame').toDataURL()") != first

        # an unconditional run hides the digit choice; a bad request shows the server's message
        page.select_option("#run", runs[1].name)
        expect(page.locator("#status")).to_contain_text("drawn by")
        assert not page.is_visible("#digit")
        page.fill("#n", "999")
        page.evaluate("document.getElementById('n').removeAttribute('max')")
        page.click("#generate")
        page.wait_for_selector("#status.error")
        assert "n:" in page.text_content("#status")
        page.fill("#n", "64")
        page.click("#generate")
        expect(page.locator("#status")).to_contain_text("drawn by")
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        assert (tmp_path / "page.png").stat().st_size > 10_000
        assert [e for e in errors if "422" not in e] == []  # the bad request's 422 is the only one
