"""The promotion engine: a pure function from (rules snapshot, receipt context) to a result.

``evaluate`` makes no database query; ``snapshot_get`` returns the compiled rules of this
process. The POS processing services call both; so do the simulator and the back-test.
"""

from promotions.engine.evaluate import evaluate, period_start
from promotions.engine.snapshot import snapshot_get, snapshot_invalidate
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
    "snapshot_get",
    "snapshot_invalidate",
]
