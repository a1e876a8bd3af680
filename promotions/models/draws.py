"""Prize draws among the customers who qualified in a period, and their winners
(``promotions.draws``)."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from loyalty.money import MAX_DIGITS, POINTS_DECIMAL_PLACES
from promotions.models.promotion import Promotion

SEED_PATTERN = r"^[0-9a-f]{32,128}$"


class Draw(models.Model):
    """A prize draw (mechanics.md item 19): among the customers who qualified in a period,
    N winners drawn at random, with a seed, so that anyone can re-run the draw and check it.

    **Who qualifies.** A *qualifying purchase* is a receipt of the draw's programme (its points
    currency is one of the programme's) with a customer, sold in ``[period_from, period_to)``,
    that still stands: not cancelled and not wholly refunded (a partly refunded receipt counts
    with its money paid less the money refunded); at the draw's partner and stores if they are
    set; and, with ``promotion`` set, rewarded by that promotion (its line rewards on the
    receipt, less what refunds took back, stay above zero). A customer qualifies with at least
    ``min_purchases`` such purchases that paid at least ``min_amount`` in money in all, who is
    a member of ``segment`` if one is set, and who is not anonymised. All rules hold together.
    Only receipts, refunds and cancellations recorded by the moment of the draw count.

    **Tickets.** One per qualifying customer, or one per qualifying purchase
    (``tickets_per``). Ticket ``(public_id, n)`` is the customer's ``n``-th, from 1. The ticket
    list is ordered by public id (compared as bytes), then number. Its digest is the SHA-256,
    in lowercase hex, of the UTF-8 text made of one line ``"<public_id>:<n>\\n"`` per ticket.

    **The algorithm "sha256-rank/1".** The seed is a lowercase hex string (32 random bytes from
    ``secrets``, unless one was fixed before the draw was scheduled; its commitment is then the
    SHA-256 hex of the seed's text and is published before the period ends). Each ticket's
    score is ``sha256("<seed>:<public_id>:<n>")`` in lowercase hex; tickets are sorted by score,
    then public id, then number, ascending; walking that list, the first ``winners_count``
    distinct customers win, in that order (a customer's later tickets are skipped). Fewer
    customers than winners: every one of them wins.

    The record (``seed``, ``ticket_list``, ``tickets_digest``, ``algorithm``, ``winner_list``)
    is written once, by ``promotions.draws.draw_run``, and never changed afterwards.
    """

    ALGORITHM = "sha256-rank/1"

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SCHEDULED = "scheduled", _("scheduled")
        DRAWN = "drawn", _("drawn")
        CANCELLED = "cancelled", _("cancelled")

    class TicketsPer(models.TextChoices):
        CUSTOMER = "customer", _("one ticket per customer")
        PURCHASE = "purchase", _("one ticket per qualifying purchase")

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="draws",
    )
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="draws",
        help_text=_(
            "The partner running the draw: only purchases at this partner count, and its "
            "account pays the points. Empty: purchases at every partner count and the "
            "programme's marketing account pays."
        ),
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    # Who qualifies
    period_from = models.DateTimeField(_("purchases from"))
    period_to = models.DateTimeField(
        _("purchases until"), help_text=_("Exclusive. The draw can run only after it.")
    )
    min_purchases = models.PositiveIntegerField(
        _("at least purchases"),
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("Qualifying purchases a customer needs in the period."),
    )
    min_amount = models.DecimalField(
        _("at least paid in money, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("In all the qualifying purchases, less refunds. Empty: any amount."),
    )
    stores = models.ManyToManyField(
        "loyalty.Store",
        verbose_name=_("only purchases at the stores"),
        blank=True,
        related_name="+",
        help_text=_("Empty: every store (of the partner, if one is chosen)."),
    )
    segment = models.ForeignKey(
        "crm.Segment",
        verbose_name=_("only members of the segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="draws",
        help_text=_("Membership at the time of the draw. Empty: any customer."),
    )
    promotion = models.ForeignKey(
        Promotion,
        verbose_name=_("only purchases rewarded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="draws",
        help_text=_("Only purchases this promotion gave a discount or points. Empty: any."),
    )
    tickets_per = models.CharField(
        _("tickets"),
        max_length=16,
        choices=TicketsPer.choices,
        default=TicketsPer.CUSTOMER,
        help_text=_("One per qualifying purchase: more purchases, more chances."),
    )
    # The prize
    winners_count = models.PositiveIntegerField(
        _("number of winners"), default=1, validators=[MinValueValidator(1)]
    )
    prize_points = models.DecimalField(
        _("points to each winner"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text=_("Empty: no points (a physical prize only)."),
    )
    prize_currency = models.ForeignKey(
        "loyalty.Currency",
        verbose_name=_("currency of the points"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    prize_lifetime_days = models.PositiveIntegerField(
        _("points expire after, days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: never."),
    )
    prize_description = models.TextField(
        _("prize"), blank=True, help_text=_("A physical prize, as the winners are told.")
    )
    # The seed: fixed beforehand (its commitment published), or drawn by the run
    seed = models.CharField(
        _("seed"),
        max_length=128,
        blank=True,
        validators=[
            RegexValidator(
                SEED_PATTERN,
                _("32 to 128 hexadecimal digits, in lower case."),
                code="draw_seed",
            )
        ],
        help_text=_(
            "Empty: a random seed is drawn at the draw. Set one only to publish its "
            "commitment before the period ends; it is kept hidden until the draw."
        ),
    )
    seed_commitment = models.CharField(
        _("seed commitment (SHA-256)"),
        max_length=64,
        blank=True,
        editable=False,
        help_text=_("Of a seed fixed beforehand, written when the draw is scheduled."),
    )
    scheduled_at = models.DateTimeField(_("when scheduled"), null=True, blank=True, editable=False)
    # The record, written once by the draw
    drawn_at = models.DateTimeField(_("when drawn"), null=True, blank=True, editable=False)
    algorithm = models.CharField(_("algorithm"), max_length=32, blank=True, editable=False)
    ticket_list = models.JSONField(_("tickets"), default=list, blank=True, editable=False)
    tickets_digest = models.CharField(
        _("tickets digest (SHA-256)"), max_length=64, blank=True, editable=False
    )
    winner_list = models.JSONField(_("winners"), default=list, blank=True, editable=False)
    cancelled_at = models.DateTimeField(_("when cancelled"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("prize draw")
        verbose_name_plural = _("prize draws")
        ordering = ["-period_to", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_to__gt=F("period_from")), name="draw_period_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(min_purchases__gte=1) & Q(winners_count__gte=1),
                name="draw_counts_positive",
            ),
            models.CheckConstraint(
                condition=Q(min_amount__isnull=True) | Q(min_amount__gt=0),
                name="draw_min_amount_positive",
            ),
            models.CheckConstraint(
                condition=Q(prize_points__isnull=True)
                | Q(prize_points__gt=0, prize_currency__isnull=False),
                name="draw_points_positive_with_currency",
            ),
            models.CheckConstraint(
                condition=Q(prize_points__isnull=False) | ~Q(prize_description=""),
                name="draw_has_a_prize",
            ),
            models.CheckConstraint(
                condition=Q(prize_lifetime_days__isnull=True) | Q(prize_lifetime_days__gt=0),
                name="draw_lifetime_positive",
            ),
            models.CheckConstraint(
                condition=~Q(status="drawn")
                | (Q(drawn_at__isnull=False) & ~Q(seed="") & ~Q(tickets_digest="")),
                name="draw_drawn_has_its_record",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_drawn(self) -> bool:
        return self.status == self.Status.DRAWN

    def clean(self) -> None:
        errors = {}
        if self.period_from and self.period_to and self.period_to <= self.period_from:
            errors["period_to"] = ValidationError(
                _("The period must end after it starts."), code="draw_period"
            )
        if self.prize_points is None and not self.prize_description.strip():
            errors["prize_description"] = ValidationError(
                _("Give points to each winner, a prize, or both."), code="draw_no_prize"
            )
        if self.prize_points is not None and self.prize_currency_id is None:
            errors["prize_currency"] = ValidationError(
                _("Points need a currency."), code="draw_points_currency"
            )
        elif self.prize_currency_id and self.programme_id:
            currency = self.prize_currency
            if currency.programme_id != self.programme_id:
                errors["prize_currency"] = ValidationError(
                    _("The currency must be of the draw's programme."), code="draw_currency"
                )
            elif self.prize_points is not None and (
                self.prize_points.quantize(Decimal(1).scaleb(-currency.decimal_places))
                != self.prize_points
            ):
                errors["prize_points"] = ValidationError(
                    _("The currency has %(places)d decimal places.")
                    % {"places": currency.decimal_places},
                    code="draw_points_places",
                )
        if self.promotion_id and self.programme_id:
            if self.promotion.programme_id != self.programme_id:
                errors["promotion"] = ValidationError(
                    _("The promotion must be of the draw's programme."), code="draw_promotion"
                )
        if self.segment_id and self.programme_id:
            if self.segment.programme_id != self.programme_id:
                errors["segment"] = ValidationError(
                    _("The segment must be of the draw's programme."), code="draw_segment"
                )
        if errors:
            raise ValidationError(errors)


class DrawWinner(models.Model):
    """A winner of a drawn draw, with the posting that paid the points (if the prize has any).

    The draw's ``winner_list`` is the record; these rows link it to the customers and the
    ledger, and their unique keys make sure a customer wins and is paid once per draw."""

    draw = models.ForeignKey(
        Draw, verbose_name=_("prize draw"), on_delete=models.PROTECT, related_name="winners"
    )
    place = models.PositiveIntegerField(_("place"))
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="draw_wins",
    )
    ticket_no = models.PositiveIntegerField(_("ticket"))
    score = models.CharField(_("score"), max_length=64)
    posting = models.OneToOneField(
        "loyalty.Posting",
        verbose_name=_("posting"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="draw_win",
    )

    class Meta:
        verbose_name = _("winner")
        verbose_name_plural = _("winners")
        ordering = ["draw", "place"]
        constraints = [
            models.UniqueConstraint(fields=["draw", "place"], name="draw_winner_place_unique"),
            models.UniqueConstraint(
                fields=["draw", "customer"], name="draw_winner_customer_unique"
            ),
            models.CheckConstraint(condition=Q(place__gte=1), name="draw_winner_place_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.draw_id} #{self.place}: {self.customer_id}"
