"""Jinja2 templates with gettext, one environment per language (no shared mutable state)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub.config import Language
from hub.i18n import translations

TEMPLATES = Path(__file__).with_name("templates")


@cache
def environment(language: Language) -> Environment:
    """The template environment of *language*."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def render(template: str, language: Language, **context: Any) -> str:
    """Render *template* in *language*."""
    return environment(language).get_template(template).render(lang=language.value, **context)
