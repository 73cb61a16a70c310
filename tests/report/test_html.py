"""The HTML report: everything from a result is escaped, nothing leaves the folder."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

from harness.report import html_text, write_html
from harness.scenario.result import ExpectationResult, TimelineEvent, Verdict
from tests.report.samples import INFO, T0, campaign, result

HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:x">'


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)
        else:
            self.text.append(data)


def parse(text: str) -> Tags:
    tags = Tags()
    tags.feed(text)
    tags.close()
    return tags


def hostile_result() -> list:  # type: ignore[type-arg]
    r = result(f"ID{HOSTILE}", f"dmc{HOSTILE}", Verdict.FAIL, title=HOSTILE,
               behaviours=(2, 99), clauses=(HOSTILE,),
               evidence={HOSTILE: f"x{HOSTILE}.pcap", "trace": "../../etc/passwd",
                         "tls_keylog": "/etc/shadow"})
    return [replace(
        r, repro=f"s1lab run {HOSTILE}", error=HOSTILE,
        expectations=(ExpectationResult(HOSTILE, False, HOSTILE, T0 + 3600_000_000),),
        timeline=(TimelineEvent(T0, HOSTILE, HOSTILE, HOSTILE, HOSTILE),
                  TimelineEvent(T0 + 60_000_000, "d", HOSTILE, "action", HOSTILE)))]


def test_hostile_strings_cannot_inject_markup(tmp_path: Path) -> None:
    page = parse(write_html(hostile_result(), tmp_path, INFO).read_text(encoding="utf-8"))
    assert len(page.scripts) == 1 and "alert" not in page.scripts[0]  # only our own script
    assert [t for t, _ in page.tags].count("script") == 1
    assert "img" not in {t for t, _ in page.tags}
    for tag, attrs in page.tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        for key in ("href", "src"):
            value = attrs.get(key) or ""
            assert not value.lower().startswith("javascript:"), (tag, attrs)
    # ... and the hostile text is shown as text, where it belongs.
    text = "".join(page.text)
    assert text.count(HOSTILE) >= 6
    assert f"s1lab run {HOSTILE}" in text


def test_evidence_links_stay_inside_the_report_folder(tmp_path: Path) -> None:
    page = parse(write_html(hostile_result(), tmp_path, INFO).read_text(encoding="utf-8"))
    hrefs = [a["href"] for t, a in page.tags if t == "a" and a.get("href")]
    files = [h for h in hrefs if h and not h.startswith("#")]
    assert files, "the one evidence path inside the cell folder is linked"
    for href in files:
        assert href is not None
        assert href.startswith("cells/") and ".." not in href.split("/")
        assert re.fullmatch(r"[A-Za-z0-9/%._~-]+", href), href  # percent-encoded, no markup
    assert not any("passwd" in (h or "") or "shadow" in (h or "") for h in hrefs)


def test_offline_page_with_a_strict_content_security_policy(tmp_path: Path) -> None:
    text = html_text(campaign(), tmp_path, INFO)
    page = parse(text)
    for _, attrs in page.tags:
        for key in ("href", "src", "action", "data"):
            assert "//" not in (attrs.get(key) or ""), attrs  # no URL with a host anywhere
    assert not re.search(r"@import|url\(", "".join(page.styles))
    csp = next(a["content"] for t, a in page.tags
               if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None and csp.startswith("default-src 'none';")

    def digest(s: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"

    assert f"script-src {digest(page.scripts[0])};" in csp
    assert f"style-src {digest(page.styles[0])};" in csp
    assert not any("style" in a for _, a in page.tags)  # inline style attributes would be blocked


def test_matrix_failures_coverage_and_evidence(tmp_path: Path) -> None:
    cell = tmp_path / "cells" / "ioc-credit" / "EXC-5R-001"
    cell.mkdir(parents=True)
    (cell / "trace.jsonl").write_text("{}\n")
    page = parse(write_html(campaign(), tmp_path, INFO).read_text(encoding="utf-8"))
    cells = [a for t, a in page.tags if t == "td" and "cell" in (a.get("class") or "").split()]
    assert len(cells) == 6 * 3
    classes = [a["class"] for a in cells]
    assert classes.count("cell v-pass") == 12 and classes.count("cell v-fail") == 2
    assert classes.count("cell v-error") == 1 and classes.count("cell v-skip") == 1
    assert classes.count("cell v-none") == 2  # SVC-TOPUP-001 ran on one DMC only
    svgs = [a for t, a in page.tags if t == "svg" and a.get("class") == "timeline"]
    assert len(svgs) == 16
    articles = [a for t, a in page.tags if t == "article"]
    assert [a["class"] for a in articles] == ["failure v-fail", "failure v-fail",
                                              "failure v-error"]  # in matrix order
    text = "".join(page.text)
    assert "s1lab run harness/catalogue/MIG-RB-001.yaml --dmc moc-mds --seed 42" in text
    assert "SMSO opened a TLS session at +13 h" in text
    assert "Rollback restores the SMSO" in text and "not covered" in text
    links = {a["href"]: a for t, a in page.tags if t == "a" and (a.get("href") or "").startswith(
        "cells/ioc-credit/EXC-5R-001/")}
    assert set(links) == {f"cells/ioc-credit/EXC-5R-001/{n}" for n in (
        "trace.jsonl", "han.pcap", "han-keys.txt", "tls-keys.log")}
    missing = [a for t, a in page.tags if t == "span" and a.get("class") == "missing"]
    assert len(missing) == 16 * 4 - 1  # every evidence file but the one written is flagged
