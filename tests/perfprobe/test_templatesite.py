"""Tests for perfprobe.report.templatesite: which lines render a template."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfprobe.report.templatesite import client_request_at, template_render_at

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
