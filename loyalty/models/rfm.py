"""RFM segmentation (issue 14): a programme's schemes, their named cells, each customer's current
scores and the history of the runs that computed them.

A scheme scores the customers who bought in its programme on recency (whole days since the last
purchase), frequency (purchases in the window) and monetary value (money paid in the window, net
of refunds), 1 to 5 each, by quintiles or by the marketer's thresholds, and names cells of the
R x F grid (champions, loyal, at risk, lost...). Everything here but the scheme and its cells
is written by ``loyalty.rfm.compute.rfm_recompute`` set-wise in SQL: the current scores are
replaced as a whole, and each run keeps its aggregates (the grid's counts and money), the
movement between cells since the previous run, and each customer's cell changes. The admin's
matrix reads only the per-run aggregates, so it costs the same for 1,000 or 1,000,000
customers. ``docs/segments.md`` ("RFM") describes the rules.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.validators import validate_code
from loyalty.money import DECIMAL_PLACES, MAX_DIGITS

SCALE = 5  # scores run 1..SCALE on every dimension
MAX_WINDOW_DAYS = 3660
DIMENSIONS = ("recency", "frequency", "monetary")


def _score_field(verbose_name):
    return models.PositiveSmallIntegerField(
        verbose_name, validators=[MinValueValidator(1), MaxValueValidator(SCALE)]
    )


def bounds_parse(text: str, dimension: str) -> list[Decimal]:
    """The four ascending bounds written in ``text`` ("30, 60, 120, 240"); raises
    ``ValidationError``. Days and purchases are whole numbers from 1 up, money is positive
    with at most two decimal places."""
    parts = [part for part in text.replace(";", ",").replace(" ", ",").split(",") if part]
    try:
        values = [Decimal(part) for part in parts]
    except InvalidOperation:
        raise ValidationError(
            _("Write four numbers, such as 30, 60, 120, 240."), code="bounds"
        ) from None
    if len(values) != SCALE - 1 or not all(value.is_finite() for value in values):
        raise ValidationError(
            _("Write %(count)s numbers, such as 30, 60, 120, 240.") % {"count": SCALE - 1},
            code="bounds",
        )
    whole = dimension != "monetary"
    for value in values:
        exponent = value.as_tuple().exponent
        if whole and value != value.to_integral_value():
            raise ValidationError(_("Whole numbers only."), code="bounds")
        if not whole and isinstance(exponent, int) and exponent < -DECIMAL_PLACES:
            raise ValidationError(_("At most two digits after the point."), code="bounds")
        if (whole and value < 1) or value <= 0:
            raise ValidationError(_("The bounds must be above zero."), code="bounds")
        if value >= Decimal(10) ** 12:
            raise ValidationError(_("The number is too large."), code="bounds")
    if any(low >= high for low, high in zip(values, values[1:], strict=False)):
        raise ValidationError(_("Each bound must be above the one before it."), code="bounds")
    return [value.to_integral_value() if whole else value for value in values]


class RfmScheme(models.Model):
    """How a programme's customers are scored and which cells of the R x F grid are named."""

    class Scoring(models.TextChoices):
        QUINTILES = "quintiles", _("quintiles of the customers who bought in the window")
        THRESHOLDS = "thresholds", _("thresholds")

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="rfm_schemes",
    )
    code = models.CharField(_("code"), max_length=24, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    window_days = models.PositiveIntegerField(
        _("window, days"),
        default=365,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_DAYS)],
        help_text=_(
            "Frequency and money count the purchases of the last N days; recency is the days "
            "since the last purchase, however long ago."
        ),
    )
    recency_scoring = models.CharField(
        _("recency scored by"), max_length=16, choices=Scoring.choices, default=Scoring.QUINTILES
    )
    recency_bounds = models.CharField(
        _("recency thresholds, days"),
        max_length=100,
        blank=True,
        help_text=_(
            "Four ascending numbers of days, such as 30, 60, 120, 240: up to the first scores "
            "5, up to the second 4, up to the third 3, up to the fourth 2, more 1."
        ),
    )
    frequency_scoring = models.CharField(
        _("frequency scored by"), max_length=16, choices=Scoring.choices, default=Scoring.QUINTILES
    )
    frequency_bounds = models.CharField(
        _("frequency thresholds, purchases"),
        max_length=100,
        blank=True,
        help_text=_(
            "Four ascending numbers of purchases, such as 2, 3, 5, 8: fewer than the first "
            "scores 1, at least the first 2, at least the second 3, the third 4, the fourth 5."
        ),
    )
    monetary_scoring = models.CharField(
        _("money scored by"), max_length=16, choices=Scoring.choices, default=Scoring.QUINTILES
    )
    monetary_bounds = models.CharField(
        _("money thresholds, RUB"),
        max_length=100,
        blank=True,
        help_text=_(
            "Four ascending amounts, such as 1000, 3000, 7000, 15000: less than the first "
            "scores 1, at least the first 2, and so on up to 5."
        ),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("The nightly job recomputes active schemes only.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("RFM scheme")
        verbose_name_plural = _("RFM schemes")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "code"], name="rfm_scheme_code_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Thresholds are required (and checked) for each dimension scored by them, and kept
        in their canonical form."""
        errors = {}
        for dimension in DIMENSIONS:
            field = f"{dimension}_bounds"
            if getattr(self, f"{dimension}_scoring") != self.Scoring.THRESHOLDS:
                continue
            try:
                values = bounds_parse(getattr(self, field), dimension)
            except ValidationError as exc:
                errors[field] = exc
            else:
                setattr(self, field, ", ".join(str(value) for value in values))
        if errors:
            raise ValidationError(errors)

    def bounds(self, dimension: str) -> list[Decimal] | None:
        """The thresholds of ``dimension``, or None when it is scored by quintiles."""
        if getattr(self, f"{dimension}_scoring") != self.Scoring.THRESHOLDS:
            return None
        return bounds_parse(getattr(self, f"{dimension}_bounds"), dimension)


class RfmCell(models.Model):
    """A named rectangle of the R x F grid. A scheme's cells cover the 25 squares exactly once
    (``loyalty.rfm.cells.cells_grid`` checks it); its ``code`` is what segments name."""

    scheme = models.ForeignKey(
        RfmScheme, verbose_name=_("RFM scheme"), on_delete=models.CASCADE, related_name="cells"
    )
    code = models.CharField(
        _("code"),
        max_length=32,
        validators=[validate_code],
        help_text=_("Segments name the cell by its code: changing it breaks their rules."),
    )
    name = models.CharField(_("name"), max_length=100)
    r_min = _score_field(_("R from"))
    r_max = _score_field(_("R to"))
    f_min = _score_field(_("F from"))
    f_max = _score_field(_("F to"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("RFM cell")
        verbose_name_plural = _("RFM cells")
        ordering = ["scheme_id", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "code"], name="rfm_cell_code_unique"),
            models.CheckConstraint(
                condition=Q(r_min__gte=1, f_min__gte=1, r_max__lte=SCALE, f_max__lte=SCALE)
                & Q(r_min__lte=models.F("r_max"), f_min__lte=models.F("f_max")),
                name="rfm_cell_ranges_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if None in (self.r_min, self.r_max, self.f_min, self.f_max):
            return
        if self.r_min > self.r_max:
            raise ValidationError({"r_max": _("The upper bound is below the lower one.")})
        if self.f_min > self.f_max:
            raise ValidationError({"f_max": _("The upper bound is below the lower one.")})


class RfmRun(models.Model):
    """One computation of a scheme: when, as of when, how long, how many customers were
    scored, how many bought in the window and how many changed cells."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("nightly schedule")
        STAFF = "staff", _("on demand")

    scheme = models.ForeignKey(
        RfmScheme, verbose_name=_("RFM scheme"), on_delete=models.CASCADE, related_name="runs"
    )
    trigger = models.CharField(
        _("started by"), max_length=16, choices=Trigger.choices, default=Trigger.STAFF
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff user"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    as_of = models.DateTimeField(_("computed as of"), help_text=_("The window ends here."))
    took_ms = models.PositiveIntegerField(_("took, ms"), default=0)
    size = models.PositiveIntegerField(_("customers scored"), default=0)
    buyers = models.PositiveIntegerField(_("bought in the window"), default=0)
    changed = models.PositiveIntegerField(
        _("changed cell"), default=0, help_text=_("Scored for the first time or no longer too.")
    )
    money = models.DecimalField(
        _("money in the window, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        default=Decimal("0.00"),
    )

    class Meta:
        verbose_name = _("RFM run")
        verbose_name_plural = _("RFM runs")
        ordering = ["-as_of", "-pk"]
        indexes = [models.Index(fields=["scheme", "-as_of"], name="rfm_run_scheme_idx")]

    def __str__(self) -> str:
        return f"{self.scheme_id} @ {self.as_of:%Y-%m-%d %H:%M}"


class RfmScore(models.Model):
    """A customer's current scores in a scheme (replaced as a whole by every run)."""

    scheme = models.ForeignKey(
        RfmScheme, verbose_name=_("RFM scheme"), on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="rfm_scores",
    )
    r = _score_field(_("R"))
    f = _score_field(_("F"))
    m = _score_field(_("M"))
    recency_days = models.PositiveIntegerField(_("days since the last purchase"))
    frequency = models.PositiveIntegerField(_("purchases in the window"))
    monetary = models.DecimalField(
        _("paid in the window, RUB"), max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES
    )
    last_purchase_at = models.DateTimeField(_("last purchase"))
    cell = models.CharField(_("cell"), max_length=32)
    computed_at = models.DateTimeField(_("computed as of"))

    class Meta:
        verbose_name = _("RFM score")
        verbose_name_plural = _("RFM scores")
        constraints = [
            models.UniqueConstraint(fields=["scheme", "customer"], name="rfm_score_unique"),
        ]
        indexes = [
            models.Index(fields=["scheme", "cell"], name="rfm_score_cell_idx"),
            models.Index(fields=["customer"], name="rfm_score_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.r}{self.f}{self.m} {self.cell}"


class RfmRunStat(models.Model):
    """A run's count and money of one square of the R x F grid, with the cell it was in."""

    run = models.ForeignKey(
        RfmRun, verbose_name=_("RFM run"), on_delete=models.CASCADE, related_name="stats"
    )
    r = _score_field(_("R"))
    f = _score_field(_("F"))
    cell = models.CharField(_("cell"), max_length=32)
    customers = models.PositiveIntegerField(_("customers"))
    money = models.DecimalField(
        _("paid in the window, RUB"), max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES
    )

    class Meta:
        verbose_name = _("RFM run square")
        verbose_name_plural = _("RFM run squares")
        constraints = [
            models.UniqueConstraint(fields=["run", "r", "f"], name="rfm_run_stat_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}: R{self.r} F{self.f} {self.customers}"


class RfmRunMove(models.Model):
    """How many customers went from one cell to another since the scheme's previous run
    (staying in a cell included). An empty ``from_cell``: not scored before; an empty
    ``to_cell``: no longer scored (anonymised, merged, or every purchase cancelled)."""

    run = models.ForeignKey(
        RfmRun, verbose_name=_("RFM run"), on_delete=models.CASCADE, related_name="moves"
    )
    from_cell = models.CharField(_("from cell"), max_length=32, blank=True)
    to_cell = models.CharField(_("to cell"), max_length=32, blank=True)
    customers = models.PositiveIntegerField(_("customers"))

    class Meta:
        verbose_name = _("RFM movement")
        verbose_name_plural = _("RFM movements")
        constraints = [
            models.UniqueConstraint(
                fields=["run", "from_cell", "to_cell"], name="rfm_run_move_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.from_cell or '-'} -> {self.to_cell or '-'}"


class RfmCellChange(models.Model):
    """A customer changed cell at a run (empty ``from_cell``: first scored; empty
    ``to_cell``: no longer scored): the customer's RFM history."""

    scheme = models.ForeignKey(
        RfmScheme, verbose_name=_("RFM scheme"), on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="rfm_changes",
    )
    run = models.ForeignKey(
        RfmRun, verbose_name=_("RFM run"), on_delete=models.CASCADE, related_name="changes"
    )
    from_cell = models.CharField(_("from cell"), max_length=32, blank=True)
    to_cell = models.CharField(_("to cell"), max_length=32, blank=True)
    at = models.DateTimeField(_("when"))

    class Meta:
        verbose_name = _("RFM cell change")
        verbose_name_plural = _("RFM cell changes")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["customer", "-at"], name="rfm_change_customer_idx"),
            models.Index(fields=["run"], name="rfm_change_run_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_cell or '-'} -> {self.to_cell or '-'}"
