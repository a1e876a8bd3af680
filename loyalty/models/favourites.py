"""Each customer's favourite products in a programme (mechanics.md, item 20)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loyalty.money import DECIMAL_PLACES, MAX_DIGITS


class FavouriteProduct(models.Model):
    """One of a customer's top products by money paid in a programme, ranked from 1.

    Written only by the nightly ``favourites_recompute`` (loyalty.services.favourites), which
    replaces a programme's rows as a whole; a reward marked "only the customer's favourite
    products" reads them. Per programme, because the number of favourites and the window they
    are counted over are the programme's settings, and a customer may hold cards of several
    programmes."""

    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="favourite_products",
    )
    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    product = models.ForeignKey(
        "loyalty.Product",
        verbose_name=_("product"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    rank = models.PositiveSmallIntegerField(_("rank"), help_text=_("1 is the top product."))
    spend = models.DecimalField(
        _("paid for it, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        default=Decimal("0.00"),
        help_text=_("Paid in money over the programme's window, less what was refunded."),
    )
    computed_at = models.DateTimeField(_("computed"))

    class Meta:
        verbose_name = _("favourite product")
        verbose_name_plural = _("favourite products")
        ordering = ["customer_id", "programme_id", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "programme", "product"], name="favourite_product_unique"
            ),
            models.UniqueConstraint(
                fields=["customer", "programme", "rank"], name="favourite_rank_unique"
            ),
            models.CheckConstraint(condition=Q(rank__gte=1), name="favourite_rank_positive"),
            models.CheckConstraint(condition=Q(spend__gt=0), name="favourite_spend_positive"),
        ]
        indexes = [models.Index(fields=["programme"], name="favourite_programme_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id}: #{self.rank} {self.product_id}"
