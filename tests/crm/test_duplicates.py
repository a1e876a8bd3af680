"""Possible duplicates (issue 14, data quality): who is found and why, what a second run
changes (nothing), and the review queue's decisions through the admin: merge with the usual
merge service, or dismiss for good."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from crm.models import Customer, DuplicateSuggestion
from crm.services.duplicates import duplicates_find, mailbox, name_key, one_typo_apart
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory

pytestmark = pytest.mark.django_db
Reason = DuplicateSuggestion.Reason
Status = DuplicateSuggestion.Status
BORN = date(1990, 4, 12)


def _pairs() -> dict[tuple[int, int], list[str]]:
    return {
        (s.customer_a_id, s.customer_b_id): s.reasons
        for s in DuplicateSuggestion.objects.filter(status=Status.OPEN)
    }


def _pair(a: Customer, b: Customer) -> tuple[int, int]:
    return (min(a.pk, b.pk), max(a.pk, b.pk))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("Anna.P+shop@Gmail.com", "annap@googlemail.com", True),
        ("anna.p@gmail.com", "annap@gmail.com", True),
        ("ivan.petrov@ya.ru", "ivan-petrov@yandex.ru", True),
        ("anna.p@mail.ru", "annap@mail.ru", False),  # dots count outside Gmail
        ("anna+a@mail.ru", "anna@mail.ru", True),
        ("anna@mail.ru", "anna@bk.ru", False),
    ],
)
def test_the_mailbox_an_address_delivers_to(a, b, expected):
    assert (mailbox(a) == mailbox(b)) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("ivanova", "ivanova", False),  # the same is not a typo
        ("ivanova", "ivanvoa", True),  # two swapped
        ("ivanova", "ivanowa", True),  # one changed
        ("ivanova", "ivanov", True),  # one missing
        ("ivanova", "iivanova", True),  # one added
        ("ivanova", "petrova", False),
        ("li", "lu", False),  # too short to mean anything
    ],
)
def test_one_typo_apart(a, b, expected):
    assert one_typo_apart(a, b) is expected
    assert one_typo_apart(b, a) is expected


@given(st.text(alphabet="abcdefghij", min_size=4, max_size=10), st.data())
def test_one_typo_apart_agrees_with_the_edit_distance(word, data):
    """Against a plain Damerau-Levenshtein distance (optimal string alignment)."""
    other = data.draw(st.text(alphabet="abcdefghij", min_size=3, max_size=11))

    def distance(a: str, b: str) -> int:
        d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i in range(len(a) + 1):
            d[i][0] = i
        for j in range(len(b) + 1):
            d[0][j] = j
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                cost = a[i - 1] != b[j - 1]
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
        return d[len(a)][len(b)]

    expected = min(len(word), len(other)) >= 4 and distance(word, other) == 1
    assert one_typo_apart(word, other) is expected


def test_names_compare_without_case_signs_and_yo():
    assert name_key(" Семёнова-Ли ") == name_key("семенова ли") == "семеновали"


def test_who_is_found_and_why():
    anna = CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    again = CustomerFactory(first_name="anna", last_name="IVANOVA", birth_date=BORN)
    typo = CustomerFactory(first_name="Anna", last_name="Ivanvoa", birth_date=BORN)
    CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=date(1991, 4, 12))
    CustomerFactory(first_name="Olga", last_name="Ivanova", birth_date=BORN)
    CustomerFactory(first_name="Anna", last_name="Ivanova")  # no birth date
    boris = CustomerFactory(first_name="Boris", email="b.orlov@gmail.com")
    boris_again = CustomerFactory(first_name="Borya", email="borlov+promo@gmail.com")

    found = duplicates_find()

    assert _pairs() == {
        _pair(anna, again): [Reason.SAME_NAME_BIRTH_DATE],
        _pair(anna, typo): [Reason.SIMILAR_NAME_BIRTH_DATE],
        _pair(again, typo): [Reason.SIMILAR_NAME_BIRTH_DATE],
        _pair(boris, boris_again): [Reason.SAME_MAILBOX],
    }
    assert (found.pairs, found.new, found.obsolete) == (4, 4, 0)


def test_a_second_run_changes_nothing_and_a_dismissed_pair_stays_dismissed():
    a = CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    b = CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    duplicates_find()
    before = list(DuplicateSuggestion.objects.values())

    again = duplicates_find()

    assert list(DuplicateSuggestion.objects.values()) == before
    assert (again.new, again.obsolete) == (0, 0)
    DuplicateSuggestion.objects.update(status=Status.DISMISSED)
    duplicates_find()
    assert DuplicateSuggestion.objects.get().status == Status.DISMISSED
    assert _pair(a, b) not in _pairs()


def test_a_pair_that_no_longer_holds_is_obsolete_and_open_again_when_it_does():
    a = CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    b = CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    duplicates_find()

    Customer.objects.filter(pk=b.pk).update(birth_date=date(1985, 1, 1))  # a typo corrected
    assert duplicates_find().obsolete == 1
    assert DuplicateSuggestion.objects.get().status == Status.OBSOLETE

    Customer.objects.filter(pk=b.pk).update(birth_date=BORN)
    duplicates_find()
    suggestion = DuplicateSuggestion.objects.get()
    assert (suggestion.status, suggestion.decided_at) == (Status.OPEN, None)
    assert _pair(a, b) in _pairs()


def test_merged_and_anonymised_customers_are_not_suggested():
    keep = CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    gone = CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    Customer.objects.filter(pk=gone.pk).update(merged_into=keep)
    ghost = CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    Customer.objects.filter(pk=ghost.pk).update(is_anonymised=True)

    assert duplicates_find().pairs == 0


@pytest.fixture
def reviewer(client):
    user = get_user_model().objects.create_superuser("office", "o@example.com", "pw-12345678")
    client.force_login(user)
    return user


def test_the_review_page_shows_the_pair_and_merges_keeping_the_chosen_one(client, reviewer):
    keep = CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    gone = CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    card = ActiveCardFactory(customer=gone)
    other = CustomerFactory(first_name="Anna", last_name="Ivanvoa", birth_date=BORN)
    duplicates_find()
    suggestion = DuplicateSuggestion.objects.get(customer_a=keep, customer_b=gone)
    url = reverse("admin:crm_duplicatesuggestion_decide", args=[suggestion.pk])

    page = client.get(url).content.decode()
    assert "the same name and birth date" in page
    assert gone.phone not in page  # masked here
    assert "Merge, keep the first" in page

    response = client.post(url, {"keep": str(keep.pk)})

    assert response.status_code == 302
    gone.refresh_from_db()
    card.refresh_from_db()
    assert gone.merged_into_id == keep.pk
    assert card.customer_id == keep.pk
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.decided_by) == (Status.MERGED, reviewer)
    # the other suggestion about the customer who is gone no longer holds
    about_gone = DuplicateSuggestion.objects.get(customer_a=gone, customer_b=other)
    assert about_gone.status == Status.OBSOLETE
    assert DuplicateSuggestion.objects.get(customer_a=keep, customer_b=other).status == (
        Status.OPEN
    )


def test_not_the_same_person_is_remembered(client, reviewer):
    CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    duplicates_find()
    suggestion = DuplicateSuggestion.objects.get()

    client.post(
        reverse("admin:crm_duplicatesuggestion_decide", args=[suggestion.pk]), {"dismiss": "1"}
    )

    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.decided_by) == (Status.DISMISSED, reviewer)
    assert Customer.objects.filter(merged_into__isnull=False).count() == 0


def test_a_bad_decision_changes_nothing(client, reviewer):
    a = CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    stranger = CustomerFactory()
    duplicates_find()
    suggestion = DuplicateSuggestion.objects.get()
    url = reverse("admin:crm_duplicatesuggestion_decide", args=[suggestion.pk])

    client.post(url, {"keep": str(stranger.pk)})  # not one of the pair
    client.post(url, {"keep": "not-a-number"})

    suggestion.refresh_from_db()
    assert suggestion.status == Status.OPEN
    assert Customer.objects.filter(merged_into__isnull=False).count() == 0
    # and a decided pair cannot be decided again
    client.post(url, {"keep": str(a.pk)})
    client.post(url, {"dismiss": "1"})
    suggestion.refresh_from_db()
    assert suggestion.status == Status.MERGED


def test_the_queue_lists_the_open_pairs(client, reviewer):
    CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    duplicates_find()

    page = client.get(reverse("admin:crm_duplicatesuggestion_changelist")).content.decode()

    assert "the same name and birth date" in page
    assert "duplicate-review" in page


def test_the_nightly_task_is_scheduled():
    from django_celery_beat.models import PeriodicTask

    from loyalty.tasks import duplicates_find_task

    CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    CustomerFactory(first_name="Anna", last_name="Ivanova", birth_date=BORN)
    assert PeriodicTask.objects.get(task="loyalty.duplicates_find").enabled
    assert duplicates_find_task() == {"pairs": 1, "new": 1, "obsolete": 0}
