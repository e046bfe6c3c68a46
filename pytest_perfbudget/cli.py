"""The ``perfbudget`` command: check, compare, merge, report and init.

Exit codes (each subcommand's ``--help`` lists those it can return):

- 0: done (and, for ``compare --fail-on-regression``, nothing regressed);
- 1: ``compare --fail-on-regression`` found a regression;
- 2: bad command-line arguments (argparse's convention), or an output file
  that exists where the command will not replace it;
- 3: an input file that cannot be read or is not a pytest-perfbudget JSON
  report, or an output file that cannot be written: one ``error:`` line;
- 4: ``check`` found a bad budget file (pytest's usage-error status).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import __version__, budget_file, init_budgets
from .budgets import METRICS, Settings, Tolerance, parse_tolerance
from .compare import BaselineError, annotate, load_report
from .merge import CONFLICT_CHOICES, MergeError, Merger, ShardLines, read_lines
from .reports import gc_paused, html, json_report, markdown, write_atomically
from .results import is_regressed
from .stats import STATISTICS
from .units import did_you_mean, format_duration, parse_duration, parse_percent

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_ARGUMENTS = 2
EXIT_INPUT = 3
EXIT_USAGE = 4

FORMATS = ("md", "json", "text", "html")
REPORT_SUFFIXES = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json"}


class CommandError(Exception):
    """A failure to report as one ``error:`` line, with the exit status to return."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _read(path: str, what: str = "report") -> dict[str, Any]:
    try:
        return load_report(Path(path), what)
    except BaselineError as error:
        raise CommandError(str(error), EXIT_INPUT) from None


@contextmanager
def _malformed(source: str) -> Iterator[None]:
    """A report that passed :func:`load_report` but lacks what a record must have is bad input too."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        detail = f"missing {error}" if isinstance(error, KeyError) else str(error)
        raise CommandError(f"{source}: malformed report: {detail}", EXIT_INPUT) from None


def _write(path: str | None, text: str | Iterable[str]) -> None:
    """To ``path`` (atomically where it is a regular file or new), or to standard output without one."""
    if path is None or path == "-":
        with _standard_output():
            sys.stdout.writelines([text] if isinstance(text, str) else text)
        return
    try:
        write_atomically(Path(path), text)
    except OSError as error:
        raise CommandError(f"{path}: cannot write: {error.strerror or error}", EXIT_INPUT) from None


@contextmanager
def _standard_output() -> Iterator[None]:
    """Writes to standard output, flushed: a full disk or a closed pipe is one ``error:`` line."""
    try:
        yield
        sys.stdout.flush()
    except OSError as error:
        _discard_standard_output()
        raise CommandError(f"standard output: cannot write: {error.strerror or error}", EXIT_INPUT) from None


def _discard_standard_output() -> None:
    """Point standard output at the null device, so that what is still buffered does not fail
    again, with a traceback, when the interpreter flushes it on exit."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):  # not a file descriptor (captured): nothing is flushed on exit
        pass


def render_as(
    fmt: str, document: dict[str, Any], *, before: dict[str, Any] | None = None, limit: int = 0
) -> str:
    """``document`` in format ``md``, ``html``, ``json`` or ``text``."""
    if fmt == "md":
        return markdown.render(document, limit or markdown.DEFAULT_LIMIT, before=before)
    if fmt == "html":
        return html.render(document, before=before)
    if fmt == "json":
        return json_report.render(document)
    return compare_text(document)


# --- check ------------------------------------------------------------------------------


def _check(arguments: argparse.Namespace) -> int:
    """Each file on its own, as a run reads each of several ``--perf-budget`` files."""
    status = EXIT_OK
    for path in arguments.files:
        try:
            loaded = budget_file.load(path)
        except budget_file.BudgetFileError as error:
            print(f"error: {error}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        for warning in loaded.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        with _standard_output():
            print(f"{path}: ok ({len(loaded.entries)} pattern{'s' * (len(loaded.entries) != 1)})")
    return status


# --- compare ----------------------------------------------------------------------------


def _literal(text: str) -> object:
    """``3`` -> 3 and ``0.5`` -> 0.5, so that counts and bare numbers parse as in YAML."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def tolerance_argument(text: str) -> tuple[str, Tolerance]:
    """``time=20%`` or ``queries=0`` or ``sql_time=5ms``."""
    metric, equals, value = text.partition("=")
    metric = metric.strip()
    if not equals or not value.strip():
        raise argparse.ArgumentTypeError(f"expected METRIC=ALLOWANCE such as time=20%, got '{text}'")
    if metric not in METRICS:
        raise argparse.ArgumentTypeError(f"unknown metric '{metric}'{did_you_mean(metric, METRICS)}")
    try:
        return metric, parse_tolerance(metric, _literal(value.strip()))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"tolerance for '{metric}': {error}") from None


def duration_argument(text: str) -> float:
    try:
        return parse_duration(_literal(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def percent_argument(text: str) -> float:
    try:
        return parse_percent(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def compare_documents(
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    source: str,
    tolerances: Sequence[tuple[str, Tolerance]] = (),
    noise_floor: float | None = None,
    statistic: str = "median",
) -> dict[str, Any]:
    """``after`` annotated against ``before``, with its summary counted again."""
    defaults = Settings()
    annotated = annotate(
        after,
        before,
        source=source,
        tolerance={**defaults.tolerance, **dict(tolerances)},
        noise_floor=defaults.noise_floor if noise_floor is None else noise_floor,
        statistic=statistic,
    )
    annotated["summary"] = json_report.summarize(annotated["tests"], len(annotated.get("warnings", [])))
    return annotated


def compare_text(document: dict[str, Any]) -> str:
    """A compact terminal table: one line per regressed or improved metric."""
    result = markdown.verdict(document)
    baseline = document.get("baseline") or {}
    lines = [f"{result.text} — {result.measured} measured"]
    if baseline:
        lines[0] += f", {len(baseline.get('new', []))} new, {len(baseline.get('vanished', []))} vanished"
        lines.append(f"baseline: {baseline.get('path')}")
    for difference in baseline.get("environment_differences", []):
        lines.append(f"environment differs: {difference}")
    rows = [
        (
            judgement.upper(),
            change.nodeid,
            markdown.metric_label(change.metric, change.statistic),
            markdown.format_metric(change.metric, change.before),
            markdown.format_metric(change.metric, change.after),
            markdown.format_improvement(change.improvement),
        )
        for judgement, changes in markdown.judged_changes(document).items()
        for change in changes
    ]
    if rows:
        header = ("", "test", "metric", "before", "after", "improvement")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            cells = [row[i].ljust(widths[i]) if i < 3 else row[i].rjust(widths[i]) for i in range(len(row))]
            lines.append("  ".join(cells).rstrip())
    lines += _regressed_hot_spots(document)
    return "\n".join(lines) + "\n"


def _regressed_hot_spots(document: dict[str, Any]) -> list[str]:
    """The hot spots of each regressed test whose record (from the after run) has them."""
    from .hot_spots import function_lines

    lines = []
    for test in document.get("tests", []):
        evidence = test.get("evidence") or {}
        hot_spots = evidence.get("hot_spots") if isinstance(evidence, dict) else None
        if is_regressed(test) and isinstance(hot_spots, dict) and hot_spots.get("status") == "taken":
            lines += ["", f"hot spots of {test['nodeid']} (a profiled call in the after run):"]
            lines += function_lines(hot_spots)
    return lines


def _compare(arguments: argparse.Namespace) -> int:
    before = _read(arguments.before, "baseline report")
    after = _read(arguments.after)
    with _malformed(f"{arguments.before} or {arguments.after}"):
        annotated = compare_documents(
            before,
            after,
            source=arguments.before,
            tolerances=arguments.tolerance,
            noise_floor=arguments.noise_floor,
            statistic=arguments.statistic,
        )
        text = render_as(arguments.format, annotated, before=before)
    _write(arguments.output, text)
    regressed = any(is_regressed(test) for test in annotated["tests"])
    return EXIT_FOUND if arguments.fail_on_regression and regressed else EXIT_OK


# --- merge, report, init ---------------------------------------------------------------


def _merge(arguments: argparse.Namespace) -> int:
    try:
        merger = Merger(arguments.on_conflict)
        with gc_paused():  # a shard read whole is thousands of objects, none in a cycle
            for path in arguments.shards:  # one shard in memory at a time
                lines = _read_lines(path)
                if lines is None:
                    merger.add(path, _read(path, "shard report"))
                else:
                    merger.add_lines(path, lines)
        chunks = merger.render_chunks()  # its head: where an error would come from
    except MergeError as error:
        raise CommandError(str(error), EXIT_INPUT) from None
    _write(arguments.output, chunks)
    count = len(arguments.shards)
    print(f"{arguments.output}: {merger.count} tests from {count} shard{'s' * (count != 1)}", file=sys.stderr)
    return EXIT_OK


def _read_lines(path: str) -> ShardLines | None:
    """A shard as :func:`~pytest_perfbudget.merge.read_lines` reads it, when it is a valid report
    written one test per line; else None, and :func:`_read` reads it (and says what is wrong)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = read_lines(text)
    if lines is None or not str(lines.head.get("schema", "")).startswith("pytest-perfbudget/"):
        return None
    return lines


def report_format(path: str) -> str:
    fmt = REPORT_SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise CommandError(
            f"{path}: cannot tell the format from the suffix; use .md, .html or .json", EXIT_ARGUMENTS
        )
    return fmt


def _report(arguments: argparse.Namespace) -> int:
    fmt = report_format(arguments.output)
    document = _read(arguments.report)
    before = _read(arguments.baseline, "baseline report") if arguments.baseline else None
    with _malformed(arguments.report):
        text = render_as(fmt, document, before=before, limit=arguments.limit)
    _write(arguments.output, text)
    return EXIT_OK


def _init(arguments: argparse.Namespace) -> int:
    output = Path(arguments.output)
    if output.is_file() and not arguments.force:  # a device or a FIFO holds no budgets to lose
        raise CommandError(f"{output}: already exists; pass --force to replace it", EXIT_ARGUMENTS)
    document = _read(arguments.report)
    with _malformed(arguments.report):
        text = init_budgets.budget_file_text(document, headroom=arguments.headroom, source=arguments.report)
    try:  # what we write must pass `perfbudget check`
        count = len(budget_file.parse(text, str(output)).entries)
    except budget_file.BudgetFileError as error:  # a test id YAML cannot hold (a lone surrogate)
        raise CommandError(f"{arguments.report}: cannot write these budgets: {error}", EXIT_INPUT) from None
    _write(str(output), text)
    print(f"{output}: budgets for {count} test{'s' * (count != 1)}", file=sys.stderr)
    return EXIT_OK


# --- the parser -------------------------------------------------------------------------

EXIT_STATUSES = {
    EXIT_OK: "done",
    EXIT_FOUND: "regressions found (with --fail-on-regression)",
    EXIT_ARGUMENTS: "bad arguments",
    EXIT_INPUT: "an input file that cannot be read or is not a report, or an output that cannot be written",
    EXIT_USAGE: "a bad budget file",
}


def exit_statuses(*statuses: int) -> str:
    """The help's list of the exit statuses one subcommand can return."""
    return "exit status:\n" + "\n".join(f"  {status}  {EXIT_STATUSES[status]}" for status in statuses)


def _command(
    commands: Any,
    name: str,
    summary: str,
    description: str,
    run: Callable[[argparse.Namespace], int],
    statuses: Sequence[int] = (EXIT_OK, EXIT_ARGUMENTS, EXIT_INPUT),
) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=exit_statuses(*statuses),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.set_defaults(run=run)
    return command


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="perfbudget", description="pytest-perfbudget tools")
    main_parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = _command(
        commands,
        "check",
        "validate a budget file",
        "Validate budget files. Exit 0 when every one is valid, 4 with a one-line error for each that is not.",
        _check,
        (EXIT_OK, EXIT_ARGUMENTS, EXIT_USAGE),
    )
    check.add_argument("files", metavar="FILE", nargs="+", help="a budget file (YAML)")

    compare = _command(
        commands,
        "compare",
        "compare two JSON reports",
        "Compare AFTER with BEFORE, test by test and metric by metric, as --perf-baseline does in a run.",
        _compare,
        (EXIT_OK, EXIT_FOUND, EXIT_ARGUMENTS, EXIT_INPUT),
    )
    compare.add_argument("before", metavar="BEFORE", help="the baseline JSON report (say, from main)")
    compare.add_argument("after", metavar="AFTER", help="the JSON report to judge")
    compare.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    compare.add_argument("--fail-on-regression", action="store_true", help="exit 1 when any metric regressed")
    compare.add_argument(
        "--tolerance",
        action="append",
        default=[],
        type=tolerance_argument,
        metavar="METRIC=ALLOWANCE",
        help="allowed regression of a metric, such as time=20%% or queries=0 (repeatable; "
        "defaults: time=20%%, memory=10%%, queries=0; other metrics are shown, not judged)",
    )
    compare.add_argument(
        "--noise-floor",
        type=duration_argument,
        default=None,
        metavar="DURATION",
        help=f"a time change smaller than this is never a regression (default: {format_duration(Settings().noise_floor)})",
    )
    compare.add_argument(
        "--statistic",
        choices=STATISTICS,
        default="median",
        help="the statistic of timings compared (default: median)",
    )
    compare.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")

    merge_command = _command(
        commands,
        "merge",
        "merge the JSON reports of CI shards",
        "Merge the JSON reports of CI shards into one report. A test id in two shards is an error "
        "unless --on-conflict says which to keep.",
        _merge,
    )
    merge_command.add_argument("shards", metavar="SHARD", nargs="+", help="a shard's JSON report")
    merge_command.add_argument("-o", "--output", metavar="ALL", required=True, help="the merged JSON report")
    merge_command.add_argument(
        "--on-conflict",
        choices=CONFLICT_CHOICES,
        help="keep the first or the last shard's record of a test id",
    )

    report = _command(
        commands,
        "report",
        "render a JSON report as Markdown, HTML or JSON",
        "Render a JSON report as Markdown (.md), HTML (.html) or JSON (.json); the format follows "
        "the suffix of -o.",
        _report,
    )
    report.add_argument("report", metavar="RUN", help="a JSON report")
    report.add_argument(
        "-o", "--output", metavar="FILE", required=True, help="FILE.md, FILE.html or FILE.json"
    )
    report.add_argument(
        "--baseline",
        metavar="BEFORE",
        help="the baseline report RUN was compared with: adds p95/p99 before values",
    )
    report.add_argument(
        "--limit",
        type=int,
        default=markdown.DEFAULT_LIMIT,
        help="most characters of Markdown (default: %(default)s)",
    )

    init = _command(
        commands,
        "init",
        "write a starting budget file from a JSON report",
        "Write a budget file (version 1) with a budget for every measured test of RUN: time (the median, "
        "with headroom, rounded up), memory where measured (with headroom), queries exact.",
        _init,
    )
    init.add_argument("report", metavar="RUN", help="a JSON report")
    init.add_argument("-o", "--output", metavar="FILE", required=True, help="the budget file to write")
    init.add_argument(
        "--headroom",
        type=percent_argument,
        default=init_budgets.DEFAULT_HEADROOM,
        metavar="PERCENT",
        help="added to time and memory (default: 50%%)",
    )
    init.add_argument("--force", action="store_true", help="replace FILE if it exists")
    return main_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (argparse's own exits included)."""
    try:
        arguments = parser().parse_args(argv)
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else EXIT_ARGUMENTS
    try:
        with gc_paused():  # a command reads and writes whole reports, and makes no garbage cycles
            result: int = arguments.run(arguments)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    return result


if __name__ == "__main__":
    sys.exit(main())
