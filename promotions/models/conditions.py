"""A promotion's conditions: rows ANDed within an ``or_group``, the groups ORed."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from loyalty.money import MAX_DIGITS
from promotions.models.parts import ProductSet
from promotions.models.promotion import Promotion, Trigger


class Condition(models.Model):
    """One condition of a promotion. Rows with the same ``or_group`` must all hold; the
    promotion applies when any of its groups holds (no rows: always)."""

    class Kind(models.TextChoices):
        RECEIPT_TOTAL = "receipt_total", _("receipt: amount to pay")
        LINE_COUNT = "line_count", _("receipt: number of lines")
        CONTAINS = "contains", _("receipt contains products of a set")
        LINE = "line", _("a line of the set: quantity or amount")
        CUSTOMER_TIER = "customer_tier", _("customer: tier")
        COUNTER_VALUE = "counter_value", _("customer: counter value")
        NTH_PURCHASE = "nth_purchase", _("customer: every Nth step of a counter")
        PROMOTION_DONE = "promotion_done", _("customer: has completed a promotion (a chain)")

    class Operator(models.TextChoices):
        GTE = "gte", _("at least")
        LT = "lt", _("less than")

    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), on_delete=models.CASCADE, related_name="conditions"
    )
    or_group = models.PositiveSmallIntegerField(
        _("group"),
        default=1,
        help_text=_("Conditions of one group must all hold; any group holding is enough."),
    )
    kind = models.CharField(_("condition"), max_length=32, choices=Kind.choices)
    operator = models.CharField(
        _("operator"), max_length=8, choices=Operator.choices, default=Operator.GTE
    )
    amount = models.DecimalField(
        _("amount"), max_digits=MAX_DIGITS, decimal_places=2, null=True, blank=True
    )
    quantity = models.DecimalField(
        _("quantity or count"), max_digits=15, decimal_places=3, null=True, blank=True
    )
    product_set = models.ForeignKey(
        ProductSet,
        verbose_name=_("product set"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="conditions",
    )
    tiers = models.ManyToManyField(
        "loyalty.Tier", verbose_name=_("tiers"), blank=True, related_name="+"
    )
    counter = models.ForeignKey(
        "loyalty.Counter",
        verbose_name=_("counter"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    done_promotion = models.ForeignKey(
        Promotion,
        verbose_name=_("completed promotion"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "For a chain: the step before. “At least”: the customer has been rewarded by it; "
            "“less than”: not yet."
        ),
    )

    class Meta:
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")
        ordering = ["or_group", "pk"]

    def __str__(self) -> str:
        return self.get_kind_display()

    def _chain_errors(self) -> dict:
        """A chain step names the step before: a promotion of the same programme that counts
        per customer what it gave (a receipt promotion needs “receipts per customer”)."""
        step = self.done_promotion
        if step is None:
            return {"done_promotion": _("Choose the promotion the customer must have completed.")}
        if self.promotion_id is not None and step.pk == self.promotion_id:
            return {"done_promotion": _("A promotion cannot wait for itself.")}
        if self.promotion_id is not None:
            programme = (
                Promotion.objects.filter(pk=self.promotion_id)
                .values_list("programme_id", flat=True)
                .first()
            )
            if programme is not None and step.programme_id != programme:
                return {"done_promotion": _("The promotion must be of the same programme.")}
        if step.trigger == Trigger.RECEIPT and step.uses_per_customer is None:
            return {
                "done_promotion": _(
                    "A purchase promotion used as a chain step must limit its receipts per customer "
                    "(1 for a step done once), so that it counts who completed it."
                )
            }
        return {}

    def clean(self) -> None:
        errors = {}
        if self.kind in (self.Kind.RECEIPT_TOTAL,) and self.amount is None:
            errors["amount"] = _("Give the amount the receipt is compared with.")
        if self.kind == self.Kind.LINE_COUNT and self.quantity is None:
            errors["quantity"] = _("Give the number of lines the receipt is compared with.")
        if self.kind in (self.Kind.CONTAINS, self.Kind.LINE) and self.product_set_id is None:
            errors["product_set"] = _("Choose the products the receipt must contain.")
        if self.kind == self.Kind.LINE and self.amount is None and self.quantity is None:
            errors["quantity"] = _("Give the quantity (or the amount) one line must reach.")
        if self.kind in (self.Kind.COUNTER_VALUE, self.Kind.NTH_PURCHASE):
            if self.counter_id is None:
                errors["counter"] = _("Choose the counter.")
            if self.quantity is None or self.quantity <= 0:
                errors["quantity"] = _("Give the counter value (N for “every Nth”), above 0.")
        elif self.kind == self.Kind.PROMOTION_DONE:
            errors.update(self._chain_errors())
        elif self.product_set_id and self.promotion_id:
            programme = (
                Promotion.objects.filter(pk=self.promotion_id)
                .values_list("programme_id", flat=True)
                .first()
            )
            if programme is not None and self.product_set.programme_id != programme:
                errors["product_set"] = _("The product set must be of the promotion's programme.")
        if errors:
            raise ValidationError(errors)
