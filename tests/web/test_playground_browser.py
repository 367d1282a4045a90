"""The playground in a real browser: Playwright driving Debian's chromium against a live uvicorn server."""

import math

import pytest
from live_server import chromium_path, launched, serving

from gradtrace.web import create_app

pytest.importorskip("uvicorn")  # the web extra
sync_api = pytest.importorskip("playwright.sync_api")  # the web-test extra
if chromium_path() is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    with serving(create_app(tmp_path_factory.mktemp("runs"), max_jobs=1)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with launched(sync_api) as chromium:
        yield chromium


def drawn_slope(page):
    """Least-squares slope of log10 of the drawn profile against t (only the points the chart shows)."""
    xs, ys = page.evaluate("[window.playground.profilePlot.data[0], window.playground.profilePlot.data[1]]")
    points = [(x, math.log10(y)) for x, y in zip(xs, ys) if y is not None and y > 0]
    assert len(points) >= 10, points
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    return (sum((x - mean_x) * (y - mean_y) for x, y in points)
            / sum((x - mean_x) ** 2 for x, _ in points))


def set_range(page, selector, value):
    # what a drag does: the value changes, "input" fires while moving, "change" on release
    page.eval_on_selector(selector, """(el, v) => { el.value = v; el.dispatchEvent(new Event('input'));
                                                     el.dispatchEvent(new Event('change')); }""", str(value))


def test_moving_rho_from_half_to_two_turns_vanishing_into_exploding(server_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server_url}/?length=40&hidden_size=16&steps=5000&lr=0.0001")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Ready')")
    set_range(page, "#spectral_radius", 0.5)
    assert "spectral_radius=0.5" in page.url  # the settings live in the URL
    page.click("#play")
    page.wait_for_function("window.playground.state.frames >= 3", timeout=30_000)
    # Paused, so that an idle machine cannot finish the run before the slider moves (it trains ~1000 steps/s).
    page.click("#play")
    page.wait_for_function("window.playground.state.phase === 'paused'", timeout=30_000)
    vanishing = drawn_slope(page)
    page.screenshot(path=str(tmp_path / "rho-0.5.png"))
    set_range(page, "#spectral_radius", 2)  # mid-training: W_rec is rescaled live
    page.click("#play")  # resume
    page.wait_for_function("document.getElementById('v-rho').textContent.startsWith('2.0')", timeout=30_000)
    frames = page.evaluate("window.playground.state.frames")
    page.wait_for_function(f"window.playground.state.frames >= {frames + 2}", timeout=30_000)
    exploding = drawn_slope(page)
    page.screenshot(path=str(tmp_path / "rho-2.png"))
    assert "spectral_radius=2" in page.url
    # the error enters at t = T: a profile rising with t fades going back (vanishing), a falling one grows (exploding)
    assert vanishing > 0 > exploding, (vanishing, exploding)
    assert page.locator("#v-verdict").text_content() == "exploding"
    page.click("#reset")
    assert errors == []
    page.close()


def test_the_page_speaks_portuguese_and_exports_the_study(server_url, browser):
    page = browser.new_page()
    page.goto(f"{server_url}/?lang=pt&clip_norm=1")
    assert page.locator("#play").text_content() == "▶ Treinar"
    assert page.locator("#clip_norm-on").is_checked()
    page.click("#export-toml")
    page.wait_for_selector("#export-dialog[open]")
    text = page.locator("#export-text").input_value()
    assert 'type = "clip_by_global_norm"' in text and "max_norm = 1.0" in text
    page.click("#export-close")
    page.click("#lang-en")
    assert page.locator("#play").text_content() == "▶ Play" and "lang=pt" not in page.url
    page.close()
