"""A filter's options drawn once per list of choices and choice (``options`` in the pages'
templates, :mod:`jcjg.core.templating`)."""

from __future__ import annotations

from jcjg.core import templating


def test_options_mark_the_choice_and_are_kept_per_list_and_choice() -> None:
    choices = [(1, "甲检测机构"), (12, "乙 <&> 机构")]
    drawn = templating._options(choices, "12")
    assert drawn == (
        '<option value="1" >甲检测机构</option>'
        '<option value="12" selected>乙 &lt;&amp;&gt; 机构</option>'
    )
    assert templating._options(choices, "12") is drawn  # kept
    assert templating._options(choices, 12) is drawn  # a choice reads as its text
    none = templating._options(choices, "")
    assert "selected" not in none
    assert templating._options(choices, None) is none
    # another list (equal or not) is drawn for itself, never given another list's options
    other = [(1, "甲检测机构"), (12, "丙")]
    assert "丙" in templating._options(other, "12")
    assert templating._options(list(choices), "12") == drawn


def test_the_template_draws_the_same_options() -> None:
    env = templating.templates().env
    page = env.from_string(
        '{% for v, n in c %}<option value="{{ v }}" {% if s == v|string %}selected{% endif %}>'
        "{{ n }}</option>{% endfor %}|{{ options(c, s) }}"
    )
    choices = [(3, "a&b"), (4, "<c>"), (5, "d")]
    for chosen in ("", "4", "9"):
        loop, kept = page.render(c=choices, s=chosen).split("|")
        assert loop == kept
