"""mkdocs hook: an ``<!-- include LANG: PATH -->`` line of a page becomes the file's text, fenced
as LANG (without LANG, as it is). GitHub hides the comment, so the page reads there without a raw
include line (it links the file instead); the site shows the file. PATH is relative to the
repository root, and a missing file fails the build.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
INCLUDE = re.compile(r"^<!-- include(?: (?P<lang>[\w-]+))?: (?P<path>\S+) -->$", re.MULTILINE)


def _included(match: re.Match[str]) -> str:
    text = (ROOT / match["path"]).read_text(encoding="utf-8").rstrip("\n")
    return f"```{match['lang']}\n{text}\n```" if match["lang"] else text


def on_page_markdown(markdown: str, **_: Any) -> str:
    return INCLUDE.sub(_included, markdown)
