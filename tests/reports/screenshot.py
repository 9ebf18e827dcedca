"""`python -m reports.screenshot REPORT.html OUT.png`: the README's picture of
a report, as Chromium shows it at 1280 px (`make report-example`)."""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from reports.chromium import launch


def main(report: Path, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page.goto(report.resolve().as_uri())
        # The verdict, the timeline and the evidence: what a reader sees first.
        page.screenshot(path=out, clip={"x": 0, "y": 0, "width": 1280, "height": 1180})
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
