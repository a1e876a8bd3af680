"""The promotion engine: a pure function from (rules snapshot, receipt context) to a result.

``evaluate`` makes no database query, and nothing in this package imports Django (an
import-linter contract and tests/promotions/test_engine_purity.py hold it): the rules come in
as a ``RulesSnapshot``, which ``promotions.rules`` compiles from the database. The registers'
pipeline (``processing``), the simulator and the back-test call it.
"""

from promotions.engine.evaluate import evaluate, period_start
from promotions.engine.types import (
    SPEND_MAX,
    CustomerFacts,
    EngineResult,
    LineInput,
    ReceiptContext,
    RulesSnapshot,
)

__all__ = [
    "SPEND_MAX",
    "CustomerFacts",
    "EngineResult",
    "LineInput",
    "ReceiptContext",
    "RulesSnapshot",
    "evaluate",
    "period_start",
]
