"""The code blocks of README.md, docs/ and the examples' READMEs, and how their commands are tested.

A shell block (```sh) must be marked, on the line before it, with what tests it:

    <!-- test: run -->                  tests/docs runs each command; each must exit 0
    <!-- test: run, exit 1 -->          ... and the last one must exit 1
    <!-- test: run, postgresql -->      ... against a throwaway database on the local PostgreSQL
                                        (the URL's database is replaced; skipped without a server)
    <!-- test: run, quick "ARGS" -->    ... with ARGS appended (a benchmark's short form)
    <!-- test: ci -->                   .ci/run runs the block's command as written (checked), and
                                        tests/docs runs it too, without its install steps
    <!-- test: this suite -->           the command that runs this test suite
    <!-- test: skip, REASON -->         not run; REASON says why (network, another suite, ...)

an excerpt of a file (any language) may be marked

    <!-- test: from PATH -->            its lines are lines of PATH (from the repository root), in order

and an output block (```text) after a run block may be marked

    <!-- test: output -->               each line shows in the run's output; numbers with a unit
                                        (12.3ms, 5MB, +81.7%) stand for any such number
    <!-- test: output, only "REGEX" --> the same, for the lines REGEX finds only

Commands run in a copy of the repository (see shop_runs.copy_repository), one copy per
page, in the page's order, with this interpreter's pytest and perfbudget first on PATH:
``python3 -m venv`` and ``pip install`` steps are left out and ``.venv/bin/`` is dropped.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from shop_runs import ROOT

SHELL = ("sh", "bash", "shell")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
MARKER = re.compile(r"^\s*<!--\s*test:\s*(?P<spec>.*?)\s*-->\s*$")
UNIT_NUMBER = re.compile(r"^\(?[+-]?\d+(?:\.\d+)?(?:ns|µs|us|ms|s|min|B|kB|MB|GB|KiB|MiB|GiB|/s|%)[),:;]?$")


def pages() -> list[Path]:
    """Every page whose commands must not rot."""
    found = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found += sorted((ROOT / "examples").glob("*/README.md"))
    return found


@dataclass(frozen=True)
class Spec:
    kind: str  # run, ci, this suite, skip, output, from
    exit: int = 0
    postgresql: bool = False
    quick: str = ""
    only: str = ""
    reason: str = ""

    @classmethod
    def parse(cls, text: str) -> Spec:
        kind, _, rest = text.partition(",")
        kind, rest = kind.strip(), rest.strip()
        if kind == "skip":
            if not rest:
                raise ValueError("'skip' needs a reason: <!-- test: skip, why -->")
            return cls("skip", reason=rest)
        if kind.startswith("from "):
            return cls("from", reason=kind[5:].strip())
        if kind not in ("run", "ci", "this suite", "output"):
            raise ValueError(f"unknown test marker {text!r}")
        values: dict[str, object] = {}
        for option in (part.strip() for part in _split_options(rest)):
            if not option:
                continue
            name, _, value = option.partition(" ")
            value = value.strip()
            if name == "exit":
                values["exit"] = int(value)
            elif name == "postgresql":
                values["postgresql"] = True
            elif name in ("quick", "only"):
                values[name] = shlex.split(value)[0]
            else:
                raise ValueError(f"unknown option {option!r} in test marker {text!r}")
        return cls(kind, **values)  # type: ignore[arg-type]


def _split_options(text: str) -> list[str]:
    """Split on commas outside double quotes."""
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence
    lang: str
    text: str
    spec: Spec | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[str]:
        """The block's commands: continuation lines joined, comments and blank lines left out."""
        commands, pending = [], ""
        for raw in self.text.splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            commands.append(pending + line)
            pending = ""
        return commands


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, each with the marker on the line before it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, index = [], 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        start, body = index, []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:] if lines[index][:indent].strip() == "" else lines[index])
            index += 1
        index += 1
        previous = start - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        marker = MARKER.match(lines[previous]) if previous >= 0 else None
        spec = Spec.parse(marker["spec"]) if marker else None
        found.append(Block(path, start + 1, match["lang"], "\n".join(body) + "\n", spec))
    return found


def runnable(command: str) -> str:
    """A documented command as this suite runs it: no venv creation or install, no ``.venv/bin/``."""
    steps = [step.strip() for step in command.split(" && ")]
    kept = [
        step
        for step in steps
        if not step.startswith("python3 -m venv") and not re.search(r"(^|/)pip install\b", step)
    ]
    return " && ".join(re.sub(r"(^|\s)\.venv/bin/", r"\1", step) for step in kept)


def output_pattern(line: str) -> re.Pattern[str]:
    """One documented output line as a pattern: spaces flexible, numbers with units free."""
    parts = [r"\S+" if UNIT_NUMBER.match(token) else re.escape(token) for token in line.split()]
    return re.compile(r"\s+".join(parts))
