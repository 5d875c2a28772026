"""Which language drillpe speaks (English or Chinese), and how a text is
picked from the data files.

Texts live as data: every English field ``name`` in an
``exercises/ID/exercise.toml`` or in ``exercises/common.toml`` has a Chinese
sibling ``name_zh``, and every stub ``exercises/ID/stub.py`` has a Chinese
twin ``stub.zh.py``; drillpe's own sentences are in ``exercises/ui.toml``. A test fails when either language lacks a text the
other has.

The language is, in order: ``--lang`` on the command line, ``$DRILLPE_LANG``,
the locale (``$LANGUAGE``, ``$LC_ALL``, ``$LC_MESSAGES``, ``$LANG``: the first
one set decides; ``zh...`` means Chinese), else English. The scorecard's table headings,
check titles and the graders' numeric messages stay English.
"""

from __future__ import annotations

import os
from typing import Any

LANGS = ("en", "zh")
DEFAULT = "en"

_chosen: str | None = None


def _detected(environ: os._Environ | dict | None = None) -> tuple[str, str]:
    """(language, where it came from) without --lang: $DRILLPE_LANG, the locale, the default."""
    env = os.environ if environ is None else environ
    wanted = env.get("DRILLPE_LANG", "").strip().lower()
    if wanted in LANGS:
        return wanted, "$DRILLPE_LANG"
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            # LANGUAGE may be a priority list ("zh_CN:en"); the first entry decides.
            first = value.split(":")[0].lower()
            return ("zh" if first.startswith("zh") else DEFAULT), f"the locale (${var}={value})"
    return DEFAULT, "the default"


def detect(environ: os._Environ | dict | None = None) -> str:
    return _detected(environ)[0]


def choose(lang: str | None) -> None:
    """Fix the language for this process (the --lang option); None keeps detection."""
    global _chosen
    if lang is not None:
        if lang not in LANGS:
            raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
        _chosen = lang


def current() -> str:
    return _chosen or detect()


def chosen() -> bool:
    """Whether --lang fixed the language for this process."""
    return _chosen is not None


def source(environ: os._Environ | dict | None = None) -> str:
    """Where the current language comes from, in words (for drillpe doctor)."""
    return "--lang" if _chosen else _detected(environ)[1]


def field_name(name: str, lang: str) -> str:
    return name if lang == DEFAULT else f"{name}_{lang}"


def listing(items: list[str] | tuple[str, ...], lang: str | None = None) -> str:
    """Items named one after the other, as the language writes a list: Chinese
    separates them with 、, not an English comma."""
    return ("、" if (lang or current()) == "zh" else ", ").join(items)


def pick(entry: dict[str, Any], name: str, lang: str | None = None) -> Any:
    """``entry[name]`` in the chosen language, falling back to English."""
    lang = lang or current()
    value = entry.get(field_name(name, lang))
    return entry.get(name) if value in (None, "", []) else value
