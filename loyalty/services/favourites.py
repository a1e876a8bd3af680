"""Each customer's favourite products, recomputed every night (mechanics.md, item 20).

A programme keeps, per customer, the top ``Programme.favourites_count`` (N) products by money
paid over its last ``favourites_window_days`` days; a reward marked "only the customer's
favourite products" (``Reward.favourites_only``) then rewards only those lines.

What counts: the lines of the customer's receipts in the programme (a receipt belongs to the
programme of its points currency, as for the tier review) sold in the window that still stand,
confirmed or partially refunded; a cancelled or fully refunded receipt counts nothing. A line
counts what was paid for it in money (``to_pay``: after discounts and points), less the money
its refunds gave back. Lines of SKUs the catalogue does not know, and gift cards, are no
favourites; neither is a product whose net spend is 0. Ties go to the smaller product id, so
the ranking is the same on every run.

Each programme's rows are replaced as a whole in one transaction: a ``DELETE`` and one
``INSERT ... SELECT`` that sums, ranks (``ROW_NUMBER() OVER (PARTITION BY customer ...)``) and
keeps the top N inside the database, on SQLite and PostgreSQL alike. A customer whose
favourites changed gets the new ones, one who bought nothing in the window has none left, and
running the job twice gives the same rows. Purchases read the old rows until the commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from loyalty.models import Programme, Receipt

# Receipts that still stand as purchases; a cancelled or fully refunded one does not.
STANDING = (Receipt.Status.CONFIRMED, Receipt.Status.PARTIALLY_REFUNDED)

# Lines are summed per customer and product, then ranked per customer by that sum (rounded to
# the kopeck first, so that SQLite's binary sums tie where the amounts do). A line's refunds
# are looked up only when it has any (refunded_quantity > 0): most lines have none.
RANK_SQL = """
INSERT INTO loyalty_favouriteproduct
    (customer_id, programme_id, product_id, rank, spend, computed_at)
SELECT ranked.customer_id, %s, ranked.product_id, ranked.place, ranked.spend, %s
FROM (
    SELECT paid.customer_id, paid.product_id, paid.spend,
           ROW_NUMBER() OVER (
               PARTITION BY paid.customer_id ORDER BY paid.spend DESC, paid.product_id
           ) AS place
    FROM (
        SELECT r.customer_id, l.product_id,
               ROUND(SUM(l.to_pay - CASE WHEN l.refunded_quantity > 0 THEN (
                   SELECT COALESCE(SUM(rl.to_pay), 0) FROM loyalty_refundline rl
                   WHERE rl.line_id = l.id
               ) ELSE 0 END), 2) AS spend
        FROM loyalty_receipt r
        JOIN loyalty_currency c ON c.id = r.currency_id
        JOIN loyalty_receiptline l ON l.receipt_id = r.id
        WHERE c.programme_id = %s
          AND r.customer_id IS NOT NULL
          AND r.status IN (%s, %s)
          AND r.sold_at > %s AND r.sold_at <= %s
          AND l.product_id IS NOT NULL
        GROUP BY r.customer_id, l.product_id
    ) paid
    JOIN loyalty_product p ON p.id = paid.product_id
    WHERE paid.spend > 0 AND NOT p.is_gift_card
) ranked
WHERE ranked.place <= %s
"""


def favourites_recompute(now: datetime | None = None) -> dict[str, int]:
    """Replace every programme's favourite products with those of the window ending at
    ``now``; return how many programmes were ranked and how many rows were removed and
    written. An inactive programme, or one with N = 0, is left with none.

    Each programme's rows change in one transaction that first locks the programme's row
    (``FOR NO KEY UPDATE``: purchases, which only key-share it, never wait), so two runs at
    once take turns instead of inserting the same rows twice. Safe to run twice.
    """
    now = now or timezone.now()
    totals = {"programmes": 0, "removed": 0, "written": 0}
    for programme_id in Programme.objects.order_by("pk").values_list("pk", flat=True):
        removed, written = _programme_recompute(programme_id, now)
        totals["programmes"] += 1
        totals["removed"] += removed
        totals["written"] += written
    return totals


def _programme_recompute(programme_id: int, now: datetime) -> tuple[int, int]:
    with transaction.atomic():
        programme = (
            Programme.objects.select_for_update(no_key=True)
            .filter(pk=programme_id)
            .only("is_active", "favourites_count", "favourites_window_days")
            .first()
        )
        if programme is None:  # deleted meanwhile; its rows went with it
            return 0, 0
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM loyalty_favouriteproduct WHERE programme_id = %s", [programme_id]
            )
            removed = max(cursor.rowcount, 0)
            if not programme.is_active or programme.favourites_count == 0:
                return removed, 0
            since = now - timedelta(days=programme.favourites_window_days)
            moment = connection.ops.adapt_datetimefield_value
            cursor.execute(
                RANK_SQL,
                [
                    programme_id,
                    moment(now),
                    programme_id,
                    *(status.value for status in STANDING),
                    moment(since),
                    moment(now),
                    programme.favourites_count,
                ],
            )
            return removed, max(cursor.rowcount, 0)
