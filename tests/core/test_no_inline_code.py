"""No template carries inline code, so that pages run under a strict Content-Security-Policy
(script-src 'self'; style-src 'self'): no <script> with a body (a JSON data block is data, not
code), no <style> block, no style="..." attribute, no on* handler, no javascript: address.
Scripts and styles live in files under src/jcjg/static/."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from jcjg.auth.choices import Role
from tests.factories import login

TEMPLATES = Path(str(resources.files("jcjg") / "templates"))

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_FOUND = [
    ("<style> 块", re.compile(r"<style\b", re.I)),
    ("style 属性", re.compile(r"<[^>]*\sstyle\s*=", re.I | re.S)),
    ("on* 事件属性", re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I | re.S)),
    ("javascript: 地址", re.compile(r"javascript:", re.I)),
]


def inline_code(text: str) -> list[str]:
    """What in ``text`` (a template) a strict CSP would refuse, each said in a few words."""
    found = []
    for attributes, body in _SCRIPT.findall(text):
        is_data = re.search(r"""type\s*=\s*["']application/(ld\+)?json["']""", attributes)
        if body.strip() and not is_data:
            found.append(f"内联脚本：{body.strip()[:40]}")
        if not body.strip() and "src=" not in attributes:
            found.append("没有 src 的空脚本")
    without_scripts = _SCRIPT.sub("", text)
    for what, pattern in _FOUND:
        found += [f"{what}：{m.group(0)[:60]}" for m in pattern.finditer(without_scripts)]
    return found


def test_the_scanner_finds_inline_code_and_passes_files_and_data() -> None:
    bad = {
        "<script>alert(1)</script>": "内联脚本",
        "<style>p { color: red }</style>": "<style> 块",
        '<div class="x" style="height: 2px"></div>': "style 属性",
        "<form onsubmit=\"return confirm('x')\">": "on* 事件属性",
        '<select name="a"\n  onchange="go()">': "on* 事件属性",
        '<a href="javascript:history.back()">': "javascript: 地址",
    }
    for text, what in bad.items():
        found = inline_code(text)
        assert found, text
        assert found[0].startswith(what), text
    good = (
        '<script src="/static/js/home.js" defer></script>'
        '<script type="application/json" id="d">{"a": 1}</script>'
        '<div data-height="240" data-style="x" class="chart"></div>'
        '<p>style="这是文字" 不是属性</p><button data-confirm="确定？">删除</button>'
    )
    assert inline_code(good) == []


def test_no_template_has_inline_code() -> None:
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) > 50
    found = {
        str(path.relative_to(TEMPLATES)): hits
        for path in templates
        if (hits := inline_code(path.read_text(encoding="utf-8")))
    }
    assert found == {}


@pytest.mark.parametrize("path", ["/", "/alerts", "/login"])
def test_pages_carry_a_strict_content_security_policy(browser_client, factory, path) -> None:
    if path != "/login":
        login(browser_client, factory.user(Role.PLATFORM_ADMIN).username)
    page = browser_client.get(path)
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "unsafe-inline" not in policy


def test_the_api_docs_carry_the_policy_too(client) -> None:
    """Swagger UI is started by a script file of ours (static/js/api-docs.js), not inline."""
    page = client.get("/api/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert inline_code(page.text) == []
    assert '<script src="/static/js/api-docs.js" defer></script>' in page.text
    assert client.get("/static/js/api-docs.js").status_code == 200
