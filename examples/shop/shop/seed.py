"""Deterministic sample data: 20 customers, 30 products, 60 orders of 1 to 4 lines."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from .models import Customer, Order, OrderLine, Product

COUNTRIES = ("DE", "FR", "NL", "SE", "US")


def seed(session: Session, *, customers: int = 20, products: int = 30, orders: int = 60) -> None:
    rng = random.Random(7)
    people = [
        Customer(name=f"Customer {i}", email=f"customer{i}@example.com", country=COUNTRIES[i % 5])
        for i in range(1, customers + 1)
    ]
    catalog = [
        Product(
            sku=f"SKU-{i:04d}",
            name=f"Product {i}",
            price=Decimal(rng.randrange(199, 9999)) / 100,
            stock=1_000_000,
        )
        for i in range(1, products + 1)
    ]
    session.add_all(people + catalog)
    start = datetime(2024, 1, 1, 9, 0)
    for i in range(orders):
        order = Order(customer=people[i % customers], placed_at=start + timedelta(hours=7 * i))
        for product in rng.sample(catalog, rng.randint(1, 4)):
            order.lines.append(
                OrderLine(product=product, quantity=rng.randint(1, 5), unit_price=product.price)
            )
        session.add(order)
    session.commit()
