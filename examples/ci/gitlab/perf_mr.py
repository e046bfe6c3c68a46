"""The GitLab side of the perf job: the baseline report, and the report as a merge request note.

    python perf_mr.py baseline --output baseline.json
        In a merge request pipeline, download perf-report.json from the latest
        successful job of the same name on the target branch. Elsewhere, or when
        that branch has no such report yet, write nothing: the run then has no
        baseline, every test is new and nothing regresses.

    python perf_mr.py note perf-report.md
        In a merge request pipeline, with a token in PERF_API_TOKEN (a project access
        token with the api scope), post the report as a note on the merge request, or
        update the note an earlier push posted. Without the token, do nothing.

Only the standard library; GitLab's predefined CI/CD variables say where to go.
Neither command fails the job: a missing baseline or note is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

MARKER = "<!-- perfbudget report -->"
REPORT = "perf-report.json"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def _request(method: str, url: str, token_header: tuple[str, str], body: Any = None) -> tuple[Any, dict]:
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header(*token_header)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = response.read()
        return payload, dict(response.headers)


def _project_url() -> str:
    return f"{_env('CI_API_V4_URL')}/projects/{urllib.parse.quote(str(_env('CI_PROJECT_ID')), safe='')}"


def baseline(output: Path) -> int:
    if not _env("CI_MERGE_REQUEST_IID"):
        print("perf baseline: not a merge request pipeline, no baseline")
        return 0
    branch = _env("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", _env("CI_DEFAULT_BRANCH"))
    job = _env("CI_JOB_NAME", "perf")
    url = (
        f"{_project_url()}/jobs/artifacts/{urllib.parse.quote(str(branch), safe='')}/raw/{REPORT}"
        f"?job={urllib.parse.quote(str(job), safe='')}"
    )
    token = _env("PERF_API_TOKEN")
    header = ("PRIVATE-TOKEN", token) if token else ("JOB-TOKEN", str(_env("CI_JOB_TOKEN", "")))
    try:
        payload, _ = _request("GET", url, header)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            print(f"perf baseline: no {REPORT} on {branch} yet; every test is new")
        else:
            print(f"perf baseline: cannot download {REPORT} from {branch}: HTTP {error.code}; no baseline")
        return 0
    except OSError as error:
        print(f"perf baseline: cannot reach GitLab ({error}); no baseline")
        return 0
    output.write_bytes(payload)
    print(f"perf baseline: {REPORT} of {branch} ({job}) saved as {output}")
    return 0


def note(report: Path) -> int:
    iid, token = _env("CI_MERGE_REQUEST_IID"), _env("PERF_API_TOKEN")
    if not iid:
        print("perf note: not a merge request pipeline")
        return 0
    if not token:
        print("perf note: PERF_API_TOKEN is not set; the report is in the job's artifacts")
        return 0
    if not report.is_file():
        print(f"perf note: {report} was not written (did pytest start?)")
        return 0
    body = f"{MARKER}\n{report.read_text(encoding='utf-8')}"
    notes_url = f"{_project_url()}/merge_requests/{iid}/notes"
    header = ("PRIVATE-TOKEN", token)
    try:
        existing = _find_note(notes_url, header)
        if existing is None:
            _request("POST", notes_url, header, {"body": body})
            print(f"perf note: posted on !{iid}")
        else:
            _request("PUT", f"{notes_url}/{existing}", header, {"body": body})
            print(f"perf note: updated on !{iid}")
    except (urllib.error.HTTPError, OSError) as error:
        print(f"perf note: cannot post the note: {error}")
    return 0


def _find_note(notes_url: str, header: tuple[str, str]) -> int | None:
    """The id of the note an earlier run posted, found by its marker."""
    page: str | None = "1"
    while page:
        payload, headers = _request("GET", f"{notes_url}?per_page=100&page={page}", header)
        for item in json.loads(payload):
            if str(item.get("body", "")).startswith(MARKER):
                return int(item["id"])
        page = headers.get("X-Next-Page") or headers.get("x-next-page")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="perf_mr.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("baseline", help="download the target branch's perf-report.json")
    get.add_argument("--output", type=Path, default=Path("baseline.json"))
    post = commands.add_parser("note", help="post or update the merge request note")
    post.add_argument("report", type=Path)
    arguments = parser.parse_args(argv)
    if arguments.command == "baseline":
        return baseline(arguments.output)
    return note(arguments.report)


if __name__ == "__main__":
    sys.exit(main())
