"""Tests for perfprobe.report.templatesite: which lines render a template."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from perfprobe.report import templatesite
from perfprobe.report.templatesite import (
    MAX_SOURCE_BYTES,
    client_request_at,
    template_render_at,
)

# Each statement below is on the line its comment names; the expected call
# is written by hand.
SOURCE = """\
from django.shortcuts import render
from django.template import loader


def page(request, orders):
    return render(request, "orders.html", {"orders": orders})  # line 6


def page_split(request, orders):
    return render(  # line 10
        request,
        "orders.html",
        {"orders": orders},  # line 13
    )


def page_string(orders):
    body = loader.render_to_string("orders.html", {"orders": orders})  # line 18
    template = loader.get_template("orders.html")  # line 19
    text = template.render({"orders": orders})  # line 20
    more = loader.get_template("x.html").render({})  # line 21
    names = [o.customer.name for o in orders]  # line 22
    return render(None, "x.html", {"n": [o.customer for o in orders]})  # line 23


def api(renderer, data):
    return renderer.render(data)  # line 27
"""


@pytest.fixture
def views(tmp_path: Path) -> str:
    """Write SOURCE to a file and return its absolute path."""
    path = tmp_path / "views.py"
    path.write_text(SOURCE, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (6, "render"),
        (10, "render"),
        (13, "render"),
        (18, "render_to_string"),
        (19, None),
        (20, "template.render"),
        (21, "get_template().render"),
        (22, None),
        (23, None),
        (27, None),
        (2, None),
    ],
)
def test_render_lines_are_told_from_other_lines(
    views: str, line: int, expected: str | None
) -> None:
    """A line renders a template only where its statement calls a renderer."""
    assert template_render_at(f"{views}:{line}") == expected


def test_a_relative_call_site_is_read_from_the_base_directory(
    views: str, settings: object
) -> None:
    """A call site relative to BASE_DIR is found there, as reports show it."""
    settings.BASE_DIR = Path(views).parent  # type: ignore[attr-defined]

    assert template_render_at("views.py:6") == "render"


@pytest.mark.parametrize(
    "call_site", [None, "", "nowhere/missing.py:3", "views.py", "<string>:1"]
)
def test_unreadable_call_sites_render_nothing(call_site: str | None) -> None:
    """A call site whose source cannot be read is not taken for a template."""
    assert template_render_at(call_site) is None


def test_an_edited_file_is_read_again(views: str) -> None:
    """The answer follows the file as it is now, not as first read."""
    assert template_render_at(f"{views}:27") is None

    Path(views).write_text(
        SOURCE.replace("renderer.render(data)", "template.render(data)  "),
        encoding="utf-8",
    )

    assert template_render_at(f"{views}:27") == "template.render"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_pipe_named_as_a_call_site_is_not_waited_on(tmp_path: Path) -> None:
    """A FIFO (a script run as ``python <(...)``) is not opened to wait."""
    fifo = tmp_path / "script.py"
    os.mkfifo(fifo)
    answers: list[str | None] = []
    reader = threading.Thread(
        target=lambda: answers.append(template_render_at(f"{fifo}:1")), daemon=True
    )

    reader.start()
    reader.join(timeout=5)
    if reader.is_alive():
        # Let the blocked open() end: a writer comes and goes.
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=5)
        pytest.fail("template_render_at() waited for a writer on a FIFO")

    assert answers == [None]


def test_a_source_beyond_the_size_limit_is_not_read(tmp_path: Path) -> None:
    """A file over MAX_SOURCE_BYTES (generated code) gives no answer."""
    path = tmp_path / "generated.py"
    padding = "# generated\n" * (MAX_SOURCE_BYTES // 12 + 1)
    path.write_text(SOURCE + padding, encoding="utf-8")
    fits = tmp_path / "fits.py"
    fits.write_text(SOURCE, encoding="utf-8")

    assert template_render_at(f"{fits}:6") == "render"
    assert template_render_at(f"{path}:6") is None


def test_a_coding_declaration_is_honoured(tmp_path: Path) -> None:
    """Source in Latin-1, declared so, is read as Python reads it."""
    path = tmp_path / "latin.py"
    path.write_bytes(
        b"# -*- coding: latin-1 -*-\n"
        b"def page(request):\n"
        b'    return render(request, "caf\xe9.html")\n'
    )

    assert template_render_at(f"{path}:3") == "render"


@pytest.mark.parametrize("line", ["\u00b2", "-1", "1.0"])
def test_a_line_number_int_cannot_read_is_no_answer(views: str, line: str) -> None:
    """A line that is not ASCII or Unicode decimal digits answers None."""
    answer = template_render_at(f"{views}:{line}")

    assert answer is None


def test_a_report_naming_many_files_reads_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty files asked about twice in turn (a live page built twice): 40 reads."""
    templatesite._renders_at.cache_clear()
    reads: list[str] = []
    read_source = templatesite._read_source

    def counted(path: str) -> bytes | None:
        reads.append(path)
        return read_source(path)

    monkeypatch.setattr(templatesite, "_read_source", counted)
    sites = []
    for number in range(40):
        path = tmp_path / f"views{number}.py"
        path.write_text(SOURCE, encoding="utf-8")
        sites.append(f"{path}:6")

    for _ in range(2):
        assert [template_render_at(site) for site in sites] == ["render"] * 40

    assert len(reads) == 40


CLIENT_SOURCE = """\
from django.test import Client


def test_pages(client, async_client, api):
    client.get("/books/")  # line 5
    response = Client().post("/books/", {})  # line 6
    self.client.get(  # line 7
        "/books/",
    )
    api.get("/books/")  # line 10
    render(client.get("/x/"))  # line 11
"""


def test_test_client_requests_are_told_apart_from_renders(tmp_path: Path) -> None:
    """Requests through a client are named; other gets and renders are not."""
    path = tmp_path / "test_pages.py"
    path.write_text(CLIENT_SOURCE, encoding="utf-8")
    found = {line: client_request_at(f"{path}:{line}") for line in range(1, 12)}

    assert {line: name for line, name in found.items() if name} == {
        5: "client.get",
        6: "Client().post",
        7: "client.get",
        8: "client.get",
        9: "client.get",
    }
    assert template_render_at(f"{path}:11") == "render"
    assert template_render_at(f"{path}:5") is None
