"""The ledger's database guards, shared by the migrations that must (re)create them."""

import importlib

_source = importlib.import_module("loyalty.migrations.0002_ledger_guards")
SQLITE_FORWARD = _source.SQLITE_FORWARD
SQLITE_BACKWARD = _source.SQLITE_BACKWARD
run = _source.run
