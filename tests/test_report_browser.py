"""The HTML reports in a real browser: Debian's headless Chromium
(`/usr/bin/chromium`, installed by `make test-deps`), driven by Playwright.

One browser for the session, a fresh context (profile state, permissions,
viewport) per test. Every page is opened from a file, as a user opens an
attachment; the tests assert what a person sees (the verdict first, the
timeline's lanes and marks, copy buttons that copy), that the page asks the
network for nothing, and that hostile text stays text. Screenshots go to
`$WHY5XX_ARTIFACTS` (default `.artifacts/browser/`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Request,
    Route,
    ViewportSize,
    sync_playwright,
)

from reports.cases import HOSTILE, HOSTILE_LABEL, HOSTILE_SERVICE, ROOT, Example, examples
from reports.chromium import launch
from test_engine import EXAMPLE as SELECTOR_EXAMPLE
from test_engine import broken
from test_partial import DEPLOYMENT, SERVICE, repo
from why5xx.cli import main
from why5xx.engine import Target, diagnose
from why5xx.report import html
from why5xx.rules import RULES
from why5xx.sources.bundle import load_bundle

ARTIFACTS = Path(os.environ.get("WHY5XX_ARTIFACTS", ROOT / ".artifacts" / "browser"))
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)
EVENT_LANES = ("rollout", "pods", "probes")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@dataclass
class Opened:
    """A report open in a page, with what the page asked for and logged."""

    page: Page
    document: dict[str, Any]
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


@contextmanager
def fresh(browser: Browser, **options: Any) -> Iterator[BrowserContext]:
    """A new context (profile state, permissions, viewport) of the session's browser."""
    context = browser.new_context(**{"viewport": DESKTOP, **options})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    with fresh(browser) as context:
        yield context


def render(args: list[str], path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    with pytest.raises(SystemExit) as done:
        main(args)
    out, err = capsys.readouterr()
    assert done.value.code in (0, 1), err
    path.write_text(out)
    return path


def open_report(context: BrowserContext, path: Path) -> Opened:
    page = context.new_page()
    url = path.resolve().as_uri()
    embedded = path.read_text().split('<script type="application/json" id="why5xx-document">')[1]
    opened = Opened(page=page, document=orjson.loads(embedded.split("</script>")[0]))

    def refuse(route: Route) -> None:
        if route.request.url != url:
            route.abort()
        else:
            route.continue_()

    def requested(request: Request) -> None:
        if request.url != url:
            opened.requests.append(request.url)

    def logged(message: ConsoleMessage) -> None:
        opened.console.append(f"{message.type}: {message.text}")

    def failed(error: Error) -> None:
        opened.console.append(f"pageerror: {error}")

    page.route("**/*", refuse)
    page.on("request", requested)
    page.on("console", logged)
    page.on("pageerror", failed)
    page.goto(url)
    return opened


def diagnose_html(example: Example, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    return render([*example.diagnose_args(), "-o", "html"], tmp_path / "report.html", capsys)


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.name)
def test_every_example_opens_with_its_verdict_and_timeline(
    example: Example,
    context: BrowserContext,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    opened = open_report(context, diagnose_html(example, tmp_path, capsys))
    page = opened.page
    opened.shot(f"example-{example.name}")
    # The verdict, in the first screenful.
    cause = page.locator("header.verdict .verdict-cause")
    assert cause.inner_text() == example.verdict
    box = cause.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] < DESKTOP["height"] / 2
    assert page.title().startswith(opened.document["status"].upper())
    # The timeline: a lane per kind of moment the document holds, a mark per moment,
    # the verdict's evidence ringed.
    timeline = opened.document["timeline"]
    figure = page.locator("figure.timeline")
    assert figure.count() == 1
    moments = timeline["moments"]
    lanes = page.locator("figure.timeline g.lane").evaluate_all("gs => gs.map(g => g.dataset.lane)")
    expected = [lane for lane in EVENT_LANES if any(m["lane"] == lane for m in moments)]
    assert lanes[: len(expected)] == expected
    assert ("endpoints" in lanes) == any(s["lane"] == "endpoints" for s in timeline["series"])
    marks = page.locator(", ".join(f"g.lane-{lane} g.mark" for lane in EVENT_LANES))
    assert marks.count() == len(moments)
    evidence = page.locator("g.mark[data-evidence=true] circle.ring")
    assert evidence.count() == sum(m["evidence"] for m in moments)
    if example.verdict != "healthy" and moments:
        assert evidence.count() > 0  # every example's verdict names an object with a history
    # Copy buttons, shown by the page's own script, one per command.
    findings = opened.document["findings"]
    commands = [len(f["confirm"]) + bool(f["fix"].get("patch")) for f in findings]
    assert page.locator("button.copy").count() == sum(commands)
    if example.verdict != "healthy":  # the others' are folded
        assert page.locator("section.finding-main button.copy:visible").count() == commands[0]
    assert opened.requests == []
    assert opened.console == []


def test_oom_example_marks_each_oom_kill(
    context: BrowserContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The marks are the example's own history: an OOM kill and a run of
    probe failures on each of its two pods."""
    example = next(e for e in examples() if e.name == "oom-killed")
    page = open_report(context, diagnose_html(example, tmp_path, capsys)).page
    oom = page.locator("g.lane-pods g.mark.oom")
    assert oom.count() == 2
    titles = oom.evaluate_all("gs => gs.map(g => g.querySelector('title').textContent)")
    assert all("OOMKilled" in t and "exited with code 137" in t for t in titles)
    assert page.locator("g.lane-probes g.mark.probe").count() == 2


def test_copy_button_copies_the_command(
    browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh(browser) as context:
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        example = next(e for e in examples() if e.name == "selector-version-bump")
        opened = open_report(context, diagnose_html(example, tmp_path, capsys))
        page = opened.page
        button = page.locator("section.finding-main button.copy").first
        # Record the label's changes: it says "Copied" only for a moment.
        button.evaluate(
            """b => { window.labels = [];
            new MutationObserver(() => window.labels.push(b.textContent))
                .observe(b, {childList: true, characterData: true, subtree: true}); }"""
        )
        button.click()
        # Polled from here: wait_for_function polls by evaluating a string in the
        # page, which the report's Content-Security-Policy refuses (no unsafe-eval).
        deadline = time.monotonic() + 10
        while not page.evaluate("window.labels.length") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert page.evaluate("window.labels")[0] == "Copied"
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == opened.document["findings"][0]["confirm"][0]


def test_hostile_text_stays_inert_text(
    context: BrowserContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = render(
        [
            "diagnose",
            f"svc/{HOSTILE_SERVICE}",
            "-n",
            "shop",
            "-o",
            "html",
            "--bundle",
            str(HOSTILE),
        ],
        tmp_path / "hostile.html",
        capsys,
    )
    opened = open_report(context, path)
    page = opened.page
    opened.shot("hostile")
    assert page.evaluate("typeof window.pwned") == "undefined"
    # No element came from the bundle: two scripts (the document, the copy buttons), no images.
    assert page.locator("script").count() == 2
    assert page.locator("img, b, i, iframe, object").count() == 0
    page.locator("details.moments summary").click()
    text = page.locator("body").inner_text()
    assert HOSTILE_SERVICE in text
    assert HOSTILE_LABEL in text
    assert "<script>window.pwned=4</script>" in text  # an event message, in the timeline's table
    assert HOSTILE_SERVICE in page.title()
    # The marks' tooltips hold it as text too.
    titles = page.locator("g.lane-probes g.mark title").all_text_contents()
    assert any("<script>window.pwned=4</script>" in t for t in titles)
    assert opened.requests == []
    assert opened.console == []


def test_hostile_log_lines_stay_inert_text(
    context: BrowserContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = (
        '10.0.0.9 - - [20/Nov/2026:08:51:03 +0000] "GET /<script>window.pwned=5</script> '
        'HTTP/1.1" 502 150 "-" "<img src=x onerror=window.pwned=6>" 300 0.002 '
        "[shop-checkout-8080] [] 10.244.1.20:8080 0 0.002 502 0123456789abcdef"
    )
    log = tmp_path / "access.log"
    log.write_text(line + "\n")
    opened = open_report(
        context, render(["logs", str(log), "-o", "html"], tmp_path / "l.html", capsys)
    )
    page = opened.page
    page.locator("article.finding details summary").first.click()
    assert line in page.locator("article.finding pre").first.inner_text()
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("img").count() == 0
    assert opened.requests == []
    assert opened.console == []


def test_readable_at_1280_and_on_a_phone(
    browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = next(e for e in examples() if e.name == "oom-killed")
    path = diagnose_html(example, tmp_path, capsys)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        with fresh(browser, viewport=viewport, is_mobile=name == "phone") as context:
            opened = open_report(context, path)
            page = opened.page
            opened.shot(f"layout-{name}")
            # The page never scrolls sideways; only the timeline may, inside its frame.
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], name
            headline = page.locator("header.verdict").bounding_box()
            assert headline is not None
            assert headline["y"] + headline["height"] <= viewport["height"], name
            font = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
            assert font >= 14
            svg = page.locator("figure.timeline svg").first.bounding_box()
            assert svg is not None
            # Drawn at least 880 px wide: its 11 px labels stay >= 9.6 px.
            assert svg["width"] >= 880, name
            if name == "phone":
                frame = page.locator("figure.timeline .scroll")
                assert frame.evaluate("f => f.scrollWidth > f.clientWidth")


def test_dark_mode_and_print(
    browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = next(e for e in examples() if e.name == "readiness-probe-404")
    path = diagnose_html(example, tmp_path, capsys)
    with fresh(browser, color_scheme="dark") as context:
        opened = open_report(context, path)
        page = opened.page
        opened.shot("dark")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"
        page.emulate_media(media="print", color_scheme="light")
        assert (
            page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
        )
        assert page.locator("button.copy:visible").count() == 0
        pdf = page.pdf()
        assert pdf.startswith(b"%PDF")


def test_all_table_links_to_each_report_worst_first(
    context: BrowserContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = next(e for e in examples() if e.name == "selector-version-bump")
    args = ["diagnose", "--all", "-n", example.namespace, "-o", "html", "--bundle", *example.bundle]
    opened = open_report(context, render(args, tmp_path / "all.html", capsys))
    page = opened.page
    rows = page.locator("table.services tbody tr")
    assert rows.count() == len(opened.document["reports"])
    statuses = rows.locator("td:first-child").all_inner_texts()
    assert statuses == [r["status"].upper() for r in opened.document["reports"]]
    assert statuses[0] == "FAILING"
    # A timeline for each Service that is not healthy, none for the healthy ones.
    for index, report in enumerate(opened.document["reports"], start=1):
        drawn = page.locator(f"#svc-{index} figure.timeline").count()
        assert drawn == (report["status"] != "healthy")
        assert ("timeline" in report) == (report["status"] != "healthy")
    for index in range(rows.count()):
        link = rows.nth(index).locator("a")
        name = link.inner_text()
        link.click()
        target = page.locator(f"article{page.evaluate('location.hash')}")
        assert name in target.locator(".headline").inner_text()
        box = target.bounding_box()
        assert box is not None
        assert 0 <= box["y"] < DESKTOP["height"]  # scrolled into view
    assert opened.requests == []
    assert opened.console == []


def test_logs_html_draws_5xx_per_status_and_upstream_pod(
    context: BrowserContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = ROOT / "tests" / "logs" / "rollout-bundle.yaml"
    line = (
        '10.0.0.9 - - [20/Nov/2026:08:51:{s:02d} +0000] "GET /pay HTTP/1.1" {status} 150 "-" '
        '"curl/8" 300 0.002 [shop-checkout-8080] [] {upstream} 0 0.002 {status} 0123456789abcdef'
    )
    entries = [(s, 502, "10.244.1.20:8080") for s in range(3, 40, 3)]
    entries += [(s, 504, "10.244.1.30:8080") for s in (10, 20)]
    log = tmp_path / "access.log"
    log.write_text("".join(line.format(s=s, status=st, upstream=u) + "\n" for s, st, u in entries))
    path = render(
        ["logs", str(log), "--bundle", str(bundle), "-o", "html"], tmp_path / "l.html", capsys
    )
    opened = open_report(context, path)
    page = opened.page
    opened.shot("logs")
    assert re.match(r"^15 5xx", page.locator("h1 .badge").inner_text())
    lanes = page.locator("figure.timeline g.lane").evaluate_all("gs => gs.map(g => g.dataset.lane)")
    assert "5xx-status" in lanes
    assert "5xx-upstream" in lanes
    assert page.locator("g.lane-5xx-status rect.s502").count() > 0
    assert page.locator("g.lane-5xx-status rect.s504").count() > 0
    pods = page.locator("g.lane-5xx-upstream text.pod").all_text_contents()
    assert "checkout-6f9c7d8b5d-x2m4q" in pods  # the old ReplicaSet's pod, by its IP
    assert opened.requests == []
    assert opened.console == []


def test_likely_report_ends_with_what_to_capture_next(
    context: BrowserContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Manifests from a repository (no pods yet): the verdict is `likely` and
    the report lists the read-only commands that would confirm it, copyable."""
    bundle = repo(tmp_path, service=SERVICE, deployment=DEPLOYMENT)
    args = ["diagnose", "checkout", "-n", "shop", "--bundle", bundle, "-o", "html"]
    opened = open_report(context, render(args, tmp_path / "likely.html", capsys))
    page = opened.page
    assert page.locator("header.verdict .badge").inner_text() == "LIKELY"
    capture = page.locator("section.capture-next code")
    assert capture.all_inner_texts() == opened.document["capture_next"]
    assert page.locator("section.capture-next button.copy:visible").count() == capture.count()
    assert opened.requests == []
    assert opened.console == []


def test_the_readme_incident_draws_every_lane(
    context: BrowserContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rollout without preStop, with its ingress-nginx logs (`make report-example`):
    all six lanes, the verdict's 5xx span shaded, the old pods' 5xx ringed."""
    incident = ROOT / "docs" / "report" / "rollout"
    args = ["diagnose", "checkout", "-n", "shop", "--bundle", str(incident / "shop.yaml")]
    args += ["--logs", str(incident / "access.log"), str(incident / "error.log"), "-o", "html"]
    opened = open_report(context, render(args, tmp_path / "incident.html", capsys))
    page = opened.page
    opened.shot("incident")
    assert page.locator(".verdict-cause").inner_text() == "rollout-no-prestop"
    lanes = page.locator("figure.timeline g.lane").evaluate_all("gs => gs.map(g => g.dataset.lane)")
    assert lanes == ["rollout", "pods", "probes", "endpoints", "5xx-status", "5xx-upstream"]
    assert page.locator("figure.timeline rect.window").count() == 1
    ringed = page.locator("g.lane-5xx-upstream text.pod.ev").all_text_contents()
    assert set(ringed) == {
        "checkout-6f9c7d8b5d-x2m4q",
        "checkout-6f9c7d8b5d-q9w4e",
        "checkout-6f9c7d8b5d-h7j2p",
    }
    assert page.locator("g.lane-5xx-status rect.s502.ev").count() > 0
    assert opened.requests == []
    assert opened.console == []


def test_a_crashed_rule_is_shown_as_a_bug(context: BrowserContext, tmp_path: Path) -> None:

    snap = load_bundle([str(SELECTOR_EXAMPLE / "shop.yaml")]).snapshot()
    report = diagnose(snap, Target.parse("checkout", "shop"), rules=(broken, *RULES))
    path = tmp_path / "crashed.html"
    path.write_text(html.render_report(report))
    opened = open_report(context, path)
    section = opened.page.locator("section.crashed")
    assert "Crashed: a bug of why5xx (1)" in section.inner_text()
    assert "outlier-ejected on Service/shop/checkout: KeyError: 'trafficPolicy'" in (
        section.locator("li").inner_text()
    )
    assert opened.page.locator(".verdict-cause").inner_text() == "selector-mismatch"
