"""Gift cards and certificates: emission, activation, payment at the register, refunds and
expiry, each movement an entry of the certificate's own ledger.

- ``certificates_emit``: new certificates of a series with codes that cannot be guessed (16
  characters of an alphabet without characters read alike: 31**16, about 7e23 codes).
- ``certificate_activate``: a sold certificate receives its nominal (an ``activate`` entry);
  its end is the series' lifetime after activation, or the series' end, the earlier.
- ``certificates_check``: what the codes a receipt presents may pay (balance less what other
  receipts hold), with the reason of each refused one; ``lock`` reads them under row locks in
  primary-key order, as confirm does, so two registers paying with one certificate at once
  take turns and the second sees what the first left.
- ``certificates_redeem``: confirm's payment, split over the certificates in the order given
  and over the receipt's lines; a single-use certificate burns what it leaves.
- ``certificates_refund``: a refund gives each certificate back its share of the returned
  lines (the same cumulative shares as the points); a cancel restores a single-use certificate
  whole. Money a certificate cannot take back (it has expired or is blocked, or it was single
  use and the receipt is only partly returned) is paid back by the register in money.
- ``certificates_expire``: the beat job that burns the balance of certificates at their end.

Invariants: a balance never goes below zero nor above the nominal (CHECK constraints), and it
always equals the sum of the certificate's entries (``check_ledger``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.errors import CertificateNotFound, CertificateStateInvalid
from loyalty.locks import certificates_for_update
from loyalty.models import (
    CertificateEntry,
    CertificateHold,
    CertificateSeries,
    GiftCertificate,
)
from loyalty.money import allocate, quantize, share
from loyalty.validators import CODE_ALPHABET

ZERO = Decimal("0.00")
CODE_LENGTH = 16
MAX_EMISSION = 1_000_000
MAX_PER_RECEIPT = 10


def normalize_code(code: object) -> str:
    """A code as stored: any case, spaces and dashes ignored."""
    return "".join(str(code).split()).replace("-", "").upper()


def display_code(code: str) -> str:
    """A code in groups of four, for printing: ``7HQ2-K9RT-...``."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# --- Emission and activation ---------------------------------------------------------------


@transaction.atomic
def certificates_emit(
    series: CertificateSeries, count: int, *, user=None, at: datetime | None = None
) -> list[GiftCertificate]:
    """Create ``count`` certificates of ``series``; those of an electronic series (activation
    on emission) are active at once."""
    if count < 1 or count > MAX_EMISSION:
        raise ValidationError(
            _("Emit between 1 and %(max)s certificates at a time.") % {"max": MAX_EMISSION}
        )
    at = at or timezone.now()
    made: list[GiftCertificate] = []
    codes: set[str] = set()
    while len(codes) < count:
        wanted = count - len(codes)
        fresh = {_code() for _ in range(wanted)} - codes
        fresh -= set(GiftCertificate.objects.filter(code__in=fresh).values_list("code", flat=True))
        codes |= fresh
    for chunk in _chunks(sorted(codes), 5000):
        made += GiftCertificate.objects.bulk_create(
            [GiftCertificate(series=series, code=code, nominal=series.nominal) for code in chunk]
        )
    if series.activation == CertificateSeries.Activation.ON_EMISSION:
        made = [certificate_activate(c, at=at, user=user, series=series) for c in made]
    return made


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _end(series: CertificateSeries, activated: datetime) -> datetime | None:
    ends = []
    if series.lifetime_days:
        ends.append(activated + timedelta(days=series.lifetime_days))
    if series.valid_until:
        ends.append(series.valid_until)
    return min(ends) if ends else None


@transaction.atomic
def certificate_activate(
    certificate: GiftCertificate,
    *,
    at: datetime | None = None,
    user=None,
    terminal=None,
    customer=None,
    series: CertificateSeries | None = None,
) -> GiftCertificate:
    """Sell a certificate: it receives its nominal and its end. Activating an active one again
    changes nothing (a retry)."""
    at = at or timezone.now()
    certificate = GiftCertificate.objects.select_for_update().get(pk=certificate.pk)
    series = series or certificate.series
    if certificate.status == GiftCertificate.Status.ACTIVE:
        return certificate
    if certificate.status != GiftCertificate.Status.NEW:
        raise CertificateStateInvalid(
            _("Only a new certificate can be activated; this one is %(status)s.")
            % {"status": certificate.get_status_display()},
            status=certificate.status,
        )
    end = _end(series, at)
    if end is not None and end <= at:
        raise CertificateStateInvalid(_("The series has ended."), status="expired")
    certificate.status = GiftCertificate.Status.ACTIVE
    certificate.balance = certificate.nominal
    certificate.activated_at = at
    certificate.expires_at = end
    if customer is not None:
        certificate.customer = customer
    certificate.save(update_fields=["status", "balance", "activated_at", "expires_at", "customer"])
    _entry(
        certificate,
        CertificateEntry.Kind.ACTIVATE,
        certificate.nominal,
        certificate.balance,
        terminal=terminal,
        user=user,
        at=at,
    )
    return certificate


@transaction.atomic
def certificate_block(certificate: GiftCertificate, reason: str, *, user=None) -> GiftCertificate:
    """Stop a certificate paying (lost, stolen, disputed); its balance stays for an unblock."""
    if not reason.strip():
        raise CertificateStateInvalid(_("Say why the certificate is blocked."))
    certificate = GiftCertificate.objects.select_for_update().get(pk=certificate.pk)
    if certificate.status != GiftCertificate.Status.ACTIVE:
        raise CertificateStateInvalid(
            _("Only an active certificate can be blocked; this one is %(status)s.")
            % {"status": certificate.get_status_display()},
            status=certificate.status,
        )
    certificate.status = GiftCertificate.Status.BLOCKED
    certificate.blocked_reason = reason.strip()[:300]
    certificate.save(update_fields=["status", "blocked_reason"])
    return certificate


@transaction.atomic
def certificate_unblock(certificate: GiftCertificate, *, user=None) -> GiftCertificate:
    certificate = GiftCertificate.objects.select_for_update().get(pk=certificate.pk)
    if certificate.status != GiftCertificate.Status.BLOCKED:
        raise CertificateStateInvalid(_("The certificate is not blocked."))
    certificate.status = (
        GiftCertificate.Status.ACTIVE if certificate.balance > 0 else GiftCertificate.Status.USED
    )
    certificate.blocked_reason = ""
    certificate.save(update_fields=["status", "blocked_reason"])
    return certificate


# --- State ---------------------------------------------------------------------------------


def certificate_state(certificate: GiftCertificate, at: datetime) -> str:
    """new | active | used | expired | blocked, as of ``at`` (an end passed is expiry even
    before the job has burnt the balance)."""
    status = certificate.status
    if status == GiftCertificate.Status.ACTIVE:
        if certificate.expires_at is not None and certificate.expires_at <= at:
            return GiftCertificate.Status.EXPIRED
        if certificate.balance <= 0:
            return GiftCertificate.Status.USED
    return status


def certificate_find(code: str, programme_id: int | None) -> GiftCertificate:
    """The certificate of a code in a programme (any case, spaces and dashes ignored)."""
    certificate = None
    if programme_id is not None:  # every series has a programme: none finds nothing
        certificate = (
            GiftCertificate.objects.select_related("series")
            .filter(code=normalize_code(code)[:40], series__programme_id=programme_id)
            .first()
        )
    if certificate is None:
        raise CertificateNotFound(code=str(code)[:40])
    return certificate


def certificate_status(certificate: GiftCertificate, partner_id: int | None = None) -> dict:
    """What ``GET /api/v1/certificates/{code}`` tells a register."""
    now = timezone.now()
    held = _held_by_others([certificate.pk], "", now).get(certificate.pk, ZERO)
    state = certificate_state(certificate, now)
    accepted = partner_id is None or certificate_accepted(certificate.series, partner_id)
    return {
        "code": certificate.code,
        "status": state,
        "kind": certificate.series.kind,
        "series": certificate.series.code,
        "nominal": str(certificate.nominal),
        "balance": str(certificate.balance),
        "available": str(max(certificate.balance - held, ZERO))
        if state == GiftCertificate.Status.ACTIVE
        else "0.00",
        "expires_at": certificate.expires_at.isoformat() if certificate.expires_at else None,
        "single_use": certificate.series.single_use,
        "accepted_here": accepted,
    }


def certificate_accepted(series: CertificateSeries, partner_id: int) -> bool:
    partners = series.__dict__.get("_partner_ids")  # cached on the instance, as below
    if partners is None:
        partners = set(series.partners.values_list("pk", flat=True))
        series.__dict__["_partner_ids"] = partners
    return not partners or partner_id in partners


def _held_by_others(ids: Iterable[int], key: str, now: datetime) -> dict[int, Decimal]:
    rows = (
        CertificateHold.objects.filter(certificate_id__in=list(ids), expires_at__gt=now)
        .exclude(key=key)
        .values("certificate_id")
        .annotate(total=Sum("amount"))
    )
    # (SQLite adds decimals as binary floats: round the sums.)
    return {row["certificate_id"]: quantize(Decimal(row["total"])) for row in rows}


# --- At the register -----------------------------------------------------------------------


# Why a certificate in a state other than active cannot pay (``certificate_state``).
STATE_REASONS: dict[str, str] = {
    GiftCertificate.Status.NEW: "certificate_not_active",
    GiftCertificate.Status.USED: "certificate_used",
    GiftCertificate.Status.EXPIRED: "certificate_expired",
    GiftCertificate.Status.BLOCKED: "certificate_blocked",
}


@dataclass
class CertificateCheck:
    code: str  # as stored (normalised)
    requested: Decimal | None  # what the register asks it to pay; None: as much as it can
    certificate: GiftCertificate | None = None
    reason: str | None = None
    available: Decimal = ZERO  # what it may pay on this receipt
    applied: Decimal = ZERO  # what it pays (after the engine)


def certificates_check(
    wanted: Sequence[tuple[str, Decimal | None]],
    programme_id: int,
    partner_id: int,
    at: datetime,
    *,
    lock: bool = False,
    key: str = "",
) -> list[CertificateCheck]:
    """Check the certificates a receipt pays with (one query, two with holds)."""
    checks = [CertificateCheck(normalize_code(code), amount) for code, amount in wanted]
    rows = GiftCertificate.objects.select_related("series").filter(
        code__in={check.code for check in checks}, series__programme_id=programme_id
    )
    if lock:
        rows = certificates_for_update(rows)
    found = {certificate.code: certificate for certificate in rows}
    now = timezone.now()
    held = _held_by_others([c.pk for c in found.values()], key, now) if found else {}
    seen: set[str] = set()
    for check in checks:
        certificate = found.get(check.code)
        check.certificate = certificate
        if certificate is None:
            check.reason = "certificate_not_found"
            continue
        state = certificate_state(certificate, at)
        if check.code in seen:
            check.reason = "certificate_repeated"
        elif state != GiftCertificate.Status.ACTIVE:
            check.reason = STATE_REASONS[state]
        elif not certificate_accepted(certificate.series, partner_id):
            check.reason = "certificate_not_accepted_here"
        else:
            free = certificate.balance - held.get(certificate.pk, ZERO)
            if free <= 0:
                check.reason = "certificate_held"
            else:
                check.available = (
                    free if check.requested is None else min(free, quantize(check.requested))
                )
        seen.add(check.code)
    return checks


def certificates_funds(checks: Sequence[CertificateCheck] | None) -> Decimal:
    return sum((check.available for check in checks or () if check.reason is None), ZERO)


def certificates_apply(checks: Sequence[CertificateCheck], paid: Decimal) -> None:
    """Split what the engine let the certificates pay over them, in the order given."""
    left = paid
    for check in checks:
        check.applied = ZERO
        if check.reason is None and left > 0:
            check.applied = min(check.available, left)
            left -= check.applied


class CertificateApplied(NamedTuple):
    """What became of a certificate presented on a receipt: ``applied`` (what it pays, its
    balance before and after) or ``rejected`` with the reason."""

    code: str
    status: str
    reason: str | None = None
    amount: Decimal | None = None
    balance_before: Decimal | None = None
    balance_after: Decimal | None = None


def certificates_applied(checks: Sequence[CertificateCheck] | None) -> list[CertificateApplied]:
    answer = []
    for check in checks or ():
        if check.reason is not None:
            answer.append(CertificateApplied(check.code, "rejected", check.reason))
        elif check.applied <= 0:
            answer.append(CertificateApplied(check.code, "rejected", "nothing_to_pay"))
        else:
            certificate = check.certificate
            assert certificate is not None  # no reason: found
            balance = certificate.balance
            after = ZERO if certificate.series.single_use else balance - check.applied
            answer.append(
                CertificateApplied(check.code, "applied", None, check.applied, balance, after)
            )
    return answer


def certificates_hold(
    checks: Sequence[CertificateCheck], key: str, until: datetime
) -> list[tuple[str, Decimal]]:
    """Reserve what a calculate with a hold lets the certificates pay (under their locks)."""
    CertificateHold.objects.filter(key=key).delete()
    held = [check for check in checks if check.reason is None and check.applied > 0]
    CertificateHold.objects.bulk_create(
        [
            CertificateHold(
                certificate=check.certificate, key=key, amount=check.applied, expires_at=until
            )
            for check in held
        ]
    )
    return [(check.code, check.applied) for check in held]


def certificates_release(key: str) -> int:
    return CertificateHold.objects.filter(key=key).delete()[0]


def certificates_redeem(
    receipt,
    checks: Sequence[CertificateCheck],
    per_line: dict[int, Decimal],
    terminal,
    now,
    key: str,
) -> None:
    """Confirm's payment (under the locks ``certificates_check`` took): each certificate's
    part, split over the lines in proportion to what the certificates pay on each."""
    left = dict(per_line)
    paying = [check for check in checks if check.reason is None and check.applied > 0]
    for n, check in enumerate(paying):
        nos = [no for no, amount in sorted(left.items()) if amount > 0]
        if n == len(paying) - 1:
            parts = [left[no] for no in nos]
        else:
            parts = allocate(check.applied, [left[no] for no in nos])
        lines = {}
        for no, part in zip(nos, parts, strict=True):
            if part:
                lines[str(no)] = str(part)
                left[no] -= part
        certificate = check.certificate
        assert certificate is not None  # no reason: found
        balance = certificate.balance - check.applied
        _entry(
            certificate,
            CertificateEntry.Kind.REDEEM,
            -check.applied,
            balance,
            receipt=receipt,
            terminal=terminal,
            at=now,
            lines=lines,
        )
        if certificate.series.single_use and balance > 0:
            _entry(
                certificate,
                CertificateEntry.Kind.BURN,
                -balance,
                ZERO,
                receipt=receipt,
                terminal=terminal,
                at=now,
            )
            balance = ZERO
        status = GiftCertificate.Status.USED if balance <= 0 else GiftCertificate.Status.ACTIVE
        updated = GiftCertificate.objects.filter(
            pk=certificate.pk, balance=certificate.balance
        ).update(balance=balance, status=status)
        if updated != 1:  # pragma: no cover - the row lock makes this impossible
            raise CertificateStateInvalid(_("The certificate changed during the payment."))
        certificate.balance, certificate.status = balance, status
    CertificateHold.objects.filter(key=key).delete()  # the receipt's hold is consumed


def _entry(
    certificate,
    kind,
    amount,
    balance_after,
    *,
    at,
    receipt=None,
    refund=None,
    terminal=None,
    user=None,
    lines=None,
    note="",
):
    CertificateEntry.objects.create(
        certificate=certificate,
        kind=kind,
        amount=amount,
        balance_after=balance_after,
        receipt=receipt,
        refund=refund,
        terminal=terminal,
        partner=terminal.store.partner if terminal is not None else None,
        user=user,
        lines=lines or {},
        note=note,
        created_at=at,
    )


def certificates_refund(receipt, refund, moved: dict[int, tuple], terminal, now, *, cancel: bool):
    """Give the certificates that paid for ``receipt`` their share of the lines a refund
    returns. ``moved``: line number -> (quantity returned before, after, line quantity).
    Returns (the answer's entries, money the register pays back instead)."""
    payments = list(
        CertificateEntry.objects.filter(
            receipt=receipt, kind=CertificateEntry.Kind.REDEEM
        ).order_by("pk")
    )
    if not payments:
        return [], ZERO
    certificates = {
        c.pk: c
        for c in certificates_for_update(
            GiftCertificate.objects.select_related("series").filter(
                pk__in={p.certificate_id for p in payments}
            )
        )
    }
    answer, cash = [], ZERO
    for payment in payments:
        certificate = certificates[payment.certificate_id]
        lines = {}
        for key, value in payment.lines.items():
            if int(key) not in moved:
                continue
            before, after, whole = moved[int(key)]
            paid = Decimal(value)
            part = share(paid, after, whole, 2) - share(paid, before, whole, 2)
            if part:
                lines[key] = str(part)
        back = sum((Decimal(v) for v in lines.values()), ZERO)
        if back <= 0:
            continue
        state = certificate_state(certificate, now)
        single = certificate.series.single_use
        returnable = state in (GiftCertificate.Status.ACTIVE, GiftCertificate.Status.USED) and (
            not single or cancel
        )
        if not returnable:
            cash += back
            answer.append({"code": certificate.code, "amount": str(back), "to": "money"})
            continue
        balance = certificate.balance + back
        _entry(
            certificate,
            CertificateEntry.Kind.REFUND,
            back,
            balance,
            receipt=receipt,
            refund=refund,
            terminal=terminal,
            at=now,
            lines=lines,
        )
        if single and cancel:
            burnt = -sum(
                (
                    e.amount
                    for e in CertificateEntry.objects.filter(
                        receipt=receipt, certificate=certificate, kind=CertificateEntry.Kind.BURN
                    )
                ),
                ZERO,
            )
            if burnt > 0:
                balance += burnt
                _entry(
                    certificate,
                    CertificateEntry.Kind.REFUND,
                    burnt,
                    balance,
                    receipt=receipt,
                    refund=refund,
                    terminal=terminal,
                    at=now,
                    note="burn reversed",
                )
        GiftCertificate.objects.filter(pk=certificate.pk).update(
            balance=balance, status=GiftCertificate.Status.ACTIVE
        )
        certificate.balance, certificate.status = balance, GiftCertificate.Status.ACTIVE
        answer.append(
            {
                "code": certificate.code,
                "amount": str(back),
                "to": "certificate",
                "balance_after": str(balance),
            }
        )
    return answer, cash


# --- Expiry --------------------------------------------------------------------------------


def certificates_expire(now: datetime | None = None, batch: int = 500) -> int:
    """Burn the balance of the certificates whose end has come; idempotent, one short
    transaction per batch, safe beside payments (the rows are locked, skipping those a
    register holds: the next run takes them)."""
    now = now or timezone.now()
    done = 0
    while True:
        with transaction.atomic():
            due = list(
                GiftCertificate.objects.filter(
                    status__in=[GiftCertificate.Status.ACTIVE, GiftCertificate.Status.BLOCKED],
                    expires_at__lte=now,
                )
                .select_for_update(skip_locked=True)
                .order_by("pk")[:batch]
            )
            if not due:
                return done
            for certificate in due:
                if certificate.balance > 0:
                    _entry(
                        certificate,
                        CertificateEntry.Kind.EXPIRE,
                        -certificate.balance,
                        ZERO,
                        at=now,
                    )
            GiftCertificate.objects.filter(pk__in=[c.pk for c in due]).update(
                balance=ZERO, status=GiftCertificate.Status.EXPIRED
            )
            CertificateHold.objects.filter(certificate__in=due).delete()
            done += len(due)


def certificates_unbalanced() -> list[str]:
    """Codes of certificates whose balance is not the sum of their entries (should be none)."""
    sums = CertificateEntry.objects.values("certificate_id").annotate(total=Sum("amount"))
    totals = {row["certificate_id"]: quantize(Decimal(row["total"])) for row in sums}
    wrong = []
    for pk, code, balance in GiftCertificate.objects.filter(
        Q(balance__gt=0) | Q(pk__in=list(totals))
    ).values_list("pk", "code", "balance"):
        if totals.get(pk, ZERO) != balance:
            wrong.append(code)
    return wrong


__all__ = [
    "CertificateCheck",
    "CertificateNotFound",
    "CertificateStateInvalid",
    "certificate_activate",
    "certificate_block",
    "certificate_find",
    "certificate_state",
    "certificate_status",
    "certificate_unblock",
    "certificates_applied",
    "CertificateApplied",
    "certificates_apply",
    "certificates_check",
    "certificates_emit",
    "certificates_expire",
    "certificates_funds",
    "certificates_hold",
    "certificates_redeem",
    "certificates_refund",
    "certificates_release",
    "certificates_unbalanced",
]


CERTIFICATE_CSV_HEADER = ["series", "code", "printed_code", "nominal", "status", "expires_at"]


def certificate_export_rows(series_queryset) -> Iterable[list[str]]:
    """The printing house's rows of the series' certificates, streamed in code order."""
    rows = (
        GiftCertificate.objects.filter(series__in=series_queryset)
        .order_by("series__code", "code")
        .values_list("series__code", "code", "nominal", "status", "expires_at")
        .iterator(chunk_size=5000)
    )
    for series, code, nominal, status, expires in rows:
        yield [
            series,
            code,
            display_code(code),
            str(nominal),
            status,
            expires.isoformat() if expires else "",
        ]
