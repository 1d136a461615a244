"""The template environment of the HTML pages: Jinja2 templates shipped in `templates/`.

Autoescaping is on for every template, so any text a run produced (questions, descriptions,
answers, judge output) reaches a page escaped; only two kinds of markup made in Python enter
unescaped, both as `Markup`: the SVG charts of `svg` (which escape every text they hold) and the
tables pandas writes with `escape=True`. Undefined names and missing templates fail loudly.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from cascade.core import CascadeError

TEMPLATES = Path(__file__).parent / "templates"


class TemplateMissing(CascadeError):
    """A page's template is not where the package keeps it (a broken install)."""


def table(frame: pd.DataFrame, *, scroll: bool = False) -> Markup:
    """A data frame as an HTML table, its cells escaped by pandas."""
    if frame.empty:
        return Markup("<p class='note'>(no rows)</p>")
    html = frame.to_html(index=False, classes="data", border=0, escape=True, na_rep="")
    return Markup(f"<div class='scroll'>{html}</div>" if scroll else html)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["table"] = table
    return env


def _missing(error: jinja2.TemplateNotFound) -> TemplateMissing:
    return TemplateMissing(
        f"The HTML template {error.name} is missing from {TEMPLATES}: the cascade install is "
        "incomplete; reinstall it (pip install --force-reinstall cascade-eval)."
    )


def render(name: str, **context: Any) -> str:
    """The whole page `name` as one string (pages without embedded audio)."""
    return "".join(stream(name, **context))


def stream(name: str, **context: Any) -> Iterator[str]:
    """The page `name` in pieces, produced as they are written (a loop over a generator in the
    template renders one element at a time, so a large page is never whole in memory)."""
    try:
        for part in environment().get_template(name).generate(**context):
            yield str(part)  # plain text: a Markup part would escape what is added to it
    except jinja2.TemplateNotFound as error:  # the page's own template or one it includes
        raise _missing(error) from error
