"""The back office for the coalition: partners, stores, terminals, cards, certificates,
catalogue, the ledger and staff, one module a subject."""

from loyalty.admin import (
    cards,  # noqa: F401
    catalogue,  # noqa: F401
    certificates,  # noqa: F401
    customers,  # noqa: F401
    duplicates,  # noqa: F401
    imports,  # noqa: F401
    ledger,  # noqa: F401
    mixins,  # noqa: F401
    partners,  # noqa: F401
    programmes,  # noqa: F401
    rfm,  # noqa: F401
    segments,  # noqa: F401
    staff,  # noqa: F401
)
from loyalty.admin.mixins import ReadOnlyAdminMixin

__all__ = ["ReadOnlyAdminMixin"]
