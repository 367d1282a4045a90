"""The run browser in a real browser: Playwright driving Debian's chromium against a live uvicorn server."""

import numpy as np
import pytest
from live_server import chromium_path, launched, serving

import gradtrace
from gradtrace.store import Store

pytest.importorskip("fastapi")  # the web extra
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")  # the web-test extra
if chromium_path() is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from fastapi import FastAPI  # noqa: E402

from gradtrace.web.runs import install  # noqa: E402

PROFILE = "‖∂L/∂h_t‖ (median, range over seeds)"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("browse") / "runs"
    gradtrace.run_study("gradient-path", root / "first", quick=True)
    gradtrace.run_study("gradient-path", root / "second", quick=True)
    return root


@pytest.fixture(scope="module")
def server_url(root):
    app = FastAPI()
    install(app, root)
    with serving(app, ws="none") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with launched(sync_api) as chromium:
        yield chromium


def hover(page, chart, fraction):
    """Move the mouse over ``chart`` (a locator of a uPlot plot area) at ``fraction`` of its width."""
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] * 0.5)


def number(text):
    return float(text.replace(",", "."))


def test_hovering_a_plot_shows_the_stored_number_in_its_legend(server_url, browser, root, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server_url}/runs/first#gradient-path")
    page.wait_for_selector(".uplot .u-over")
    panel = page.locator(".panel").first
    hover(page, panel.locator(".u-over"), 0.45)
    page.wait_for_function("document.querySelector('.panel .gt-x').textContent.includes('=')")
    step = int(panel.locator(".gt-x").text_content().split("=")[1])
    item = panel.locator(f".gt-item[data-label='{PROFILE}']")
    shown = number(item.locator(".gt-value").text_content())
    low, high = (number(v) for v in item.locator(".gt-range").text_content().strip("[]").split(", "))
    page.screenshot(path=str(tmp_path / "hover.png"))
    # The report draws the median over seeds of the stored profile, and its band from the smallest to the largest.
    profile = Store(root / "first", create=False).get("gradient-path", "many-to-one").arrays["trace/grad_norms"]
    column = profile[:, step - 1]
    assert shown == pytest.approx(float(np.nanmedian(column)), rel=1e-3)
    assert (low, high) == pytest.approx((float(np.nanmin(column)), float(np.nanmax(column))), rel=1e-3)
    # A click on a legend entry hides its curve, a second shows it again.
    item.click()
    assert "off" in item.get_attribute("class")
    item.click()
    assert "off" not in item.get_attribute("class")
    assert errors == []


def test_the_list_compares_two_folders_in_portuguese(server_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server_url}/runs?lang=pt")
    page.wait_for_selector("input.pick")
    for box in page.locator("input.pick").all():
        box.check()
    page.get_by_role("button").click()
    page.wait_for_selector("table.verdicts")
    assert "with=second" in page.url and "lang=pt" in page.url
    assert page.locator("table.verdicts th").all_text_contents()[1:] == ["first", "second"]
    assert "✓ confirmada" in page.locator("table.verdicts").text_content()
    # The two folders' panels hover together: the same step shows in both legends.
    page.wait_for_selector(".uplot .u-over")
    first, second = (page.locator("section.figure .column").nth(i).locator(".panel").first for i in (0, 1))
    hover(page, first.locator(".u-over"), 0.6)
    page.wait_for_function("document.querySelectorAll('section.figure .column')[1]"
                           ".querySelector('.gt-x').textContent.includes('=')")
    page.screenshot(path=str(tmp_path / "compare.png"))
    shown = first.locator(".gt-x").text_content()
    assert shown == second.locator(".gt-x").text_content() and shown.startswith("passo de tempo t = ")
    assert errors == []
