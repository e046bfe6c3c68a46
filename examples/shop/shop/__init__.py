"""A small shop on SQLAlchemy 2.x: customers, products, orders and their lines.

The example of pytest-perfbudget: ``services.list_orders`` has an N+1 (lazy
loads in a loop) that the budgets in ``budgets.yml`` catch, and
``services_fixed.list_orders`` is its fix.
"""
