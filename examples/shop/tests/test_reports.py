"""Reports and pricing: a marker, a memory budget and a throughput budget."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest


@pytest.mark.perf_budget(queries=1, time="100ms")
def test_top_products(services, new_session):
    with new_session() as session:
        top = services.top_products(session, limit=5)
    assert len(top) == 5
    assert [sold for _, sold in top] == sorted((sold for _, sold in top), reverse=True)


def test_export_orders_csv(services, new_session):
    with new_session() as session:
        text = services.export_orders_csv(session)
    lines = text.splitlines()
    assert lines[0] == "order,placed_at,customer,sku,quantity,unit_price"
    assert len(lines) > 60


CARTS = [
    [(Decimal(random.Random(i).randrange(199, 9999)) / 100, 1 + i % 7) for _ in range(1 + i % 4)]
    for i in range(2_000)
]


def test_quote(perf, services):
    totals = [services.quote(cart, ("DE", "FR", "US")[i % 3]) for i, cart in enumerate(CARTS)]
    perf.ops(len(CARTS))  # carts priced: throughput is carts per second
    assert all(total > 0 for total in totals)
