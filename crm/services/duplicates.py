"""Finding customers who are probably one person (``DuplicateSuggestion``, reviewed in the
admin, merged by ``loyalty.services.duplicates``).

Phones and emails cannot repeat (E.164, e-mails without case), so what is looked for is the
same person under two contacts:

- the same first name and birth date and the same last name (``same_name_birth_date``) or one
  a typo of the other: one letter added, missing, changed or two swapped
  (``similar_name_birth_date``); names compared without case, blanks and signs, ё as е;
- the same mailbox written two ways (``same_mailbox``): without case, without a ``+tag``, and
  for Gmail without the dots that Gmail ignores (``Anna.P+shop@gmail.com`` is
  ``annap@gmail.com``), Yandex's domains as one.

The search reads the live customers (not anonymised, not merged) once, in chunks, grouped by
birth date and first name, so it compares a handful of people at a time, never every pair.
Running it again changes nothing; a pair a person said is not one person stays dismissed."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from crm.models import Customer, DuplicateSuggestion

Reason = DuplicateSuggestion.Reason
Status = DuplicateSuggestion.Status
CHUNK = 5000
GMAIL = {"gmail.com", "googlemail.com"}
YANDEX = {"yandex.ru", "ya.ru", "yandex.com", "yandex.by", "yandex.kz", "yandex.ua"}


@dataclass(frozen=True)
class DuplicatesFound:
    pairs: int  # pairs that look like one person now
    new: int  # suggestions created
    obsolete: int  # open suggestions that no longer hold


def name_key(name: str) -> str:
    """A name as compared: lower case, letters only, ё as е, accents dropped."""
    text = unicodedata.normalize("NFKD", (name or "").lower().replace("ё", "е"))
    return "".join(ch for ch in text if ch.isalpha())


def mailbox(email: str | None) -> str | None:
    """The mailbox an address delivers to, as far as the big providers document it."""
    if not email or "@" not in email:
        return None
    local, _at, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    elif domain in YANDEX:
        local, domain = local.replace(".", "-"), "yandex.ru"
    return f"{local}@{domain}" if local else None


def one_typo_apart(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with one letter added, missing or changed, or two neighbours
    swapped (and both are long enough for that to mean something)."""
    if a == b or min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and (a[diff[1]] == b[diff[0]])
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


def _live():
    return Customer.objects.filter(is_anonymised=False, merged_into__isnull=True)


def duplicate_pairs() -> dict[tuple[int, int], set[str]]:
    """Every pair of live customers that look like one person, with why (lower id first)."""
    found: dict[tuple[int, int], set[str]] = defaultdict(set)
    people: dict[tuple, list[tuple[int, str]]] = defaultdict(list)
    rows = (
        _live()
        .filter(birth_date__isnull=False)
        .exclude(first_name="")
        .exclude(last_name="")
        .order_by()
        .values_list("pk", "birth_date", "first_name", "last_name")
    )
    for pk, born, first, last in rows.iterator(chunk_size=CHUNK):
        people[(born, name_key(first))].append((pk, name_key(last)))
    for group in people.values():
        for i, (pk_a, last_a) in enumerate(group):
            for pk_b, last_b in group[i + 1 :]:
                pair = (min(pk_a, pk_b), max(pk_a, pk_b))
                if last_a == last_b:
                    found[pair].add(Reason.SAME_NAME_BIRTH_DATE)
                elif one_typo_apart(last_a, last_b):
                    found[pair].add(Reason.SIMILAR_NAME_BIRTH_DATE)
    boxes: dict[str, list[int]] = defaultdict(list)
    emails = _live().filter(email__isnull=False).order_by().values_list("pk", "email")
    for pk, email in emails.iterator(chunk_size=CHUNK):
        box = mailbox(email)
        if box:
            boxes[box].append(pk)
    for ids in boxes.values():
        for i, pk_a in enumerate(ids):
            for pk_b in ids[i + 1 :]:
                found[(min(pk_a, pk_b), max(pk_a, pk_b))].add(Reason.SAME_MAILBOX)
    return found


@transaction.atomic
def duplicates_find() -> DuplicatesFound:
    """Suggest the pairs found; close the open suggestions that no longer hold (a customer
        merged, anonymised or edited). A decided pair (merged, dismissed) is never suggested
        again; an open one keeps its id and takes the reasons found now, and an obsolete one found
    again is open again."""
    found = duplicate_pairs()
    known = {
        (s.customer_a_id, s.customer_b_id): s
        for s in DuplicateSuggestion.objects.select_for_update().only(
            "pk", "customer_a_id", "customer_b_id", "status", "reasons", "decided_at"
        )
    }
    new = [
        DuplicateSuggestion(customer_a_id=a, customer_b_id=b, reasons=sorted(reasons))
        for (a, b), reasons in found.items()
        if (a, b) not in known
    ]
    DuplicateSuggestion.objects.bulk_create(new, batch_size=1000)
    changed = []
    for pair, suggestion in known.items():
        if pair not in found or suggestion.status not in (Status.OPEN, Status.OBSOLETE):
            continue
        reasons = sorted(found[pair])
        if reasons != suggestion.reasons or suggestion.status == Status.OBSOLETE:
            # an obsolete pair that looks like one person again is to review again
            suggestion.reasons, suggestion.status, suggestion.decided_at = (
                reasons,
                Status.OPEN,
                None,
            )
            changed.append(suggestion)
    DuplicateSuggestion.objects.bulk_update(
        changed, ["reasons", "status", "decided_at"], batch_size=1000
    )
    gone = [s.pk for pair, s in known.items() if s.status == Status.OPEN and pair not in found]
    obsolete = DuplicateSuggestion.objects.filter(pk__in=gone).update(
        status=Status.OBSOLETE, decided_at=timezone.now()
    )
    return DuplicatesFound(pairs=len(found), new=len(new), obsolete=obsolete)


def duplicate_dismiss(*, suggestion: DuplicateSuggestion, user) -> DuplicateSuggestion:
    """A person said the two are not one person: the pair is never suggested again."""
    suggestion.status = Status.DISMISSED
    suggestion.decided_at = timezone.now()
    suggestion.decided_by = user
    suggestion.save(update_fields=["status", "decided_at", "decided_by"])
    return suggestion
