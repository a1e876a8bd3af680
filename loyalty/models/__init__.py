from audit.models import AuditEvent
from loyalty.models.accounts import Account, Currency
from loyalty.models.cards import (
    Card,
    CardBatch,
    CardImport,
    CardImportError,
    CardOperation,
    CardType,
)
from loyalty.models.catalogue import Brand, Category, Product, ProductList
from loyalty.models.certificates import (
    CertificateEntry,
    CertificateHold,
    CertificateSeries,
    GiftCertificate,
)
from loyalty.models.events import CustomerEvent, EventType
from loyalty.models.favourites import FavouriteProduct
from loyalty.models.imports import (
    DataImport,
    DataImportError,
    ImportJob,
    ImportRowError,
    SegmentImport,
    SegmentImportError,
)
from loyalty.models.ledger import ImmutableRowError, LedgerEntry, Lot, Posting
from loyalty.models.partners import (
    Partner,
    Programme,
    StaffProfile,
    Store,
    Terminal,
    TerminalAPIKey,
    staff_partner_id,
)
from loyalty.models.receipt_effects import (
    Hold,
    ReceiptCounterEffect,
    ReceiptExchange,
    ReceiptLineReward,
    ReceiptTierAward,
    Refund,
    RefundLine,
)
from loyalty.models.receipts import Receipt, ReceiptLine
from loyalty.models.rfm import (
    RfmCell,
    RfmCellChange,
    RfmRun,
    RfmRunMove,
    RfmRunStat,
    RfmScheme,
    RfmScore,
)
from loyalty.models.thanks import PeerThanks
from loyalty.models.tiers import Counter, CounterValue, Tier, TierChange, TierMembership

__all__ = [
    "staff_partner_id",
    "Account",
    "AuditEvent",
    "Brand",
    "Card",
    "CardBatch",
    "CardImport",
    "CardImportError",
    "CardOperation",
    "CardType",
    "Category",
    "CertificateEntry",
    "CertificateHold",
    "CertificateSeries",
    "GiftCertificate",
    "Counter",
    "CounterValue",
    "Currency",
    "CustomerEvent",
    "DataImport",
    "DataImportError",
    "SegmentImport",
    "SegmentImportError",
    "EventType",
    "FavouriteProduct",
    "Hold",
    "Lot",
    "ReceiptCounterEffect",
    "ReceiptExchange",
    "ReceiptLineReward",
    "ReceiptTierAward",
    "Refund",
    "RefundLine",
    "ImmutableRowError",
    "ImportJob",
    "ImportRowError",
    "LedgerEntry",
    "Partner",
    "PeerThanks",
    "Posting",
    "Product",
    "ProductList",
    "Programme",
    "Receipt",
    "RfmCell",
    "RfmCellChange",
    "RfmRun",
    "RfmRunMove",
    "RfmRunStat",
    "RfmScheme",
    "RfmScore",
    "StaffProfile",
    "ReceiptLine",
    "Store",
    "Terminal",
    "TerminalAPIKey",
    "Tier",
    "TierChange",
    "TierMembership",
]
