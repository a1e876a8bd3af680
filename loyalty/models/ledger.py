"""The points ledger: immutable postings whose legs sum to zero.

Rows here are only ever inserted, never updated or deleted (invariant L1): a mistake is
corrected by a new posting that reverses the old one. The model refuses ``save()`` of an
existing row and ``delete()``; the queryset refuses ``update()`` and ``delete()``; and a
database trigger (see the migration) refuses UPDATE, and DELETE on PostgreSQL, from any client.
Write through ``loyalty.services.ledger`` only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.models import AppendOnlyModel, AppendOnlyQuerySet, ImmutableRowError
from loyalty.money import MAX_DIGITS, POINTS_DECIMAL_PLACES

__all__ = [
    "AppendOnlyModel",
    "AppendOnlyQuerySet",
    "ImmutableRowError",
    "LedgerEntry",
    "Lot",
    "Posting",
]


class Posting(AppendOnlyModel):
    """One business movement of points: a set of entries (legs) that sum to zero per currency.

    It names its cause (what happened) and its actor (who did it), invariant L9.
    """

    class Kind(models.TextChoices):
        EARN = "earn", _("earn")
        SPEND = "spend", _("spend")
        ACTIVATE = "activate", _("activation of pending points")
        EXPIRE = "expire", _("expiry")
        ADJUST = "adjust", _("manual adjustment")
        REFUND = "refund", _("refund")
        REVERSAL = "reversal", _("reversal")
        TRANSFER = "transfer", _("transfer")
        WELCOME = "welcome", _("welcome bonus")
        REWARD = "reward", _("campaign reward")
        EXCHANGE = "exchange", _("exchange at the register")

    class Cause(models.TextChoices):
        RECEIPT = "receipt", _("receipt")
        REFUND = "refund", _("refund")
        PROMOTION = "promotion", _("promotion")
        ADJUSTMENT = "adjustment", _("adjustment")
        CAMPAIGN = "campaign", _("campaign")
        EXPIRY_RUN = "expiry_run", _("expiry run")
        ACTIVATION_RUN = "activation_run", _("activation run")
        IMPORT = "import", _("import")
        MERGE = "merge", _("account merge")
        THANKS = "thanks", _("thanks from a colleague")

    class ActorType(models.TextChoices):
        TERMINAL = "terminal", _("terminal")
        STAFF = "staff", _("staff user")
        SYSTEM = "system", _("system task")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    cause = models.CharField(_("cause"), max_length=16, choices=Cause.choices)
    cause_ref = models.CharField(
        _("cause reference"),
        max_length=128,
        blank=True,
        help_text=_(
            "The id of the cause outside the ledger: a refund id, an adjustment id, a run id."
        ),
    )
    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="postings",
    )
    actor_type = models.CharField(_("actor"), max_length=16, choices=ActorType.choices)
    terminal = models.ForeignKey(
        "loyalty.Terminal",
        verbose_name=_("terminal"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="postings",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff user"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="postings",
    )
    actor_name = models.CharField(
        _("system actor"),
        max_length=100,
        blank=True,
        help_text=_("The task or command that posted."),
    )
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("issuing or accepting partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="postings",
    )
    reverses = models.ForeignKey(
        "self",
        verbose_name=_("reverses"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
    )
    description = models.CharField(_("description"), max_length=300, blank=True)
    occurred_at = models.DateTimeField(_("business time"), default=timezone.now)
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(actor_type="terminal", terminal__isnull=False)
                    | Q(actor_type="staff", user__isnull=False)
                    | (Q(actor_type="system") & ~Q(actor_name=""))
                ),
                name="posting_names_its_actor",
            ),
            models.CheckConstraint(
                condition=~Q(cause="receipt") | Q(receipt__isnull=False),
                name="posting_receipt_cause_has_receipt",
            ),
        ]
        indexes = [models.Index(fields=["cause", "cause_ref"], name="posting_cause_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()}"


class LedgerEntry(AppendOnlyModel):
    """One leg of a posting: a signed amount on one account, in its active or pending bucket.

    An entry that adds points to a customer's account is a *lot*: it carries the moment the
    points become spendable (``active_at``) and the moment they burn (``expires_at``). Entries
    that later consume a lot (spend, expire, activate, reverse) point at it through ``lot``,
    so a lot's remainder is its amount plus the entries that name it (invariant L6).
    """

    class Bucket(models.TextChoices):
        ACTIVE = "active", _("active")
        PENDING = "pending", _("pending")

    posting = models.ForeignKey(
        Posting, verbose_name=_("posting"), on_delete=models.PROTECT, related_name="entries"
    )
    account = models.ForeignKey(
        "loyalty.Account",
        verbose_name=_("account"),
        on_delete=models.PROTECT,
        related_name="entries",
    )
    currency = models.ForeignKey(
        "loyalty.Currency", verbose_name=_("currency"), on_delete=models.PROTECT, related_name="+"
    )
    bucket = models.CharField(
        _("bucket"), max_length=8, choices=Bucket.choices, default=Bucket.ACTIVE
    )
    amount = models.DecimalField(
        _("amount"), max_digits=MAX_DIGITS, decimal_places=POINTS_DECIMAL_PLACES
    )
    # Kept for customer accounts only: a partner's or the programme's account is on the other
    # side of every purchase at that partner, and a running balance there would make all of
    # its registers queue on one row. Their balances are a rollup (``ledger_rollup``).
    balance_after = models.DecimalField(
        _("bucket balance after"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        null=True,
        blank=True,
    )
    account_version = models.PositiveBigIntegerField(_("account version"), null=True, blank=True)
    lot = models.ForeignKey(
        "self",
        verbose_name=_("lot"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lot_entries",
    )
    active_at = models.DateTimeField(_("becomes active"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_amount_not_zero"),
            models.UniqueConstraint(
                fields=["account", "account_version"], name="ledger_entry_one_per_account_version"
            ),
            models.CheckConstraint(
                condition=Q(account_version__isnull=True, balance_after__isnull=True)
                | Q(account_version__isnull=False, balance_after__isnull=False),
                name="ledger_entry_version_with_balance",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True)
                | Q(active_at__isnull=True)
                | Q(expires_at__gt=models.F("active_at")),
                name="ledger_entry_expires_after_active",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "expires_at"], name="ledger_entry_lot_fifo_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.amount:+} {self.currency_id} on {self.account_id}"


class LotQuerySet(models.QuerySet):
    """The domain's words for lots, in one place (the in-memory twins are ``Lot``'s methods)."""

    def open(self) -> LotQuerySet:
        """Lots with something left (points, or a debt)."""
        return self.exclude(remaining=0)

    def spendable(self, now) -> LotQuerySet:
        """Earned, active, unexpired lots with points left: what can be taken now."""
        return self.filter(state=Lot.State.ACTIVE, kind=Lot.Kind.EARN, remaining__gt=0).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )

    def due(self, now) -> LotQuerySet:
        """Lots with work due: pending ones whose activation came, active earned ones that
        expired."""
        return self.open().filter(
            Q(state=Lot.State.PENDING, active_at__lte=now)
            | Q(state=Lot.State.ACTIVE, kind=Lot.Kind.EARN, expires_at__lte=now)
        )

    def first_expiring_first(self) -> LotQuerySet:
        """The order points are taken in (invariant L6): the first to expire first, those that
        never expire last, then in the order they were earned."""
        return self.order_by(F("expires_at").asc(nulls_last=True), "entry_id")


class Lot(models.Model):
    """Points added to a customer's account by one entry, and what is left of them: the
    spendable state of a ledger entry that added points (or of a debt a refund left). Its
    ``remaining`` is a cache, like an account's balance: it always equals the lot entry's amount
    plus the entries that name the lot (reconciliation checks it).

    Earned lots are spent first-expiring-first (invariant L6). A debt lot is the negative
    remainder a refund left under the debt policy; later earnings settle it first.
    """

    class Kind(models.TextChoices):
        EARN = "earn", _("earned points")
        DEBT = "debt", _("debt")

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        ACTIVE = "active", _("active")

    entry = models.OneToOneField(
        "loyalty.LedgerEntry",
        verbose_name=_("entry"),
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="lot_state",
    )
    account = models.ForeignKey(
        "loyalty.Account", verbose_name=_("account"), on_delete=models.PROTECT, related_name="lots"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.EARN)
    state = models.CharField(_("state"), max_length=8, choices=State.choices)
    amount = models.DecimalField(
        _("amount"), max_digits=MAX_DIGITS, decimal_places=POINTS_DECIMAL_PLACES
    )
    remaining = models.DecimalField(
        _("remaining"), max_digits=MAX_DIGITS, decimal_places=POINTS_DECIMAL_PLACES
    )
    active_at = models.DateTimeField(_("becomes active"))
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lots",
    )
    spend_rule = models.ForeignKey(
        "promotions.SpendRule",
        verbose_name=_("may be spent"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lots",
        help_text=_("Empty: anywhere. Otherwise only as the rule allows."),
    )

    objects = LotQuerySet.as_manager()

    class Meta:
        verbose_name = _("lot")
        verbose_name_plural = _("lots")
        ordering = ["expires_at", "entry_id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="earn", amount__gt=0, remaining__gte=0, remaining__lte=F("amount"))
                    | Q(kind="debt", amount__lt=0, remaining__lte=0, remaining__gte=F("amount"))
                ),
                name="lot_remaining_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(kind="earn") | Q(state="active"), name="lot_debt_is_active"
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "state", "expires_at"],
                condition=~Q(remaining=0),
                name="lot_open_idx",
            ),
            models.Index(
                fields=["state", "active_at"], condition=Q(state="pending"), name="lot_pending_idx"
            ),
            models.Index(
                fields=["expires_at"],
                condition=Q(state="active", kind="earn", remaining__gt=0),
                name="lot_expiring_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.amount} (#{self.entry_id})"

    def is_spendable(self, now) -> bool:
        """What ``LotQuerySet.spendable`` says, of this lot as it is in memory."""
        return (
            self.state == Lot.State.ACTIVE
            and self.kind == Lot.Kind.EARN
            and self.remaining > 0
            and (self.expires_at is None or self.expires_at > now)
        )

    def is_due(self, now) -> bool:
        """What ``LotQuerySet.due`` says, of this lot as it is in memory."""
        if self.remaining == 0:
            return False
        if self.state == Lot.State.PENDING:
            return self.active_at <= now
        return (
            self.state == Lot.State.ACTIVE
            and self.kind == Lot.Kind.EARN
            and self.expires_at is not None
            and self.expires_at <= now
        )

    def counts_towards_balance(self, now) -> bool:
        """Whether the lot counts towards what can be spent now: spendable, due for activation
        (a purchase activates it first), or a debt (negative)."""
        if self.remaining == 0:
            return False
        unexpired = self.expires_at is None or self.expires_at > now
        if self.state == Lot.State.ACTIVE:
            return self.kind == Lot.Kind.DEBT or unexpired
        return self.state == Lot.State.PENDING and self.active_at <= now and unexpired

    @staticmethod
    def walk_key(now):
        """The in-memory sort key of ``LotQuerySet.first_expiring_first``."""
        return lambda lot: (lot.expires_at is None, lot.expires_at or now, lot.entry_id)
