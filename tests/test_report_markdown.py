"""`-o markdown`: GitHub-flavoured Markdown for tickets and pull requests.

The output is rendered by a CommonMark parser with GitHub's table extension
(markdown-it-py, as GitHub renders comments), and the assertions are about
what a reader of the rendered comment sees: the verdict in the heading, the
evidence table with one cell per column, hostile text shown as text."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from markdown_it import MarkdownIt

from reports.cases import HOSTILE, HOSTILE_SERVICE, Example, examples
from why5xx.cli import main
from why5xx.report.templating import md_code, md_fence, md_text

LINT_HELM = "tests/lint/helm-template.yaml"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return int(exit_info.value.code or 0), out


def capture_json(example: Example, capsys: pytest.CaptureFixture[str]) -> str:
    _, out = run([*example.diagnose_args(), "-o", "json"], capsys)
    return out


def html_of(markdown: str) -> str:
    return str(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown))


def cells(html: str, header: str) -> list[list[str]]:
    """The rows of the table whose first header cell is `header`."""
    tables = re.findall(r"<table>(.*?)</table>", html, re.S)
    table = next(t for t in tables if re.search(rf"<th>{re.escape(header)}</th>", t))
    body = re.search(r"<tbody>(.*?)</tbody>", table, re.S)
    assert body is not None
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [re.findall(r"<td>(.*?)</td>", row, re.S) for row in rows]


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.name)
def test_every_example_opens_with_its_verdict(
    example: Example, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run([*example.diagnose_args(), "-o", "markdown"], capsys)
    assert code == (0 if example.verdict == "healthy" else 1)
    heading = out.splitlines()[0]
    assert heading.startswith("### ")
    assert f"`{example.verdict}`" in heading or example.verdict == "healthy"
    html = html_of(out)
    if example.verdict != "healthy":
        assert "<summary>Evidence (" in html
        assert '<code class="language-sh">kubectl ' in html  # confirm commands, copyable
        evidence = cells(html, "object")
        assert evidence
        assert all(len(row) == 5 for row in evidence)
        # An evidence without `expected` has an empty cell, not an empty code span.
        document = orjson.loads(capture_json(example, capsys))
        expected = [e.get("expected") for e in document["findings"][0]["evidence"]]
        assert [row[3] == "" for row in evidence] == [e is None for e in expected]
    else:
        assert "HEALTHY" in heading
        assert "Serving" in out


def test_hostile_text_stays_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        [
            "diagnose",
            f"svc/{HOSTILE_SERVICE}",
            "-n",
            "shop",
            "--bundle",
            str(HOSTILE),
            "-o",
            "markdown",
        ],
        capsys,
    )
    assert code == 1
    html = html_of(out)
    # Nothing the bundle holds became an element: the only tags are the report's own.
    tags = set(re.findall(r"<([a-z0-9]+)[\s>]", html))
    ours = {"h3", "h4", "p", "strong", "code", "pre", "ul", "li", "sub", "details", "summary"}
    assert tags <= ours | {"table", "thead", "tbody", "tr", "th", "td"}
    # ...and it reads as written, in code spans (escaped once, by the renderer).
    assert "&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;" in html
    assert "&lt;script&gt;window.pwned=3&lt;/script&gt;" in html
    evidence = cells(html, "object")
    assert [len(row) for row in evidence] == [5, 5]  # `|` in a label did not split a cell
    assert evidence[1][2] == "<code>v2|`x`*y*|&lt;b&gt;bold&lt;/b&gt;</code>"


def test_all_is_a_table_worst_first_with_each_failing_report_folded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = next(e for e in examples() if e.name == "selector-version-bump")
    code, out = run(
        [
            "diagnose",
            "--all",
            "-n",
            example.namespace,
            "-o",
            "markdown",
            "--bundle",
            *example.bundle,
        ],
        capsys,
    )
    assert code == 1
    html = html_of(out)
    rows = cells(html, "")
    assert [row[2] for row in rows] == ["failing", "healthy"]
    assert "<code>Service/shop/checkout</code>" in rows[0][1]
    assert "<summary>❌ Service/shop/checkout: selector-mismatch</summary>" in html
    assert "<summary>✅ Service/shop/cart" not in html  # healthy ones stay in the table


def test_lint_markdown_is_a_pull_request_comment(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["lint", LINT_HELM, "-o", "markdown"], capsys)
    assert code == 0  # warnings only: below the default --fail-on error
    assert out.startswith(
        "### ⚠️ why5xx lint: 3 warnings in 5 objects (1 info not shown: --min-severity info)"
    )
    html = html_of(out)
    rows = cells(html, "")
    assert sorted(re.sub(r"<.*?>", "", row[1]).split()[0] for row in rows) == [
        "W5X304",
        "W5X401",
        "W5X405",
    ]
    assert all(len(row) == 6 for row in rows)
    assert "<summary>How to fix (3)</summary>" in html


def test_lint_markdown_of_clean_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["lint", "tests/lint/good", "-o", "markdown"], capsys)
    assert code == 0
    assert out.startswith("### ✅ why5xx lint: no problems in ")
    assert "<table>" not in html_of(out)


@pytest.mark.parametrize(
    "text",
    ["plain", "a|b", "`tick`", "``two``", "<script>x</script>", "*em* _u_ [l](u) ~s~ # h", "a\\b"],
)
def test_escapes_render_back_to_the_text(text: str) -> None:
    """What the helpers produce renders as exactly the input, in text and code."""
    as_text = html_of(f"x {md_text(text)}")
    unescaped = (
        re.sub(r"</?p>", "", as_text)
        .strip()
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    )
    assert unescaped == f"x {text}"
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    code = html_of(f"| a |\n|---|\n| {md_code(text)} |")
    assert f"<td><code>{escaped}</code></td>" in code
    fenced = html_of(md_fence(f"{text}\n```"))
    assert fenced == f"<pre><code>{escaped}\n```\n</code></pre>\n"


def test_documents_keep_emoji_codes_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A label value `:smile:` is printed as written, not as rich's emoji."""
    bundle = tmp_path / "bundle.yaml"
    bundle.write_text(HOSTILE.read_text().replace("<b>bold</b>", ":smile:"))
    for output in ("json", "markdown"):
        args = ["diagnose", f"svc/{HOSTILE_SERVICE}", "-n", "shop", "-o", output]
        _, out = run([*args, "--bundle", str(bundle)], capsys)
        assert ":smile:" in out
        assert "😄" not in out
