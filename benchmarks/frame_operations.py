"""What the operations a recorded SQL statement is made of cost in CPython, one by one.

A diagnosis of the floor under the recorder's cost (``sql_user_cost.py`` gives what a statement
costs in a pytest run, ``sql_cost_parts.py`` its parts): each operation runs in a function called
from another, as the recorder runs inside a call into SQLAlchemy, so that the caller's frame has
no frame object yet, as the entry of a new call into SQLAlchemy has none. Each variant runs
``N`` times and not at all, under callgrind; the figure is the difference per call, minus that of
the bare call and of ``sys._getframe(1)`` where the operation needs the frame.

Usage: ``python benchmarks/frame_operations.py [--calls 100000]``. Figures only: nothing here
asserts a limit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from overhead import instructions_of

SCRIPT = """
import itertools
import os
import sys
from time import perf_counter
from types import MethodType

_getframe = sys._getframe
_gettrace = sys.gettrace


def traces_nothing(number, frame, event, arg):
    return None


marker_for = traces_nothing.__get__
next_number = itertools.count(1).__next__
numbers = itertools.count(1)
MARKER = marker_for(1)


def nothing():
    pass


def getframe():
    _getframe(1)


def getframe_made():  # run()'s frame: its frame object made at the first call, then kept
    _getframe(2)


def read_f_trace():
    frame = _getframe(1)
    frame.f_trace


def set_f_trace():
    frame = _getframe(1)
    frame.f_trace = MARKER


def read_f_lasti():
    frame = _getframe(1)
    frame.f_lasti


def gettrace():
    _gettrace()


def count_next_method():
    next_number()


def count_next_builtin():
    next(numbers)


def bound_method():
    marker_for(5)


def method_type():
    MethodType(traces_nothing, 5)


def clock():
    perf_counter()


OPERATION = globals()[os.environ["FRAME_OPERATION"]]


def call_into_sqlalchemy():  # a new frame each time, as a new call's entry is
    OPERATION()


def run(calls):
    for _ in range(calls):
        call_into_sqlalchemy()


run(1000)  # the interpreter's specializations made before the count
run(int(os.environ["FRAME_CALLS"]))
"""

OPERATIONS = {
    "getframe": ("`sys._getframe(1)`, the frame object made and freed", "nothing"),
    "getframe_made": ("`sys._getframe(2)`, of a frame whose object is made already", "nothing"),
    "read_f_trace": ("reading `frame.f_trace`", "getframe"),
    "set_f_trace": ("setting `frame.f_trace`", "getframe"),
    "read_f_lasti": ("reading `frame.f_lasti`", "getframe"),
    "gettrace": ("`sys.gettrace()`", "nothing"),
    "count_next_method": ("a request's number, `itertools.count(1).__next__()`", "nothing"),
    "count_next_builtin": ("the same, `next(counter)`", "nothing"),
    "bound_method": ("a marker, `function.__get__(number)`", "nothing"),
    "method_type": ("the same, `types.MethodType(function, number)`", "nothing"),
    "clock": ("`time.perf_counter()`", "nothing"),
}


def instructions(operation: str, calls: int, directory: Path) -> int:
    env = os.environ | {"FRAME_OPERATION": operation, "FRAME_CALLS": str(calls), "PYTHONHASHSEED": "0"}
    return instructions_of([sys.executable, "operations.py"], directory, env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls per counted run (default 100000)")
    arguments = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: the instruction counts are the figure")
    calls = arguments.calls
    with tempfile.TemporaryDirectory() as directory_name:
        directory = Path(directory_name)
        (directory / "operations.py").write_text(SCRIPT, encoding="utf-8")
        per_call = {
            operation: (instructions(operation, calls, directory) - instructions(operation, 0, directory))
            / calls
            for operation in ["nothing", *OPERATIONS]
        }
    print(f"Python {sys.version.split()[0]}, {calls:,} calls per run\n")
    print("| operation | instructions |")
    print("|---|---:|")
    for operation, (label, reference) in OPERATIONS.items():
        print(f"| {label} | {per_call[operation] - per_call[reference]:,.0f} |")
    print(
        "\nInstructions per operation (callgrind, N calls minus none), over the bare call "
        "(and over `sys._getframe(1)` for what reads or sets the frame)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
