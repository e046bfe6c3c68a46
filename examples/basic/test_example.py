"""A first suite under performance budgets.

Run from the repository root:

    pytest examples/basic --perf-budget examples/basic/budgets.yml --perf-report perf-report.json

The budgets live in ``budgets.yml`` beside this file, except the one written on
``test_build_index`` with the marker. Every test here takes a few milliseconds;
the budgets are generous on purpose so that the example passes on a slow machine.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import zlib

import pytest

LINES = [json.dumps({"id": i, "name": f"item-{i}", "price": i * 0.25}) for i in range(500)]


def test_sort_numbers() -> None:
    numbers = random.Random(42).sample(range(100_000), 2_000)
    ordered = sorted(numbers)
    assert ordered[0] == min(numbers)
    assert all(a < b for a, b in itertools.pairwise(ordered))


def test_base64_roundtrip() -> None:
    payload = bytes(range(256)) * 200
    encoded = base64.b64encode(payload)
    assert base64.b64decode(encoded) == payload


def test_parse_lines(perf) -> None:
    """A budget on part of a test, and a throughput counted with ``perf.ops``."""
    with perf.block("parse", time="50ms"):
        records = [json.loads(line) for line in LINES]
    perf.ops(len(records))  # records parsed: throughput is ops per second of the call
    assert sum(record["id"] for record in records) == sum(range(500))


@pytest.mark.perf_budget(time="500ms", memory="20MB")
def test_build_index() -> None:
    index = {f"item-{i}": i for i in range(10_000)}
    assert len(index) == 10_000
    assert index["item-9999"] == 9999


@pytest.mark.parametrize("size", [100, 1_000, 10_000])
def test_checksum(size: int) -> None:
    data = b"perfbudget" * size
    assert zlib.crc32(data) == zlib.crc32(bytes(data))
    assert len(zlib.compress(data)) < len(data)
