"""The desk's (and `blogbot ui`'s) message catalog: English message ids, Korean in locale/ko/LC_MESSAGES/messages.po,
compiled with Babel when first used (no build step, no .mo file to keep in step)."""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = {"ko": "한국어", "en": "English"}
DEFAULT = "ko"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of `lang` ("en" is the message ids themselves)."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == "en" or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def gettext_for(lang: str):
    return translations(lang).gettext


def ngettext_for(lang: str):
    return translations(lang).ngettext


def system_language() -> str:
    """The CLI's language: Korean unless the environment asks for something else (LANGUAGE/LC_ALL/LC_MESSAGES/LANG)."""
    import os

    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        v = os.environ.get(var, "")
        if v and v not in ("C", "POSIX", "C.UTF-8"):
            return "ko" if v.lower().startswith("ko") else "en"
    return DEFAULT
