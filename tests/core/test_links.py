"""Pages do not offer links their reader may not follow: a project's page is linked only for
an account that may read projects (a lab's accounts read its records, not the project page)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jcjg.auth.choices import Role
from jcjg.auth.scopes import Principal
from jcjg.core.templating import templates

TEMPLATES = Path(__file__).resolve().parents[2] / "src/jcjg/templates"
# pages only accounts holding project:read reach (the project pages, a party's home, the
# region view)
PROJECT_READERS = (
    "projects/",
    "home/party.html",
    "home/regions.html",
    "macros/links.html",
    "sampling/project_",
)

pytestmark = pytest.mark.once  # no database


@pytest.mark.parametrize(
    ("permissions", "linked"), [(frozenset({"project:read"}), True), (frozenset(), False)]
)
def test_project_link_only_for_readers_of_projects(permissions, linked):
    principal = Principal(user_id=1, role=Role.INSTITUTION_STAFF, permissions=permissions)
    source = (
        '{% from "macros/links.html" import project_link with context %}{{ project_link(7, name) }}'
    )
    html = templates().env.from_string(source).render(principal=principal, name="九江<城>")
    assert ('href="/projects/7"' in html) is linked
    assert "九江&lt;城&gt;" in html  # the name escaped either way


def test_no_page_links_a_project_directly_outside_the_project_pages():
    raw = re.compile(r'href="/projects/\{\{')
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if raw.search(path.read_text("utf-8"))
        and not str(path.relative_to(TEMPLATES)).startswith(PROJECT_READERS)
    ]
    assert not offenders, f"link projects through macros/links.html project_link: {offenders}"
