"""Receipts sold while the register was offline, uploaded later: each confirmed once and on
its own, with the rules in force at its time of sale."""

from __future__ import annotations

from loyalty.errors import (
    LoyaltyError,
)
from loyalty.models import (
    Terminal,
)
from processing.confirm import purchase_confirm
from processing.sale import PurchaseRequest


def purchases_offline(
    terminal: Terminal, requests: list[PurchaseRequest | LoyaltyError]
) -> list[dict]:
    """Confirm receipts sold while the register was offline, each once and on its own.

    An item that fails answers its error and does not stop the others. Items arrive in sale
    order; the rules in force at each time of sale apply; the balance never rejects a sale.
    """
    results = []
    for item in requests:
        if isinstance(item, LoyaltyError):
            results.append(_item_error(getattr(item, "receipt_id", None), item))
            continue
        try:
            result = purchase_confirm(terminal, item, offline=True)
        except LoyaltyError as exc:
            results.append(_item_error(item.receipt_id, exc))
        else:
            results.append({"receipt_id": item.receipt_id, "status": "ok", "result": result})
    return results


def _item_error(receipt_id, exc: LoyaltyError) -> dict:
    return {
        "receipt_id": receipt_id,
        "status": "error",
        "error": {
            "code": exc.code,
            "status": exc.status,
            "detail": str(exc.detail),
            **({"errors": exc.details["errors"]} if "errors" in exc.details else {}),
        },
    }
