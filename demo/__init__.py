"""The demo coalition: a city's partners, stores, catalogue, customers and purchase history
(``demo.loader.load_demo``), loaded by ``manage.py demo``.

An outer app, like ``reports``: it reads and fills every core app (loyalty, crm, promotions),
and no core app imports it. It has no models; it is an app only for its management command.
"""
