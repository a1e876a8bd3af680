"""Domain events of the processing core, for the outer apps to subscribe to (architecture.md).

Each is sent once the transaction that caused it has committed.
"""

from __future__ import annotations

from django.dispatch import Signal

# A customer registered at a terminal (POS API ``POST /customers``).
# Arguments: ``customer``, ``card``, ``terminal``, ``referrer`` (a Customer or None).
# Welcome and referral rewards hang on this event.
customer_registered = Signal()

# A customer's tier moved: up or down by a purchase or a refund, down by the nightly review.
# Arguments: ``change`` (a loyalty.TierChange, saved). Messages about a new status hang on it.
tier_changed = Signal()

# Two customers are being merged (``loyalty.services.card_operations.customers_merge``).
# Arguments: ``keep``, ``gone`` (Customers). Unlike the events above it is sent inside the
# merge's transaction, after the points moved: receivers move their own rows of ``gone`` to
# ``keep`` there, so they commit or roll back with the merge.
customers_merging = Signal()

# Stores, terminals or partners changed in bulk (an import writes them past ``save()``, so no
# ``post_save`` is sent). No arguments. Whoever caches what a terminal may do forgets it.
terminals_changed = Signal()
