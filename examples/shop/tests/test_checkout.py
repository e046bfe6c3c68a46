"""POST /orders: a write path, with budgets on blocks of the test."""

from __future__ import annotations

from datetime import datetime

import pytest


def test_place_order(perf, services, new_session, customer_id):
    with new_session() as session:
        with perf.block("place order", queries=6, n_plus_one=0):
            order = services.place_order(
                session, customer_id, {"SKU-0001": 2, "SKU-0002": 1}, now=datetime(2025, 1, 1)
            )
        with perf.block("read it back", queries=3):
            view = services.get_order(session, order.id)
    assert [(line.sku, line.quantity) for line in view.lines] == [("SKU-0001", 2), ("SKU-0002", 1)]
    assert perf.queries.count <= 9  # what this round has sent so far


def test_out_of_stock(services, new_session, customer_id):
    with new_session() as session, pytest.raises(services.OutOfStock):
        services.place_order(session, customer_id, {"SKU-0003": 10**9})


def test_customer_summary(services, new_session, customer_id):
    with new_session() as session:
        summary = services.customer_summary(session, customer_id)
    assert summary.orders == 3
    assert summary.spent > 0
