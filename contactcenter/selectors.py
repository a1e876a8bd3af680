"""Reads of the operator console: finding a customer and everything shown about them.

Each read is one query (or one per related table): the console page stays fast whatever the
customer's history, since lists are cut to the last ``RECENT`` rows with links to the full
history in the admin.
"""

from __future__ import annotations

from django.db.models import Count, OuterRef, Prefetch, Q, Subquery, Sum, Value
from django.utils.translation import gettext

from communications.models import Message
from contactcenter.models import Adjustment, Ticket
from crm.models import (
    Car,
    Customer,
    FamilyMember,
    MemorableDate,
    ProfileAnswer,
    SegmentMember,
    SegmentMembershipChange,
)
from crm.selectors import phone_parse
from loyalty.models import (
    Account,
    Card,
    LedgerEntry,
    Lot,
    Receipt,
    ReceiptLine,
    ReceiptLineReward,
    RfmCell,
    RfmCellChange,
    RfmScore,
    TierMembership,
)
from promotions.models import Coupon, TriggerFiring

RECENT = 10
SEARCH_LIMIT = 50


def customer_search(query: str) -> list[Customer]:
    """Customers matching ``query``: a phone in any notation, a card number, an email, or
    (parts of) a name. Merged-away customers are left out; at most ``SEARCH_LIMIT``."""
    text = " ".join((query or "").split())
    if not text:
        return []
    condition = Q()
    phone = phone_parse(text)
    if phone is not None:
        condition |= Q(phone=phone)
    compact = text.replace(" ", "").replace("-", "")
    if compact.isalnum():
        condition |= Q(pk__in=Card.objects.filter(number=compact).values("customer_id"))
    if "@" in text:
        condition |= Q(email__iexact=text)
    elif not any(ch.isdigit() for ch in text):
        words = Q()
        for word in text.split():
            words &= (
                Q(last_name__icontains=word)
                | Q(first_name__icontains=word)
                | Q(middle_name__icontains=word)
            )
        condition |= words
    if not condition:
        return []
    return list(
        Customer.objects.filter(condition, merged_into__isnull=True).order_by(
            "last_name", "first_name", "pk"
        )[:SEARCH_LIMIT]
    )


def customer_console(customer: Customer) -> dict:
    """What the console shows about ``customer``: cards, balances with their lots, recent
    receipts, ledger entries, messages, coupons, tiers, tickets and adjustments."""
    open_lots = Lot.objects.exclude(remaining=0).order_by("expires_at", "entry_id")
    accounts = list(
        Account.objects.filter(kind=Account.Kind.CUSTOMER, customer=customer)
        .select_related("currency")
        .prefetch_related(Prefetch("lots", queryset=open_lots, to_attr="open_lots"))
        .order_by("currency__code")
    )
    return {
        "cards": list(
            Card.objects.filter(customer=customer).select_related("programme").order_by("-pk")
        ),
        "accounts": accounts,
        "receipts": list(
            Receipt.objects.filter(customer=customer)
            .select_related("store__partner", "currency")
            .prefetch_related(
                Prefetch(
                    "lines",
                    queryset=ReceiptLine.objects.select_related("product").order_by("line_no"),
                )
            )
            .order_by("-sold_at")[:RECENT]
        ),
        "entries": list(
            LedgerEntry.objects.filter(account__customer=customer)
            .select_related("currency", "posting", "posting__user")
            .order_by("-pk")[:RECENT]
        ),
        "coupons": list(
            Coupon.objects.filter(customer=customer)
            .select_related("series")
            .order_by("-pk")[:RECENT]
        ),
        "tiers": list(
            TierMembership.objects.filter(customer=customer)
            .select_related("tier", "programme")
            .order_by("programme_id")
        ),
        **_tickets(customer),
        "customer_messages": list(
            Message.objects.filter(customer=customer).order_by("-created_at")[:RECENT]
        ),
        "adjustments": list(
            Adjustment.objects.filter(customer=customer)
            .select_related("currency", "requested_by", "decided_by", "ticket")
            .order_by("-requested_at", "-pk")[:RECENT]
        ),
    }


def _tickets(customer: Customer) -> dict:
    """The open tickets, and the last closed ones, in one query."""
    tickets = list(
        Ticket.objects.filter(customer=customer)
        .select_related("category", "assignee")
        .order_by("-created_at")
    )
    closed = [t for t in tickets if t.status == Ticket.Status.CLOSED]
    return {
        "tickets": [t for t in tickets if t.status != Ticket.Status.CLOSED],
        "closed_tickets": closed[:RECENT],
    }


def customer_profile(customer: Customer) -> dict:
    """The customer 360's profile part: questionnaire answers with their questions, family,
    cars, memorable dates, and segments with their history (``customer_segments``)."""
    answers = (
        ProfileAnswer.objects.filter(customer=customer, question__is_active=True)
        .select_related("question")
        .order_by("question__position", "question_id")
    )
    return {
        "answers": [
            {"question": answer.question.label, "answer": _answer_shown(answer.value)}
            for answer in answers
        ],
        "family": list(FamilyMember.objects.filter(customer=customer).order_by("birth_date")),
        "cars": list(Car.objects.filter(customer=customer).order_by("pk")),
        "dates": list(MemorableDate.objects.filter(customer=customer).order_by("date")),
        **customer_segments(customer),
    }


def customer_segments(customer: Customer) -> dict:
    """The segments part of the 360: each segment the customer is in with when they entered
    it (``added_at``: a refresh adds its entrants as of its moment), and the last ``RECENT``
    entries and exits their refreshes recorded (``SegmentMembershipChange``). One query
    each; another segmentation (the RFM cell...) adds its own keys beside these."""
    return {
        "segments": list(
            SegmentMember.objects.filter(customer=customer)
            .select_related("segment")
            .order_by("segment__name", "segment_id")
        ),
        "segment_history": list(
            SegmentMembershipChange.objects.filter(customer=customer)
            .select_related("segment")
            .order_by("-at", "-pk")[:RECENT]
        ),
    }


def customer_rfm(customer: Customer) -> dict:
    """The customer's RFM cell in each scheme (as of its last run) and their last cell
    changes, each with its cell's name read in the same query (two queries)."""

    def name_of(code_field: str) -> Subquery:
        return Subquery(
            RfmCell.objects.filter(scheme_id=OuterRef("scheme_id"), code=OuterRef(code_field))
            .order_by()
            .values("name")[:1]
        )

    scores = list(
        RfmScore.objects.filter(customer=customer)
        .select_related("scheme")
        .annotate(shown_name=name_of("cell"))
        .order_by("scheme__name")
    )
    changes = list(
        RfmCellChange.objects.filter(customer=customer)
        .select_related("scheme")
        .annotate(shown_from=name_of("from_cell"), shown_to=name_of("to_cell"))
        .order_by("-at", "-pk")[:RECENT]
    )
    for score in scores:
        score.cell_name = score.shown_name or score.cell
    for change in changes:
        change.from_name = change.shown_from or change.from_cell
        change.to_name = change.shown_to or change.to_cell
    return {"rfm_scores": scores, "rfm_changes": changes}


def _answer_shown(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    return str(value)


def promotions_received(customer: Customer) -> list[dict]:
    """What each promotion gave the customer: on receipts (discounts and points, net of
    refunds, with the receipts) and for occasions (birthdays, events...), most recent first."""
    given = (
        ReceiptLineReward.objects.filter(line__receipt__customer=customer)
        .order_by()
        .values("promotion_id", "promotion__name", "effect")
        .annotate(amount=Sum("amount"), times=Count("line__receipt", distinct=True))
    )
    occasions = (
        TriggerFiring.objects.filter(customer=customer)
        .order_by()
        .values("promotion_id", "promotion__name")
        .annotate(effect=Value("occasion"), amount=Sum("given"), times=Count("pk"))
        .values("promotion_id", "promotion__name", "effect", "amount", "times")
    )
    rows: dict[int, dict] = {}
    for row in given.union(occasions, all=True):
        entry = rows.setdefault(
            row["promotion_id"],
            {"name": row["promotion__name"], "receipts": 0, "discount": 0, "points": 0},
        )
        if row["effect"] == "occasion":
            entry["occasions"] = row["times"]
        else:
            entry["receipts"] = max(entry["receipts"], row["times"])
            entry["discount" if row["effect"] == "discount" else "points"] += row["amount"] or 0
    return sorted(rows.values(), key=lambda entry: entry["name"])


def adjustments_pending() -> list[Adjustment]:
    """Adjustments waiting for a supervisor, oldest first."""
    return list(
        Adjustment.objects.filter(status=Adjustment.Status.PENDING)
        .select_related("customer", "currency", "requested_by", "ticket")
        .order_by("requested_at", "pk")
    )
