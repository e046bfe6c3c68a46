"""The CI examples (examples/ci): both files parse, and their steps work when run here.

The GitHub workflow's test step and the GitLab job's script run in a copy of the
repository with the variables each CI sets, first as on main (no baseline), then
as on a pull request (with main's report as the baseline), then on a pull request
that brings the N+1 back. perf_mr.py talks to a fake GitLab API on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from shop_runs import ROOT, clean_environment, copy_repository

GITHUB = ROOT / "examples/ci/github/perf.yml"
GITLAB = ROOT / "examples/ci/gitlab/.gitlab-ci.yml"
PERF_MR = ROOT / "examples/ci/gitlab/perf_mr.py"


def load(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def github_steps() -> list[dict[str, Any]]:
    return load(GITHUB)["jobs"]["perf"]["steps"]


def step(name: str) -> dict[str, Any]:
    return next(item for item in github_steps() if item.get("name") == name)


def bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A step's script as the runner runs it: ``bash -e``, with pytest from this interpreter."""
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=clean_environment(**{"PYTEST_ADDOPTS": "-p no:cacheprovider", **env}),
        capture_output=True,
        text=True,
        timeout=600,
    )


# --- both files parse and name what exists ---------------------------------------------


def test_github_workflow_parses() -> None:
    workflow = load(GITHUB)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"push", "pull_request"}
    assert workflow["permissions"]["pull-requests"] == "write"
    uses = [item["uses"] for item in github_steps() if "uses" in item]
    assert "dawidd6/action-download-artifact@v6" in uses
    assert "marocchino/sticky-pull-request-comment@v2" in uses
    assert all("@" in action for action in uses)  # every action pinned to a version
    # the artifact main uploads is the one pull requests download
    download = next(item for item in github_steps() if str(item.get("uses", "")).startswith("dawidd6/"))
    upload = step("Keep the reports")
    assert download["with"]["name"] == upload["with"]["name"]
    assert download["with"]["workflow"] == GITHUB.name
    assert "perf-report.json" in upload["with"]["path"]
    assert step("Comment on the pull request")["with"]["path"] == "perf-report.md"


def test_gitlab_pipeline_parses() -> None:
    pipeline = load(GITLAB)
    job = pipeline["perf"]
    assert job["stage"] in pipeline["stages"]
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["expose_as"]
    assert set(job["artifacts"]["paths"]) == {"perf-report.json", "perf-report.md", "perf-report.html"}
    assert job["artifacts"]["reports"]["junit"] == "junit.xml"
    assert any("perf_mr.py note" in line for line in job["after_script"])


def test_the_budget_files_they_name_are_valid() -> None:
    scripts = [item.get("run", "") for item in github_steps()] + load(GITLAB)["perf"]["script"]
    checks = [line for script in scripts for line in script.splitlines() if "perfbudget check" in line]
    assert checks
    for line in checks:
        path = line.split("perfbudget check", 1)[1].split()[0]
        result = subprocess.run(
            [sys.executable, "-m", "pytest_perfbudget.cli", "check", path],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr


# --- the GitHub test step, run here ---------------------------------------------------


def test_github_step_on_main_then_on_pull_requests(tmp_path: Path) -> None:
    repo = copy_repository(tmp_path)
    script = step("Tests under budgets")["run"]
    summary = repo / "summary.md"
    github = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}

    on_main = bash(script, repo, **github)
    assert on_main.returncode == 0, on_main.stdout + on_main.stderr
    for name in ("perf-report.json", "perf-report.md", "perf-report.html"):
        assert (repo / name).is_file()
    assert "all within budget" in summary.read_text(encoding="utf-8")

    # the pull request downloads main's artifact into baseline/
    (repo / "baseline").mkdir()
    (repo / "perf-report.json").rename(repo / "baseline/perf-report.json")
    summary.unlink()
    same = bash(script, repo, **github)
    assert same.returncode == 0, same.stdout
    assert "Compared with the baseline `baseline/perf-report.json`" in summary.read_text(encoding="utf-8")

    # a pull request that brings the N+1 back: violations and regressions, annotations, exit 1
    summary.unlink()
    worse = bash(script, repo, PYTEST_ADDOPTS="-p no:cacheprovider --shop-services naive", **github)
    assert worse.returncode == 1, worse.stdout
    annotations = [line for line in worse.stdout.splitlines() if line.startswith("::error ")]
    assert any("title=perf budget::" in line and "queries 101 > 2" in line for line in annotations)
    assert any("title=perf regression::" in line for line in annotations)
    text = summary.read_text(encoding="utf-8")
    assert "❌" in text
    assert "| Queries | 2 | 101 |" in text
    # what the comment step posts is the file the run wrote
    assert (repo / "perf-report.md").read_text(encoding="utf-8") in text


# --- the GitLab job's script and perf_mr.py against a fake API ---------------------------


class FakeGitLab(BaseHTTPRequestHandler):
    """Just enough of GitLab's API v4: one artifact file, and a merge request's notes."""

    artifact: ClassVar[bytes | None] = None
    notes: ClassVar[list[dict[str, Any]]] = []
    requests: ClassVar[list[tuple[str, str, dict[str, str]]]] = []

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> None:
        FakeGitLab.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))

    def do_GET(self) -> None:
        self._record()
        if "/jobs/artifacts/main/raw/perf-report.json?job=perf" in self.path:
            if FakeGitLab.artifact is None:
                self._reply(404, b'{"message":"404 Not found"}')
            else:
                self._reply(200, FakeGitLab.artifact)
        elif "/merge_requests/7/notes" in self.path:
            self._reply(200, json.dumps(FakeGitLab.notes).encode(), {"X-Next-Page": ""})
        else:
            self._reply(404)

    def _body(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_POST(self) -> None:
        self._record()
        note = {"id": 100 + len(FakeGitLab.notes), "body": self._body()["body"]}
        FakeGitLab.notes.append(note)
        self._reply(201, json.dumps(note).encode())

    def do_PUT(self) -> None:
        self._record()
        note_id = int(self.path.rsplit("/", 1)[1])
        note = next(item for item in FakeGitLab.notes if item["id"] == note_id)
        note["body"] = self._body()["body"]
        self._reply(200, json.dumps(note).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gitlab() -> Iterator[dict[str, str]]:
    """The predefined variables of a merge request pipeline, pointing at a fake GitLab."""
    FakeGitLab.artifact, FakeGitLab.notes, FakeGitLab.requests = None, [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitLab)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {
        "CI_API_V4_URL": f"http://127.0.0.1:{server.server_port}/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "7",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_DEFAULT_BRANCH": "main",
        "CI_JOB_NAME": "perf",
        "CI_JOB_TOKEN": "job-token",
        "CI_PIPELINE_SOURCE": "merge_request_event",
    }
    server.shutdown()
    server.server_close()


def gitlab_script(repo: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The job's script lines in order, as the runner runs them; the install line is done here."""
    lines = [line for line in load(GITLAB)["perf"]["script"] if not line.startswith("pip install")]
    return bash("\n".join(lines), repo, **env)


def test_gitlab_job_on_the_default_branch_then_on_a_merge_request(tmp_path: Path, gitlab: dict) -> None:
    repo = copy_repository(tmp_path)
    on_main = gitlab_script(repo, CI_PIPELINE_SOURCE="push", CI_COMMIT_BRANCH="main")
    assert on_main.returncode == 0, on_main.stdout + on_main.stderr
    assert "not a merge request pipeline" in on_main.stdout
    assert not (repo / "baseline.json").exists()
    assert (repo / "junit.xml").is_file()

    FakeGitLab.artifact = (repo / "perf-report.json").read_bytes()
    worse = gitlab_script(repo, PYTEST_ADDOPTS="-p no:cacheprovider --shop-services naive", **gitlab)
    assert worse.returncode == 1, worse.stdout
    assert (repo / "baseline.json").read_bytes() == FakeGitLab.artifact
    method, path, headers = FakeGitLab.requests[0]
    assert (method, headers.get("job-token")) == ("GET", "job-token")
    assert path == "/api/v4/projects/42/jobs/artifacts/main/raw/perf-report.json?job=perf"
    assert "regressed" in (repo / "perf-report.md").read_text(encoding="utf-8")


def run_perf_mr(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PERF_MR), *args],
        cwd=repo,
        env={**clean_environment(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_perf_mr_baseline_missing_is_not_an_error(tmp_path: Path, gitlab: dict) -> None:
    result = run_perf_mr(tmp_path, "baseline", "--output", "baseline.json", **gitlab)
    assert result.returncode == 0
    assert "no perf-report.json on main yet" in result.stdout
    assert not (tmp_path / "baseline.json").exists()


def test_perf_mr_posts_one_note_then_updates_it(tmp_path: Path, gitlab: dict) -> None:
    report = tmp_path / "perf-report.md"
    report.write_text("## Performance budget\n\nfirst\n", encoding="utf-8")
    assert "PERF_API_TOKEN is not set" in run_perf_mr(tmp_path, "note", str(report), **gitlab).stdout
    assert FakeGitLab.notes == []

    token = {**gitlab, "PERF_API_TOKEN": "secret"}
    assert "posted on !7" in run_perf_mr(tmp_path, "note", str(report), **token).stdout
    report.write_text("## Performance budget\n\nsecond\n", encoding="utf-8")
    assert "updated on !7" in run_perf_mr(tmp_path, "note", str(report), **token).stdout
    assert len(FakeGitLab.notes) == 1
    assert FakeGitLab.notes[0]["body"].endswith("second\n")
    assert all(headers.get("private-token") == "secret" for _, _, headers in FakeGitLab.requests)


def test_perf_mr_outside_a_merge_request_does_nothing(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CI_")}
    result = subprocess.run(
        [sys.executable, str(PERF_MR), "note", "perf-report.md"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "not a merge request pipeline" in result.stdout
