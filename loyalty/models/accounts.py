"""Currencies of points and the accounts that hold them (one per owner and currency)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from loyalty.money import MAX_DIGITS, POINTS_DECIMAL_PLACES
from loyalty.validators import validate_code


class Currency(models.Model):
    """A kind of points (bonus, chips, stars...) with its precision and its value when spent."""

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="currencies",
    )
    code = models.CharField(_("code"), max_length=32, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=100)
    decimal_places = models.PositiveSmallIntegerField(
        _("decimal places"), default=2, validators=[MaxValueValidator(POINTS_DECIMAL_PLACES)]
    )
    rub_rate = models.DecimalField(
        _("value of a point when spent, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=4,
        default=Decimal("1.0000"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "1 point pays this many roubles of a receipt. 0 for points that cannot pay "
            "(chips that are only exchanged for rewards)."
        ),
    )
    is_default = models.BooleanField(
        _("programme's main currency"),
        default=False,
        help_text=_("The currency the POS API earns and spends when none is named."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    given_as = models.ForeignKey(
        "self",
        verbose_name=_("given to colleagues as"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "Peer thanks: members give points of this currency to each other (never to "
            "themselves, with a reason) on the staff page, and they arrive as this currency. "
            "Empty: not given between members."
        ),
    )
    # This currency's own rules; empty: the reward's, or the programme's, decide.
    lifetime_days = models.PositiveIntegerField(
        _("points expire after, days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Points of this currency burn this many days after they are earned, unless the "
            "reward gives a lifetime or a last day of its own. Empty: never."
        ),
    )
    max_spend_percent = models.DecimalField(
        _("max share of a receipt paid with these points, %"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_(
            "For the programme's main currency (the one that pays receipts). Empty: the "
            "programme's share."
        ),
    )
    spend_block = models.PositiveIntegerField(
        _("points are spent in blocks of"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "For the programme's main currency: a receipt is paid with a multiple of this many "
            "points only (100: 100, 200, 300...); what the rules allow is rounded down to it "
            "and the cashier is told. Empty: any number of points."
        ),
    )

    class Meta:
        verbose_name = _("currency")
        verbose_name_plural = _("currencies")
        ordering = ["programme_id", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decimal_places__lte=POINTS_DECIMAL_PLACES), name="currency_places_max"
            ),
            models.CheckConstraint(condition=Q(rub_rate__gte=0), name="currency_rate_not_negative"),
            models.CheckConstraint(
                condition=Q(lifetime_days__isnull=True) | Q(lifetime_days__gt=0),
                name="currency_lifetime_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_spend_percent__isnull=True)
                | (Q(max_spend_percent__gte=0) & Q(max_spend_percent__lte=100)),
                name="currency_max_spend_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(spend_block__isnull=True) | Q(spend_block__gte=1),
                name="currency_spend_block_positive",
            ),
            models.UniqueConstraint(
                fields=["programme"],
                condition=Q(is_default=True),
                name="currency_one_default_per_programme",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """A balance of one currency held by a customer, a partner, or the programme itself.

    Every movement is a posting whose legs sum to zero: the customer's account on one side and
    a partner's or the programme's account on the other, so system accounts are the mirror image
    of what customers hold and the partner settlement is a query over them.

    A customer's ``balance``, ``pending`` and ``held`` are caches of the ledger, written only by
    the ledger service in the same transaction as the entries (invariant L2). A partner's or
    the programme's account is never locked by a purchase (it is on the other side of every
    purchase at that partner, and would make them queue); its ``balance`` and ``pending`` are
    a rollup of its entries that ``ledger_rollup`` refreshes every few minutes.
    - ``balance``: the sum of posted entries in the active bucket (what can be spent);
    - ``pending``: the sum of entries in the pending bucket (earned, not active yet);
    - ``held``: the points reserved by active holds between calculate and confirm. A refund or
      an expiry may take the balance below it; a hold never grants more than the lots hold.
    """

    class Kind(models.TextChoices):
        CUSTOMER = "customer", _("customer")
        PARTNER = "partner", _("partner")
        PROGRAMME = "programme", _("programme")

    class Purpose(models.TextChoices):
        MAIN = "main", _("main")
        EXPIRED = "expired", _("expired points")
        ADJUSTMENTS = "adjustments", _("manual adjustments")
        MARKETING = "marketing", _("marketing rewards")
        SHORTFALL = "shortfall", _("refund and offline shortfalls")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.MAIN
    )
    currency = models.ForeignKey(
        Currency, verbose_name=_("currency"), on_delete=models.PROTECT, related_name="accounts"
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="accounts",
    )
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="accounts",
    )
    balance = models.DecimalField(
        _("balance"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        default=Decimal("0"),
        editable=False,
    )
    pending = models.DecimalField(
        _("pending"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        default=Decimal("0"),
        editable=False,
    )
    held = models.DecimalField(
        _("held"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        default=Decimal("0"),
        editable=False,
    )
    debt_limit = models.DecimalField(
        _("debt limit"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        default=Decimal("0"),
        help_text=_("How far below zero a refund under the debt policy may take this balance."),
    )
    version = models.PositiveBigIntegerField(
        _("version"), default=0, editable=False, help_text=_("Increases with every entry.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="customer", customer__isnull=False, partner__isnull=True, purpose="main")
                    | Q(kind="partner", partner__isnull=False, customer__isnull=True)
                    | Q(kind="programme", partner__isnull=True, customer__isnull=True)
                ),
                name="account_owner_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["customer", "currency"],
                condition=Q(kind="customer"),
                name="account_one_per_customer_currency",
            ),
            models.UniqueConstraint(
                fields=["partner", "currency", "purpose"],
                condition=Q(kind="partner"),
                name="account_one_per_partner_currency_purpose",
            ),
            models.UniqueConstraint(
                fields=["currency", "purpose"],
                condition=Q(kind="programme"),
                name="account_one_per_programme_currency_purpose",
            ),
            # The last line of defence against an overdraw (invariant L4): a customer's
            # spendable balance never goes below its debt limit, which is 0 unless a refund
            # policy allows a debt.
            models.CheckConstraint(
                condition=~Q(kind="customer") | Q(balance__gte=-F("debt_limit")),
                name="account_customer_balance_within_debt_limit",
            ),
            models.CheckConstraint(
                condition=~Q(kind="customer") | Q(pending__gte=0),
                name="account_customer_pending_not_negative",
            ),
            models.CheckConstraint(condition=Q(held__gte=0), name="account_held_not_negative"),
            models.CheckConstraint(
                condition=Q(debt_limit__gte=0), name="account_debt_limit_not_negative"
            ),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.CUSTOMER:
            owner = str(self.customer)
        elif self.kind == self.Kind.PARTNER:
            owner = f"{self.partner} ({self.get_purpose_display()})"
        else:
            owner = f"{_('programme')} ({self.get_purpose_display()})"
        return f"{owner} / {self.currency.code}"

    @property
    def tracks_balance(self) -> bool:
        """Whether every posting locks this account and keeps its running balance."""
        return self.kind == self.Kind.CUSTOMER

    @property
    def available(self) -> Decimal:
        """What can be spent now: the active balance less what holds reserve (never negative)."""
        return max(self.balance - self.held, Decimal("0"))
