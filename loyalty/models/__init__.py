from loyalty.models.accounts import Account, Currency
from loyalty.models.cards import Card, CardBatch, CardType
from loyalty.models.catalogue import Brand, Category, Product, ProductList
from loyalty.models.ledger import ImmutableRowError, LedgerEntry, Posting
from loyalty.models.partners import (
    Partner,
    Programme,
    StaffProfile,
    Store,
    Terminal,
    TerminalAPIKey,
    staff_partner_id,
)
from loyalty.models.processing import (
    Hold,
    Lot,
    ReceiptCounterEffect,
    ReceiptExchange,
    ReceiptLineReward,
    ReceiptTierAward,
    Refund,
    RefundLine,
)
from loyalty.models.receipts import Receipt, ReceiptLine
from loyalty.models.tiers import Counter, CounterValue, Tier, TierChange, TierMembership

__all__ = [
    "staff_partner_id",
    "Account",
    "Brand",
    "Card",
    "CardBatch",
    "CardType",
    "Category",
    "Counter",
    "CounterValue",
    "Currency",
    "Hold",
    "Lot",
    "ReceiptCounterEffect",
    "ReceiptExchange",
    "ReceiptLineReward",
    "ReceiptTierAward",
    "Refund",
    "RefundLine",
    "ImmutableRowError",
    "LedgerEntry",
    "Partner",
    "Posting",
    "Product",
    "ProductList",
    "Programme",
    "Receipt",
    "StaffProfile",
    "ReceiptLine",
    "Store",
    "Terminal",
    "TerminalAPIKey",
    "Tier",
    "TierChange",
    "TierMembership",
]
