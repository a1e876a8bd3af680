"""Coupons (mechanics.md item 16): series, codes, their life, and the next-purchase hook.

- ``coupons_issue``: new coupons of a series, with unique codes that cannot be guessed: a code
  space at least a million times larger than the coupons the series will ever hold (the code
  is made longer when it is not), drawn with ``secrets`` from an alphabet without characters
  read alike.
- ``coupon_status``: what a register (``GET /api/v1/coupons/{code}``) is told of a code.
- The next-purchase hook: a confirmed purchase (or an occasion) records the coupons its
  promotions earned the customer (``CouponGrant``); when a series of that code exists the
  coupon is issued at once, in the same transaction, else the grant waits "to issue" for
  ``coupon_grants_issue`` (a beat job) once the series is made. A cancel or a full refund
  withdraws what it earned, issued or not.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.utils import timezone

from promotions.engine.types import CouponAward
from promotions.locks import coupons_for_update, redemptions_for_update

# The code space must be this many times the coupons of a series (guessing stays hopeless).
SPACE_MARGIN = 10**6
BATCH = 5000


def _alphabet() -> str:
    from promotions.models import COUPON_ALPHABET

    return COUPON_ALPHABET


def code_length(series, total: int) -> int:
    """The series' code length, made longer if ``total`` coupons would leave too small a space
    (32 characters: each adds 5 bits)."""
    needed = math.ceil(math.log(max(total, 1) * SPACE_MARGIN, len(_alphabet())))
    return max(series.code_length, needed)


def _code(series, length: int) -> str:
    alphabet = _alphabet()
    return series.prefix.upper() + "".join(secrets.choice(alphabet) for _ in range(length))


def _life(series, at: datetime) -> tuple[datetime, datetime | None]:
    zone = timezone.get_current_timezone()
    local = timezone.localtime(at, zone)
    start = at
    if series.life_start == series.LifeStart.DATE and series.starts_on:
        start = datetime.combine(series.starts_on, time.min, tzinfo=zone)
    elif series.life_start == series.LifeStart.AFTER_DAYS and series.start_after_days:
        start = at + timedelta(days=series.start_after_days)
    elif series.life_start == series.LifeStart.NEXT_DAY:
        start = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=zone)
    until = start + timedelta(days=series.lifetime_days) if series.lifetime_days else None
    if series.ends_at is not None:
        until = min(until, series.ends_at) if until else series.ends_at
    return start, until


@transaction.atomic
def coupons_issue(series, count: int = 1, *, customer=None, at=None, grants=()) -> list:
    """Issue ``count`` coupons of ``series`` (personal codes; the one code of a mass series),
    for ``customer`` if given; ``grants``: the grants they fulfil, one per coupon.

    A mass series has one coupon whatever ``count``: its code, for everyone, made once (here,
    or when a register first presents it), its life counted from the series' creation."""
    from promotions.models import Coupon, CouponGrant, CouponSeries

    at = at or timezone.now()
    if count < 1:
        raise ValueError("count must be at least 1")
    if series.kind == CouponSeries.Kind.MASS:  # one coupon, the code everyone uses
        made_at = series.created_at or at
        start, until = _life(series, made_at)
        coupon, _made = Coupon.objects.get_or_create(
            code=series.mass_code.upper(),
            series=series,
            defaults={"valid_from": start, "valid_until": until, "issued_at": made_at},
        )
        return [coupon]
    start, until = _life(series, at)
    prizes = _prize_table(series)
    total = Coupon.objects.filter(series=series).count() + count
    length = code_length(series, total)
    grants = list(grants)
    made = []
    while len(made) < count:
        want = min(count - len(made), BATCH)
        codes = {_code(series, length) for _ in range(want)}
        codes -= set(Coupon.objects.filter(code__in=codes).values_list("code", flat=True))
        rows = []
        for code in codes:
            grant = grants[len(made) + len(rows)] if len(made) + len(rows) < len(grants) else None
            rows.append(
                Coupon(
                    series=series,
                    code=code,
                    customer=customer if customer is not None else getattr(grant, "customer", None),
                    valid_from=start,
                    valid_until=until,
                    grant=grant,
                    issued_at=at,
                    prize_id=_draw(prizes) if prizes else None,
                )
            )
        try:
            with transaction.atomic():
                made += Coupon.objects.bulk_create(rows)
        except IntegrityError:
            continue  # a code issued meanwhile by another series: draw again
    for coupon in made:
        if coupon.grant_id:
            CouponGrant.objects.filter(pk=coupon.grant_id).update(
                status=CouponGrant.Status.ISSUED, code=coupon.code
            )
    return made


class NoPrizes(ValueError):
    """A scratch series without a prize table cannot issue coupons."""


def _prize_table(series) -> list[tuple[int, int]]:
    if not series.is_scratch:
        return []
    table = list(series.prizes.order_by("pk").values_list("promotion_id", "weight"))
    if not table:
        raise NoPrizes(f"the scratch series {series.code} has no prizes")
    return table


def _draw(table: list[tuple[int, int]]) -> int:
    """A prize drawn with chances in proportion to the weights (``secrets``: not guessable)."""
    point = secrets.randbelow(sum(weight for _pid, weight in table))
    for promotion_id, weight in table:
        if point < weight:
            return promotion_id
        point -= weight
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class CouponState:
    code: str
    status: str  # valid | used | expired | not_yet_active | withdrawn
    series: str
    name: str
    valid_from: datetime
    valid_until: datetime | None
    uses_left: int | None
    personal: bool
    prize: str | None = None  # a scratch coupon's prize, once it is used

    def as_json(self) -> dict:
        return {
            "code": self.code,
            "status": self.status,
            "series": self.series,
            "name": self.name,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "uses_left": self.uses_left,
            "personal": self.personal,
            "prize": self.prize,
        }


def coupon_find(code: str, programme_id: int | None):
    """The coupon of this code (any case, spaces ignored) in the programme, or None."""
    from promotions.models import Coupon

    cleaned = "".join((code or "").split()).upper()
    if not cleaned:
        return None
    found = Coupon.objects.select_related("series").filter(code=cleaned)
    if programme_id is not None:
        found = found.filter(series__programme_id=programme_id)
    return found.first() or next(iter(_mass_coupons({cleaned}, programme_id)), None)


def _mass_coupons(codes: set[str], programme_id: int | None) -> list:
    """The coupons of the mass series (of the programme) whose code for everyone is among
    ``codes`` (upper case), made now if nobody issued them yet: such a code is valid as soon as
    its series exists."""
    from django.db.models.functions import Upper

    from promotions.models import CouponSeries

    if not codes:
        return []
    found = CouponSeries.objects.annotate(code_upper=Upper("mass_code")).filter(
        kind=CouponSeries.Kind.MASS, code_upper__in=codes
    )
    if programme_id is not None:
        found = found.filter(programme_id=programme_id)
    return [coupons_issue(series)[0] for series in found.order_by("pk")]


def coupon_status(coupon, at: datetime | None = None) -> CouponState:
    at = at or timezone.now()
    series = coupon.series
    # A code for everyone is used up per customer (``coupons_check``), never for all at once.
    mass = series.kind == series.Kind.MASS
    left = (
        None
        if series.uses_per_coupon is None or mass
        else max(series.uses_per_coupon - coupon.uses, 0)
    )
    if coupon.status == coupon.Status.WITHDRAWN or not series.is_active:
        status = "withdrawn"
    elif coupon.status == coupon.Status.USED or left == 0:
        status = "used"
    elif at < coupon.valid_from:
        status = "not_yet_active"
    elif coupon.valid_until is not None and at >= coupon.valid_until:
        status = "expired"
    else:
        status = "valid"
    return CouponState(
        code=coupon.code,
        status=status,
        series=series.code,
        name=series.name,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        uses_left=left,
        personal=coupon.customer_id is not None,
        prize=coupon.prize.name if coupon.prize_id and coupon.uses else None,
    )


def coupons_grant(receipt, customer, awards: list[CouponAward], firing=None) -> list:
    """Record the coupons a purchase (or an occasion's ``firing``) earned the customer, and
    issue those whose series exists."""
    from promotions.models import CouponGrant

    if not awards:
        return []
    now = timezone.now()
    grants = CouponGrant.objects.bulk_create(
        [
            CouponGrant(
                receipt=receipt,
                firing=firing,
                promotion_id=award.promotion_id,
                customer=customer,
                series=award.series,
                created_at=now,
            )
            for award in awards
            for _ in range(award.count)
        ]
    )
    _issue_for(grants, now)
    return grants


def _issue_for(grants, at) -> int:
    from promotions.models import CouponSeries, Promotion

    if not grants:
        return 0
    programmes = dict(
        Promotion.objects.filter(pk__in={g.promotion_id for g in grants}).values_list(
            "pk", "programme_id"
        )
    )
    issued = 0
    by_series: dict[tuple, list] = {}
    for grant in grants:
        by_series.setdefault((programmes.get(grant.promotion_id), grant.series), []).append(grant)
    for (programme_id, code), waiting in by_series.items():
        series = CouponSeries.objects.filter(
            programme_id=programme_id, code=code, is_active=True, kind=CouponSeries.Kind.PERSONAL
        ).first()
        if series is None:
            continue
        for grant in waiting:
            coupons_issue(series, 1, customer=grant.customer, at=at, grants=[grant])
            issued += 1
    return issued


def coupon_grants_issue() -> int:
    """Issue the coupons of grants that waited for their series; returns how many."""
    from promotions.models import CouponGrant

    pending = list(
        CouponGrant.objects.filter(status=CouponGrant.Status.PENDING, coupon__isnull=True)
        .select_related("customer")
        .order_by("pk")[:BATCH]
    )
    with transaction.atomic():
        return _issue_for(pending, timezone.now())


def coupons_withdraw(receipt) -> int:
    """A cancel or a full refund: the coupons the purchase earned are withdrawn, issued or not."""
    from promotions.models import Coupon, CouponGrant

    grants = CouponGrant.objects.filter(receipt=receipt).exclude(
        status=CouponGrant.Status.WITHDRAWN
    )
    Coupon.objects.filter(grant__in=grants).update(status=Coupon.Status.WITHDRAWN)
    return grants.update(status=CouponGrant.Status.WITHDRAWN)


# --- At the register ------------------------------------------------------------------------


@dataclass(frozen=True)
class CouponCheck:
    """A code presented on a receipt: the coupon, and why it cannot be used (None: it can)."""

    code: str
    coupon: object | None
    reason: str | None


REASONS = {
    "used": "coupon_used",
    "expired": "coupon_expired",
    "not_yet_active": "coupon_not_yet_active",
    "withdrawn": "coupon_withdrawn",
}


def hold_key(terminal_id: int, receipt_id: str) -> str:
    return f"{terminal_id}:{receipt_id}"[:100]


def coupons_check(
    codes, programme_id: int, customer, at: datetime, *, lock: bool = False, holder: str = ""
):
    """Check the codes a receipt presents (one query; ``lock``: under row locks, as confirm
    reads them, so two registers using one single-use coupon at once take turns and the
    second sees it used). A coupon's last use held for another receipt (``holder``: this one's
    key) is ``coupon_held`` until the hold expires. Returns a ``CouponCheck`` per code, in the
    order given."""
    from promotions.models import Coupon, CouponRedemption, CouponSeries

    cleaned = ["".join(str(code).split()).upper() for code in codes]
    rows = Coupon.objects.select_related("series").filter(
        code__in=set(cleaned), series__programme_id=programme_id
    )
    if lock:
        rows = coupons_for_update(rows)
    found = {coupon.code: coupon for coupon in rows}
    if set(cleaned) - set(found) and _mass_coupons(set(cleaned) - set(found), programme_id):
        found = {coupon.code: coupon for coupon in rows.all()}  # with the codes just made
    checks, seen_series = [], set()
    for raw, code in zip(codes, cleaned, strict=True):
        coupon = found.get(code)
        reason = None
        if coupon is None:
            reason = "coupon_not_found"
        else:
            state = coupon_status(coupon, at).status
            series = coupon.series
            mass = series.kind == series.Kind.MASS
            if state != "valid":
                reason = REASONS[state]
            elif coupon.customer_id is not None and (
                customer is None or customer.pk != coupon.customer_id
            ):
                reason = "coupon_not_for_customer"
            elif series.pk in seen_series:
                reason = "coupon_series_repeated"
            elif mass and series.uses_per_coupon is not None and customer is None:
                reason = "coupon_limit_reached"  # counted per customer: a card is needed
            elif (
                mass
                and series.uses_per_coupon is not None
                and CouponRedemption.objects.filter(
                    coupon=coupon, customer=customer, returned_at__isnull=True
                ).count()
                >= series.uses_per_coupon
            ):
                # "Uses per coupon" of a code for everyone: how often each customer may use it.
                reason = "coupon_used"
            elif (
                not mass
                and coupon.held_for
                and coupon.held_for != holder
                and coupon.held_until is not None
                and coupon.held_until > timezone.now()
                and series.uses_per_coupon is not None
                and series.uses_per_coupon - coupon.uses <= 1
            ):
                reason = "coupon_held"
            elif series.uses_per_customer is not None or series.uses_total is not None:
                if lock and series.uses_total is not None:
                    CouponSeries.objects.select_for_update().filter(pk=series.pk).first()
                used = CouponRedemption.objects.filter(
                    coupon__series=series, returned_at__isnull=True
                )
                if series.uses_per_customer is not None and (
                    customer is None
                    or used.filter(customer=customer).count() >= series.uses_per_customer
                ):
                    reason = "coupon_limit_reached"
                elif series.uses_total is not None and used.count() >= series.uses_total:
                    reason = "coupon_limit_reached"
            if reason is None:
                seen_series.add(series.pk)
        checks.append(CouponCheck(str(raw), coupon, reason))
    return checks


def unlocks(checks) -> tuple[frozenset[int], frozenset[int]]:
    """What the valid coupons unlock: the series of the ordinary ones (their promotions) and
    the prize promotions of the scratch ones."""
    valid = [check.coupon for check in checks if check.reason is None]
    series = frozenset(c.series_id for c in valid if c.prize_id is None)
    prizes = frozenset(c.prize_id for c in valid if c.prize_id is not None)
    return series, prizes


def _used_by(coupon, fired: dict[int, int]) -> bool:
    """Whether a promotion the coupon unlocks fired (``fired``: promotion id -> its series)."""
    if coupon.prize_id is not None:
        return coupon.prize_id in fired
    return coupon.series_id in fired.values()


class CouponApplied(NamedTuple):
    """What became of a code presented on a receipt: ``applied``, or ``rejected`` with the
    reason."""

    code: str
    status: str
    reason: str | None


def coupons_applied(checks, fired: dict[int, int]) -> list[CouponApplied]:
    """Each code presented: applied (a promotion it unlocks fired) or rejected with its
    reason."""
    answer = []
    for check in checks:
        if check.reason is not None:
            answer.append(CouponApplied(check.code, "rejected", check.reason))
        elif _used_by(check.coupon, fired):
            answer.append(CouponApplied(check.code, "applied", None))
        else:
            answer.append(CouponApplied(check.code, "rejected", "conditions_not_met"))
    return answer


def coupons_redeem(receipt, customer, checks, fired: dict[int, int], at: datetime) -> int:
    """Use the applied coupons (confirm, under the locks ``coupons_check`` took: the uses read
    there are current)."""
    from promotions.models import Coupon, CouponRedemption

    used = [
        check.coupon for check in checks if check.reason is None and _used_by(check.coupon, fired)
    ]
    for coupon in used:
        CouponRedemption.objects.create(
            coupon=coupon, receipt=receipt, customer=customer, redeemed_at=at
        )
        uses = coupon.uses + 1
        limit = coupon.series.uses_per_coupon
        if coupon.series.kind == coupon.series.Kind.MASS:
            limit = None  # used up per customer, never for everyone (``coupons_check``)
        status = Coupon.Status.USED if limit is not None and uses >= limit else coupon.status
        Coupon.objects.filter(pk=coupon.pk).update(
            uses=uses, status=status, held_for="", held_until=None
        )
    return len(used)


def coupons_hold(checks, fired: dict[int, int], holder: str, until: datetime) -> list[str]:
    """Reserve the single-use coupons a calculate with a hold applies (under the locks
    ``coupons_check`` took); return their codes."""
    from promotions.models import Coupon

    held = [
        check
        for check in checks
        if check.reason is None
        and _used_by(check.coupon, fired)
        and check.coupon.series.uses_per_coupon is not None
        and check.coupon.series.kind != check.coupon.series.Kind.MASS  # one code for everyone
    ]
    Coupon.objects.filter(pk__in=[check.coupon.pk for check in held]).update(
        held_for=holder, held_until=until
    )
    return [check.code for check in held]


def coupons_release(holder: str) -> int:
    """Release what a hold reserved (cancel, a new calculate with a hold, expiry)."""
    from promotions.models import Coupon

    return Coupon.objects.filter(held_for=holder).update(held_for="", held_until=None)


def coupons_return(receipt, at: datetime) -> int:
    """A cancel or a full refund: the coupons the receipt used are given back (their series
    permitting), once."""
    from django.db.models import F

    from promotions.models import Coupon, CouponRedemption

    back = list(
        redemptions_for_update(
            CouponRedemption.objects.select_related("coupon__series").filter(
                receipt=receipt,
                returned_at__isnull=True,
                coupon__series__returned_on_refund=True,
            )
        )
    )
    for redemption in back:
        CouponRedemption.objects.filter(pk=redemption.pk).update(returned_at=at)
        Coupon.objects.filter(pk=redemption.coupon_id).exclude(
            status=Coupon.Status.WITHDRAWN
        ).update(uses=F("uses") - 1, status=Coupon.Status.ACTIVE)
    return len(back)
