"""The service layer: what the handlers of a web app call, one function per endpoint.

``list_orders`` and ``list_orders_async`` here have an N+1: they load the orders
with one query, then touch ``order.customer``, ``order.lines`` and
``line.product`` in a loop, and every one of those is a lazy load, one more
query per order. ``budgets.yml`` allows them 2 queries and no N+1, so the tests
fail with the loop's lines named. ``services_fixed.py`` is the fix.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, joinedload, selectinload

from .models import Customer, Order, OrderLine, Product

VAT = {"DE": Decimal("0.19"), "FR": Decimal("0.20"), "NL": Decimal("0.21"), "SE": Decimal("0.25")}
CENT = Decimal("0.01")


class OutOfStock(Exception):
    """An order asks for more of a product than is in stock."""


@dataclass(frozen=True)
class LineView:
    sku: str
    product: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class OrderView:
    id: int
    placed_at: datetime
    customer: str
    status: str
    lines: list[LineView]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


@dataclass(frozen=True)
class CustomerSummary:
    customer_id: int
    orders: int
    spent: Decimal
    last_order: datetime | None


def _orders_query(customer_id: int | None, limit: int) -> Select:
    query = select(Order).order_by(Order.placed_at.desc(), Order.id.desc()).limit(limit)
    if customer_id is not None:
        query = query.where(Order.customer_id == customer_id)
    return query


# --- GET /orders --------------------------------------------------------------------


def list_orders(session: Session, *, customer_id: int | None = None, limit: int = 50) -> list[OrderView]:
    """The latest orders with their customer and lines."""
    views = []
    for order in session.scalars(_orders_query(customer_id, limit)):
        lines = []
        for line in order.lines:  # N+1: a lazy load of each order's lines
            product = line.product  # N+1: a lazy load of each product not loaded yet
            lines.append(LineView(product.sku, product.name, line.quantity, line.unit_price))
        customer = order.customer.name  # N+1: a lazy load of each customer not loaded yet
        views.append(OrderView(order.id, order.placed_at, customer, order.status, lines))
    return views


async def list_orders_async(
    session: AsyncSession, *, customer_id: int | None = None, limit: int = 50
) -> list[OrderView]:
    """``list_orders`` under asyncio, where a lazy load must be awaited: the same N+1."""
    views = []
    for order in await session.scalars(_orders_query(customer_id, limit)):
        lines = []
        for line in await order.awaitable_attrs.lines:  # N+1: awaited lazy load of each order's lines
            product = await line.awaitable_attrs.product  # N+1: each product not loaded yet
            lines.append(LineView(product.sku, product.name, line.quantity, line.unit_price))
        customer = await order.awaitable_attrs.customer  # N+1: each customer not loaded yet
        views.append(OrderView(order.id, order.placed_at, customer.name, order.status, lines))
    return views


# --- GET /orders/{id} ---------------------------------------------------------------


def get_order(session: Session, order_id: int) -> OrderView | None:
    """One order, loaded with its lines and products in two queries."""
    order = session.scalars(
        select(Order)
        .where(Order.id == order_id)
        .options(selectinload(Order.lines).selectinload(OrderLine.product), joinedload(Order.customer))
    ).one_or_none()
    if order is None:
        return None
    lines = [LineView(ln.product.sku, ln.product.name, ln.quantity, ln.unit_price) for ln in order.lines]
    return OrderView(order.id, order.placed_at, order.customer.name, order.status, lines)


# --- POST /orders -------------------------------------------------------------------


def place_order(
    session: Session, customer_id: int, items: Mapping[str, int], *, now: datetime | None = None
) -> Order:
    """Check stock, write the order and its lines, take the stock: one transaction."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise LookupError(f"no customer {customer_id}")
    products = {
        product.sku: product
        for product in session.scalars(select(Product).where(Product.sku.in_(list(items))).with_for_update())
    }
    missing = sorted(set(items) - set(products))
    if missing:
        raise LookupError(f"unknown products: {', '.join(missing)}")
    order = Order(customer=customer, placed_at=now or datetime.now())
    for sku, quantity in items.items():
        product = products[sku]
        if product.stock < quantity:
            raise OutOfStock(f"{sku}: {product.stock} in stock, {quantity} ordered")
        product.stock -= quantity
        order.lines.append(OrderLine(product=product, quantity=quantity, unit_price=product.price))
    session.add(order)
    session.commit()
    return order


# --- GET /customers/{id}/summary, GET /reports/top-products -------------------------


def customer_summary(session: Session, customer_id: int) -> CustomerSummary:
    """Orders, money spent and the last order of a customer, in one aggregate query."""
    spent = func.coalesce(func.sum(OrderLine.quantity * OrderLine.unit_price), 0)
    row = session.execute(
        select(func.count(func.distinct(Order.id)), spent, func.max(Order.placed_at))
        .select_from(Order)
        .join(OrderLine, OrderLine.order_id == Order.id, isouter=True)
        .where(Order.customer_id == customer_id)
    ).one()
    return CustomerSummary(customer_id, row[0], Decimal(row[1]).quantize(CENT), row[2])


def top_products(session: Session, limit: int = 5) -> list[tuple[str, int]]:
    """The best-selling products by quantity: one GROUP BY."""
    sold = func.sum(OrderLine.quantity).label("sold")
    rows = session.execute(
        select(Product.sku, sold)
        .join(OrderLine, OrderLine.product_id == Product.id)
        .group_by(Product.sku)
        .order_by(sold.desc(), Product.sku)
        .limit(limit)
    )
    return [(sku, int(quantity)) for sku, quantity in rows]


# --- GET /reports/orders.csv ---------------------------------------------------------


def export_orders_csv(session: Session) -> str:
    """Every order line as CSV, from one joined query streamed in chunks."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["order", "placed_at", "customer", "sku", "quantity", "unit_price"])
    rows = session.execute(
        select(
            Order.id, Order.placed_at, Customer.email, Product.sku, OrderLine.quantity, OrderLine.unit_price
        )
        .join(Order.customer)
        .join(Order.lines)
        .join(OrderLine.product)
        .order_by(Order.id, OrderLine.id)
        .execution_options(yield_per=500)
    )
    for row in rows:
        writer.writerow([row[0], row[1].isoformat(), row[2], row[3], row[4], row[5]])
    return out.getvalue()


# --- pricing, no database -----------------------------------------------------------


def quote(lines: Sequence[tuple[Decimal, int]], country: str) -> Decimal:
    """The gross price of a cart: 5% off from 10 items, VAT by country, rounded to cents."""
    net = sum((price * quantity for price, quantity in lines), Decimal(0))
    if sum(quantity for _, quantity in lines) >= 10:
        net *= Decimal("0.95")
    return (net * (1 + VAT.get(country, Decimal(0)))).quantize(CENT, rounding=ROUND_HALF_UP)
