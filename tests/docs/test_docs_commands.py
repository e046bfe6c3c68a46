"""Every command in README.md, docs/ and the examples' READMEs runs, as doc_blocks.py describes."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from doc_blocks import SHELL, Block, blocks, output_pattern, pages, runnable
from shop_runs import ROOT, clean_environment, copy_repository, postgres_database, postgres_reachable

from pytest_perfbudget import budget_file

TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"
PG_URL = re.compile(r"(postgresql(?:\+\w+)?://[^\s/]+/)\w+")
NO_POSTGRES = postgres_reachable()


def all_blocks() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_every_shell_block_says_how_it_is_tested() -> None:
    unmarked = [block.where for block in all_blocks() if block.lang in SHELL and block.spec is None]
    assert not unmarked, f"shell blocks without a <!-- test: ... --> marker: {unmarked}"
    misplaced = [
        block.where
        for block in all_blocks()
        if block.spec is not None
        and block.spec.kind != "from"
        and (block.spec.kind == "output") == (block.lang in SHELL)
    ]
    assert not misplaced, f"'output' marks a text block, the others a shell block: {misplaced}"


def test_ci_blocks_are_run_by_ci_as_written() -> None:
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")
    ci_blocks = [block for block in all_blocks() if block.spec is not None and block.spec.kind == "ci"]
    assert ci_blocks, "the README's main job is marked <!-- test: ci -->"
    for block in ci_blocks:
        for command in block.commands():
            assert command in ci, f"{block.where}: .ci/run does not run {command!r}"


def test_the_test_command_is_the_readmes() -> None:
    suite = [block for block in blocks(ROOT / "README.md") if block.spec and block.spec.kind == "this suite"]
    assert [block.commands() for block in suite] == [[TEST_COMMAND]]


def test_excerpts_are_in_their_files() -> None:
    for block in all_blocks():
        if block.spec is None or block.spec.kind != "from":
            continue
        source = (ROOT / block.spec.reason).read_text(encoding="utf-8").splitlines()
        position = 0
        for line in (line for line in block.text.splitlines() if line.strip()):
            try:
                position = source.index(line, position) + 1
            except ValueError:
                pytest.fail(f"{block.where}: not a line of {block.spec.reason} (or out of order): {line!r}")


def test_python_blocks_parse() -> None:
    for block in all_blocks():
        if block.lang in ("python", "py"):
            try:
                ast.parse(textwrap.dedent(block.text))  # an excerpt of a class body is indented
            except SyntaxError as error:
                pytest.fail(f"{block.where}: {error}")


def test_yaml_and_json_blocks_parse_and_budget_files_are_valid() -> None:
    for block in all_blocks():
        if block.lang in ("yaml", "yml"):
            document = yaml.safe_load(block.text)
            if isinstance(document, dict) and "version" in document:
                budget_file.parse(block.text, block.where)  # raises with the file:line of the problem
        elif block.lang == "json":
            json.loads(block.text)


def test_relative_links_point_at_files() -> None:
    link = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s]+?)(?:#[^)]*)?\)")
    for page in pages():
        for target in link.findall(page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page_id(page)}: broken link {target}"


# --- running the commands -------------------------------------------------------------


def run_block(block: Block, repo: Path, database: str = "") -> str:
    """Run the block's commands in order; returns their output, stdout and stderr together."""
    spec = block.spec
    assert spec is not None
    output = []
    commands = block.commands()
    for index, command in enumerate(commands):
        command = runnable(command)
        if spec.quick:
            command += " " + spec.quick
        if spec.postgresql:
            command = PG_URL.sub(lambda match: match[1] + database, command)
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=repo,
            env=clean_environment(PYTEST_ADDOPTS="-p no:cacheprovider"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        expected = spec.exit if index == len(commands) - 1 else 0
        assert result.returncode == expected, (
            f"{block.where}: `{command}` exited {result.returncode}, not {expected}:\n{result.stdout}"
        )
        output.append(result.stdout)
    return "".join(output)


def check_output(block: Block, output: str) -> None:
    assert block.spec is not None
    lines = [line.strip() for line in output.splitlines()]
    only = re.compile(block.spec.only) if block.spec.only else None
    for expected in block.text.splitlines():
        if not expected.strip() or (only is not None and not only.search(expected)):
            continue
        pattern = output_pattern(expected)
        assert any(pattern.fullmatch(line) for line in lines), (
            f"{block.where}: no line of the output reads like\n  {expected.strip()}\noutput:\n{output}"
        )


def pages_with_commands() -> list[Path]:
    return [
        page
        for page in pages()
        if any(block.spec and block.spec.kind in ("run", "ci") for block in blocks(page))
    ]


@pytest.mark.parametrize("page", pages_with_commands(), ids=page_id)
def test_page_commands_run(page: Path, tmp_path: Path) -> None:
    repo = copy_repository(tmp_path)
    output: str | None = None
    skipped = []
    for block in blocks(page):
        spec = block.spec
        if spec is None or spec.kind in ("skip", "this suite", "from"):
            continue
        if spec.kind == "output":
            if output is None:
                skipped.append(block.where)
                continue
            check_output(block, output)
            continue
        if spec.postgresql and NO_POSTGRES is not None:
            skipped.append(f"{block.where} ({NO_POSTGRES})")
            output = None
            continue
        if spec.postgresql:
            with postgres_database() as url:
                output = run_block(block, repo, database=url.rsplit("/", 1)[1])
        else:
            output = run_block(block, repo)
    if skipped:
        pytest.skip(f"ran the rest; skipped {', '.join(skipped)}")
