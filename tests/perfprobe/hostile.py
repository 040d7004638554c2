"""Plant hostile text everywhere a report can carry it, and audit the page.

The values would each run a script, add an element or break out of an
attribute if the page showed them unescaped; ``PageAudit`` parses a page and
lists every element, attribute and comment, so a test can require that only
the renderer's own markup is there.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from django.db import connection

from perfprobe import PerformanceMonitor
from perfprobe.report import ScenarioResult
from perfprobe.report.html import CONTENT_SECURITY_POLICY

#: Each payload sets ``window.__pwned`` or opens a dialog if it ever runs.
SCRIPT = "<script>window.__pwned=1</script>"
OPERATION = f"op {SCRIPT}"
TAG_KEY = '<b onclick="alert(1)">k</b>'
TAG_VALUE = "</td><img src=x onerror=alert(2)>"
SCOPE = "<svg onload=alert(3)>"
MEMORY_LABEL = "<iframe srcdoc='<script>alert(4)</script>'>"
ERROR_MESSAGE = "</code><script>alert(5)</script>"
# A class name may be any string; a view or job can raise one.
ERROR_TYPE = "Evil<img src=x onerror=alert(6)>"
SCENARIO = '"><script>alert(7)</script>'
# Survives fingerprinting as a quoted identifier; the literal shows in the
# raw SQL text only when STORE_SQL_PARAMETERS is on.
SQL_ALIAS = "</script><script>alert(8)</script>"
SQL_LITERAL = "</style><script>alert(9)</script>"
HOSTILE_SQL = f"SELECT '{SQL_LITERAL}' AS \"{SQL_ALIAS}\""
#: A call site: a file name with markup in it, compiled and run as user code.
CALL_SITE_FILE = "/srv/app/<script>alert(10)</script>.py"

HostileError = type(ERROR_TYPE, (Exception,), {})


def run_hostile_queries(count: int) -> None:
    """Run ``HOSTILE_SQL`` ``count`` times from code in ``CALL_SITE_FILE``."""
    source = (
        "for _ in range(count):\n"
        "    with connection.cursor() as cursor:\n"
        "        cursor.execute(sql)\n"
    )
    code = compile(source, CALL_SITE_FILE, "exec")
    exec(code, {"connection": connection, "sql": HOSTILE_SQL, "count": count})


def plant(monitor: PerformanceMonitor) -> None:
    """Record hostile operations, tags, scopes, queries, errors and memory."""
    with monitor.measure_execution_time(OPERATION, tags={TAG_KEY: TAG_VALUE}):
        pass
    with monitor.scope(SCOPE):
        run_hostile_queries(6)
    try:
        with monitor.measure_execution_time(OPERATION):
            raise HostileError(ERROR_MESSAGE)
    except HostileError:
        pass
    with monitor.track_memory_usage(MEMORY_LABEL):
        pass
    monitor.track_memory_usage(MEMORY_LABEL)


def hostile_scenario() -> ScenarioResult:
    """Return a failed scenario whose name and error are hostile."""
    return ScenarioResult(
        name=SCENARIO,
        description=SCRIPT,
        status="failed",
        duration_s=0.01,
        started_at=1_700_000_000.0,
        error={"type": ERROR_TYPE, "message": ERROR_MESSAGE},
    )


#: The only elements and attributes the renderer writes itself.
ALLOWED_TAGS = frozenset(
    [
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "p",
        "table",
        "tr",
        "th",
        "td",
        "ol",
        "li",
        "strong",
        "span",
        "br",
        "code",
        "figure",
    ]
)
#: The SVG elements matplotlib writes for the charts, allowed only in a chart.
CHART_TAGS = frozenset(
    ["svg", "defs", "style", "g", "path", "text", "use", "clippath", "rect"]
)
#: Attribute names allowed in a chart; their values are checked on their own.
CHART_ATTRIBUTES = frozenset(
    [
        "id",
        "style",
        "x",
        "y",
        "d",
        "transform",
        "xlink:href",
        "clip-path",
        "width",
        "height",
        "viewbox",
        "version",
        "type",
    ]
)
#: The one stylesheet matplotlib puts in each chart.
CHART_STYLE = "*{stroke-linejoin: round; stroke-linecap: butt}"
# References inside a chart may only point at the same page.
_LOCAL_REFERENCE = re.compile(r"#[A-Za-z0-9_-]+")
_LOCAL_URL = re.compile(r"url\(#[A-Za-z0-9_-]+\)")
ALLOWED_ATTRIBUTES = frozenset(
    {
        ("lang", "en"),
        ("charset", "utf-8"),
        ("http-equiv", "Content-Security-Policy"),
        ("content", CONTENT_SECURITY_POLICY),
    }
)
ALLOWED_CLASSES = frozenset(
    ["num", "note", "critical", "warning", "info", "ok", "failed", "chart", "site"]
)


class PageAudit(HTMLParser):
    """Parse a page the way a browser tokenises it and keep what it holds.

    Elements inside an ``<svg>`` chart are kept apart (``chart_tags``,
    ``chart_attributes``, ``chart_text``, ``chart_style``): they are
    matplotlib's drawing, audited against their own allow-lists.
    """

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.chart_tags: list[str] = []
        self.chart_attributes: list[tuple[str, str | None]] = []
        self.others: list[str] = []
        self.text: list[str] = []
        self.chart_text: list[str] = []
        self.style: list[str] = []
        self.chart_style: list[str] = []
        self.title: list[str] = []
        self.charts = 0
        self._open: list[str] = []
        self.feed(page)
        self.close()

    @property
    def _in_chart(self) -> bool:
        return "svg" in self._open

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.charts += 1
        if self._in_chart or tag == "svg":
            self.chart_tags.append(tag)
            self.chart_attributes.extend(attrs)
        else:
            self.tags.append(tag)
            self.attributes.extend(attrs)
        if tag not in {"meta", "br"}:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        where = self._open[-1] if self._open else ""
        if self._in_chart:
            target = self.chart_style if where == "style" else self.chart_text
        else:
            target = {"style": self.style, "title": self.title}.get(where, self.text)
        target.append(data)

    def handle_comment(self, data: str) -> None:
        self.others.append(f"comment {data!r}")

    def handle_pi(self, data: str) -> None:
        self.others.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.others.append(f"declaration {data!r}")

    @property
    def visible_text(self) -> str:
        """Return the page's text outside ``style``, ``title`` and charts, joined."""
        return "".join(self.text)

    def unexpected_markup(self) -> list[str]:
        """Return every element, attribute or comment the renderer does not write."""
        found = [f"element <{t}>" for t in self.tags if t not in ALLOWED_TAGS]
        for name, value in self.attributes:
            if name == "class":
                extra = set((value or "").split()) - ALLOWED_CLASSES
                found.extend(f"class {c!r}" for c in sorted(extra))
            elif (name, value) not in ALLOWED_ATTRIBUTES:
                found.append(f"attribute {name}={value!r}")
        return found + self._unexpected_chart_markup() + self.others

    def _unexpected_chart_markup(self) -> list[str]:
        found = [f"chart element <{t}>" for t in self.chart_tags if t not in CHART_TAGS]
        for name, value in self.chart_attributes:
            text = value or ""
            if name not in CHART_ATTRIBUTES or "<" in text:
                found.append(f"chart attribute {name}={value!r}")
            elif name == "xlink:href" and not _LOCAL_REFERENCE.fullmatch(text):
                found.append(f"chart reference {value!r}")
            elif name == "clip-path" and not _LOCAL_URL.fullmatch(text):
                found.append(f"chart clip-path {value!r}")
            elif name == "style" and "url(" in text:
                found.append(f"chart style attribute {value!r}")
            elif name not in {"style", "xlink:href", "clip-path"} and ":" in text:
                # A scheme (javascript:, data:) has no place in a plain value.
                found.append(f"chart attribute {name}={value!r}")
        found.extend(
            f"chart style {style!r}"
            for style in self.chart_style
            if style.strip() != CHART_STYLE
        )
        return found
