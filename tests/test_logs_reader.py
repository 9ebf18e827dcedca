"""Streaming: blocks, the pre-filter, gzip and stdin, and counting what does not parse."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

import logfixtures as fx
from why5xx.sources import logs
from why5xx.sources.logs import read_log, reader, summarize_logs
from why5xx.sources.logs.aggregate import Aggregator
from why5xx.sources.logs.ingress_nginx import INGRESS_NGINX
from why5xx.sources.logs.record import Record

OK = fx.NGINX_4168_ACCESS_200
BAD = fx.NGINX_4168_ACCESS_502
# A 200 whose request length starts with 5: it passes a naive " 5xx " filter.
TRICKY = fx.NGINX_4168_ACCESS_200.replace('Siege/4.0.4" 756', 'Siege/4.0.4" 512')


def _scan(text: str) -> tuple[list[Record], reader.Tally]:
    got: list[Record] = []
    tally = reader.Tally()
    for block in reader.blocks(io.BytesIO(text.encode()), tally):
        reader.scan_block(block, INGRESS_NGINX, tally, got.append)
    return got, tally


def test_only_5xx_and_upstream_errors_are_parsed() -> None:
    got, tally = _scan("\n".join([OK, BAD, TRICKY, fx.NGINX_4168_CRIT, OK]) + "\n")
    assert [getattr(r, "status", None) for r in got] == [502, 502]
    assert tally.lines == 5
    assert tally.unparsed == 0


def test_lines_that_do_not_parse_are_counted() -> None:
    broken = BAD.replace("[default-xxx", "[[default-xxx").replace("0.000 502", "zz 502")
    _, tally = _scan("\n".join([OK, "garbage", broken, "", fx.NGINX_12285_MAIN]))
    assert tally.lines == 5
    assert tally.unparsed == 3  # garbage, the broken 502, the empty line


def test_lines_split_across_blocks_are_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "CHUNK", 7)
    got, tally = _scan("\r\n".join([BAD, OK, BAD]))  # CRLF, no final newline
    assert len(got) == 2
    assert tally.lines == 3
    assert tally.unparsed == 0


def test_a_line_without_end_is_cut_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_LINE", 1000)
    monkeypatch.setattr(reader, "CHUNK", 256)
    got, tally = _scan("x" * 5000 + "\n" + BAD + "\n")
    assert len(got) == 1
    assert tally.unparsed == tally.lines - 1


def test_gzip_is_read_by_content_and_stdin(tmp_path: Path) -> None:
    text = "\n".join([OK, BAD, fx.NGINX_4168_CRIT]) + "\n"
    packed = tmp_path / "access.log.1"  # no .gz suffix: recognised by its magic bytes
    packed.write_bytes(gzip.compress(text.encode()))
    from_file = summarize_logs([str(packed)])
    from_stdin = summarize_logs(
        ["-"], stdin=io.BufferedReader(io.BytesIO(gzip.compress(text.encode())))
    )
    for summary in (from_file, from_stdin):
        assert summary.total_5xx == 1
        assert summary.causes[0].cause == "external-name-dns"
    assert from_stdin.files[0].path == "<stdin>"


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    data = gzip.compress(("\n".join([BAD] * 2000) + "\n").encode())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[: len(data) // 2])
    file = read_log(str(path), Aggregator())
    assert file.error is not None
    assert "cannot read" in file.error


def test_missing_and_unknown_files_are_errors_not_crashes(tmp_path: Path) -> None:
    missing = read_log(str(tmp_path / "nope.log"), Aggregator())
    assert missing.error == "No such file or directory"
    junk = tmp_path / "junk.log"
    junk.write_text("hello\nworld\n")
    unknown = read_log(str(junk), Aggregator())
    assert unknown.format == "unknown"
    assert unknown.unparsed == 2
    assert unknown.error is not None


def test_forced_format_overrides_detection(tmp_path: Path) -> None:
    path = tmp_path / "envoy.log"
    path.write_text(fx.ISTIO_UC + "\n")
    forced = read_log(str(path), Aggregator(), fmt=INGRESS_NGINX)
    assert forced.format == "ingress-nginx"
    # A line not of the forced format is still recognised, on its own.
    assert forced.unparsed == 0
    assert forced.recognised == (("envoy", 1),)


def test_parallel_ranges_count_what_one_pass_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [OK, BAD, TRICKY, fx.NGINX_4168_CRIT, "garbage"] * 400
    path = tmp_path / "big.log"
    path.write_text("\n".join(lines) + "\n")
    serial = summarize_logs([str(path)])
    monkeypatch.setattr(logs, "PARALLEL_MIN", 1)
    monkeypatch.setattr(reader, "CHUNK", 4096)  # many blocks per range
    parallel = summarize_logs([str(path)])
    assert parallel.files == serial.files
    assert parallel.files[0].lines == 2000
    assert parallel.files[0].unparsed == 400
    assert parallel.total_5xx == serial.total_5xx == 400
    assert parallel.causes == serial.causes
