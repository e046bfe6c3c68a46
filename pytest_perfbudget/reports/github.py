"""GitHub Actions: the job summary and workflow-command annotations.

Only active inside Actions (``GITHUB_ACTIONS=true``). The Markdown summary
is appended to the file ``$GITHUB_STEP_SUMMARY`` names; each violation
becomes an annotation on the test's file and line in the pull request.
"""

# No ``from __future__ import annotations``: it would clash with the function
# ``annotations`` below (the syntax here needs nothing newer than Python 3.10).
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..enforce import violation_text
from .output import Staged, stage


def step_summary_path(environ: Mapping[str, str]) -> Path | None:
    """The job summary file, when running in GitHub Actions and it is set."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return None
    path = environ.get("GITHUB_STEP_SUMMARY", "").strip()
    return Path(path) if path else None


def stage_step_summary(path: Path, markdown: str) -> Staged:
    """``markdown`` ready to be appended to the summary, keeping what earlier steps and tools wrote.

    Appended, not replaced: the runner owns this file and other tools in the same step append
    to it too; replacing it could lose their lines. A blank line separates our part from
    what came before.
    """
    return stage(path, markdown if markdown.endswith("\n") else markdown + "\n", append=True)


def append_step_summary(path: Path, markdown: str) -> None:
    """Append ``markdown`` to the summary now (see :func:`stage_step_summary`)."""
    staged = stage_step_summary(path, markdown)
    try:
        staged.commit()
    finally:
        staged.discard()


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF are encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: ``:`` and ``,`` are encoded too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(test: Mapping[str, Any], violation: Mapping[str, Any]) -> str:
    """``::error file=tests/t.py,line=12,title=perf budget::tests/t.py::test_x: queries 52 > 3 (budgets.yml:7)``.

    A regression is titled ``perf regression`` and names the baseline it was judged against.

    A ``warn``-level violation is a ``::warning``: it does not fail the run,
    and a red annotation would say it did.
    """
    command = "warning" if violation.get("level") == "warn" else "error"
    properties = []
    if test.get("file"):
        properties.append(f"file={escape_property(str(test['file']))}")
    if isinstance(test.get("line"), int):
        properties.append(f"line={test['line']}")
    title = "perf regression" if violation.get("kind") == "regression" else "perf budget"
    properties.append(f"title={escape_property(title)}")
    message = f"{test['nodeid']}: {violation_text(dict(violation))}"
    if violation.get("source"):
        regression = violation.get("kind") == "regression"
        message += f" against {violation['source']}" if regression else f" ({violation['source']})"
    return f"::{command} {','.join(properties)}::{escape_data(message)}"


def annotations(document: Mapping[str, Any]) -> list[str]:
    """One workflow command per violation, in the report's order: print each on its own line."""
    return [
        annotation(test, violation)
        for test in document.get("tests", [])
        for violation in test.get("violations", [])
    ]
