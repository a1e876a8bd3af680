"""Receipts sold while the register was offline, uploaded later: each confirmed once and on
its own, with the rules in force at its time of sale."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.errors import (
    LoyaltyError,
)
from loyalty.models import (
    Terminal,
)
from processing.confirm import purchase_confirm
from processing.outcome import PurchaseOutcome
from processing.sale import PurchaseRequest


@dataclass(frozen=True)
class OfflineItem:
    """One uploaded receipt: its outcome, or the error that stopped it."""

    receipt_id: str | None
    outcome: PurchaseOutcome | None = None
    error: LoyaltyError | None = None


def purchases_offline(
    terminal: Terminal, requests: list[PurchaseRequest | LoyaltyError]
) -> list[OfflineItem]:
    """Confirm receipts sold while the register was offline, each once and on its own.

    An item that fails answers its error and does not stop the others. Items arrive in sale
    order; the rules in force at each time of sale apply; the balance never rejects a sale.
    """
    results = []
    for item in requests:
        if isinstance(item, LoyaltyError):
            results.append(OfflineItem(getattr(item, "receipt_id", None), error=item))
            continue
        try:
            outcome = purchase_confirm(terminal, item, offline=True)
        except LoyaltyError as exc:
            results.append(OfflineItem(item.receipt_id, error=exc))
        else:
            results.append(OfflineItem(item.receipt_id, outcome=outcome))
    return results
