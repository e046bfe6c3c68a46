"""GET /orders and GET /orders/{id}: the endpoint whose N+1 the budgets catch."""

from __future__ import annotations


def test_list_orders(services, new_session):
    with new_session() as session:
        orders = services.list_orders(session)
    assert len(orders) == 50
    assert [order.placed_at for order in orders] == sorted(
        (order.placed_at for order in orders), reverse=True
    )
    assert all(order.lines and order.total > 0 for order in orders)


def test_list_orders_for_customer(services, new_session, customer_id):
    with new_session() as session:
        orders = services.list_orders(session, customer_id=customer_id)
    assert len(orders) == 3
    assert {order.customer for order in orders} == {"Customer 1"}


def test_get_order(services, new_session, order_id):
    with new_session() as session:
        order = services.get_order(session, order_id)
    assert order is not None
    assert order.id == order_id
    assert order.total == sum(line.unit_price * line.quantity for line in order.lines)


def test_get_missing_order(services, new_session):
    with new_session() as session:
        assert services.get_order(session, 10**9) is None
