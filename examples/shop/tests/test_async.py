"""The same endpoint under asyncio (AsyncSession; aiosqlite on SQLite, psycopg on PostgreSQL)."""

from __future__ import annotations


def test_list_orders_async(services, new_async_session, run):
    async def request():
        async with new_async_session() as session:
            return await services.list_orders_async(session)

    orders = run(request())
    assert len(orders) == 50
    assert all(order.lines for order in orders)


def test_list_orders_async_for_customer(services, new_async_session, run, customer_id):
    async def request():
        async with new_async_session() as session:
            return await services.list_orders_async(session, customer_id=customer_id)

    orders = run(request())
    assert [order.customer for order in orders] == ["Customer 1"] * 3
