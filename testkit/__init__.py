"""Fixtures shared by the tests and the benchmarks; not part of the product.

The demo city's populated store and lake (:mod:`testkit.dashboard_demo`), a served
dashboard with a headless browser (:mod:`testkit.dashboard_server`) and an MQTT broker,
webhook and mail server for the streaming tests (:mod:`testkit.stream_helpers`).
``tests/`` and ``bench/`` import from here; the product (the wheel: ``riskwarn``,
``features``, ``models``, ``dashboard``) and ``scripts/`` never do, and nothing here
imports ``tests/`` (``tests/test_import_graph.py`` holds all three rules).
"""
