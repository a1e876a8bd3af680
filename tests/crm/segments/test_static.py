"""Static segments from a list (loyalty.services.segment_import, crm.segments.static): phones,
cards and emails read as the register reads them, the header found or chosen, CSV with a BOM,
semicolons and quotes, XLSX, every kind of rejected row with its reason, merged and anonymised
customers, add and replace with their history, retries, rule segments refused, and a
10,000-row list applied with a number of queries that does not grow with the rows. Runs on
SQLite and, with DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.errors import SegmentIsRefreshed
from crm.models import Customer, Segment, SegmentMember, SegmentMembershipChange
from crm.segments.static import segment_members_set
from loyalty.models import SegmentImport
from loyalty.services.import_jobs import (
    import_job_bad_rows,
    import_job_confirm,
    import_job_rerun,
    import_job_run,
    import_job_summary,
)
from tests.factories.crm import CustomerFactory, SegmentFactory
from tests.factories.loyalty import ActiveCardFactory, CardFactory, ProgrammeFactory
from tests.loyalty.imports_helpers import xlsx_bytes

pytestmark = pytest.mark.django_db

WOMEN = {"op": "and", "items": [{"kind": "gender", "genders": ["female"]}]}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.IMPORT_CHUNK_ROWS = 3  # several chunks even in small files


@pytest.fixture
def segment():
    return SegmentFactory(kind=Segment.Kind.MANUAL)


def members(segment) -> set[int]:
    return set(SegmentMember.objects.filter(segment=segment).values_list("customer_id", flat=True))


def history(segment) -> list[tuple[int, str]]:
    return sorted(
        SegmentMembershipChange.objects.filter(segment=segment).values_list("customer_id", "change")
    )


def list_job(segment, data: str | bytes, *, name="list.csv", **options) -> SegmentImport:
    job = SegmentImport(segment=segment, **options)
    job.file.save(name, ContentFile(data.encode() if isinstance(data, str) else data), save=False)
    job.save()
    return job


def checked(segment, data, **options) -> SegmentImport:
    return import_job_run(list_job(segment, data, **options))


def reasons(job) -> dict[int, str]:
    return dict(job.row_errors.values_list("row", "reasons"))


# --- Each kind of identifier ---------------------------------------------------------------


def test_phones_are_normalised_and_adding_records_who_entered(segment):
    # given two customers, and a list with their phones as people write them
    anna = CustomerFactory(phone="+79001112233")
    olga = CustomerFactory(phone="+79001112244")
    data = (
        "phone\n8 900 111-22-33\n+7 (900) 111-22-44\nnot a phone\n+7 999 000-00-00\n79001112233\n"
    )

    # when the list is checked
    job = checked(segment, data)

    # then the preview counts each outcome and lists each rejected row with its reason
    assert job.status == SegmentImport.Status.CHECKED
    assert (job.column, job.read_as) == ("phone", "phone")
    assert (job.found, job.not_found, job.bad_format, job.duplicates) == (2, 1, 1, 1)
    assert (job.new_rows, job.changed_rows, job.unchanged_rows, job.error_count) == (2, 0, 0, 3)
    assert import_job_summary(job) == ("5 rows: 2 to enter, 0 already members, 3 errors")
    errors = reasons(job)
    assert "not a phone" in errors[3]
    assert errors[4] == "No customer has the phone +79990000000."
    assert errors[5] == "The same customer as row 1."
    assert not members(segment)  # the check writes nothing

    # when it is applied
    job = import_job_confirm(job)

    # then both entered, with a history row naming no refresh, and the size is kept
    assert job.status == SegmentImport.Status.DONE, job.failure
    assert members(segment) == {anna.pk, olga.pk}
    assert history(segment) == sorted([(anna.pk, "entered"), (olga.pk, "entered")])
    assert not SegmentMembershipChange.objects.filter(refresh__isnull=False).exists()
    assert (job.entered, job.left, job.size) == (2, 0, 2)
    segment.refresh_from_db()
    assert segment.size == 2
    assert import_job_summary(job) == (
        "5 rows: 2 entered, 0 left, 0 already members, 3 errors (2 members now)."
    )


def test_cards_are_looked_up_in_the_segments_programme_only(segment):
    # given cards of the segment's programme, one of another programme, one given to nobody
    mine = ActiveCardFactory(programme=segment.programme, number="2799000000017")
    unissued = CardFactory(programme=segment.programme, number="2799000000024")
    other = ActiveCardFactory(programme=ProgrammeFactory(code="other"), number="2799000000031")
    data = (
        "card_number\n2799 0000 0001 7\n2799000000024\n2799000000031\nab!12\n"
        f"{mine.number.lower()}\n"
    )

    # when
    job = checked(segment, data)

    # then
    assert job.read_as == "card"
    assert (job.found, job.not_found, job.bad_format, job.duplicates) == (1, 2, 1, 1)
    errors = reasons(job)
    assert errors[2] == f"The card {unissued.number} is not given to a customer."
    assert errors[3] == f"No card {other.number} in the programme {segment.programme}."
    assert "is not a card number" in errors[4]
    job = import_job_confirm(job)
    assert members(segment) == {mine.customer_id}


def test_emails_are_trimmed_and_lower_cased(segment):
    # given
    anna = CustomerFactory(email="anna@mail.example")
    olga = CustomerFactory(email="Olga@Mail.Example")  # lower-cased when saved (crm.contacts)
    data = "E-mail\n  ANNA@mail.example \nolga@mail.example\nnot-an-email\n\n,\n"

    # when
    job = import_job_confirm(checked(segment, data))

    # then
    assert job.read_as == "email"
    assert members(segment) == {anna.pk, olga.pk}
    assert (job.found, job.bad_format) == (2, 1)
    assert reasons(job)[3] == "not-an-email is not an email address."


# --- Files ---------------------------------------------------------------------------------


def test_a_bom_semicolons_and_quotes_are_read(segment):
    # given a spreadsheet's CSV in a Russian locale: BOM, semicolons, a quoted name with one
    anna = CustomerFactory(phone="+79001112233")
    olga = CustomerFactory(phone="+79001112244")
    data = '\ufeff"Name";"Телефон"\n"Ivanova; Anna";"8 (900) 111-22-33"\nOlga;+79001112244\n'

    # when
    job = import_job_confirm(checked(segment, data.encode("utf-8")))

    # then
    assert (job.column, job.read_as) == ("Телефон", "phone")
    assert members(segment) == {anna.pk, olga.pk}
    assert job.error_count == 0


def test_an_xlsx_list_is_read(segment):
    anna = CustomerFactory(phone="+79001112233")
    data = xlsx_bytes([["phone", "note"], [79001112233, "a number cell"], ["bad", None]])

    job = import_job_confirm(checked(segment, data, name="list.xlsx"))

    assert members(segment) == {anna.pk}
    assert (job.found, job.bad_format) == (1, 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "The file is empty: it has no header row."),
        ("\ufeff", "The file is empty: it has no header row."),
        ("client,comment\n+79001112233,x\n", "No column of the file is named card, email, phone"),
        ("+79001112233\n+79001112244\n", "The first line must name the column"),
        ("phone,email\n+79001112233,a@b.example\n", "several columns to match on (phone, email)"),
        (b"phone\n\xff\xfe\n", "Line 2 is not UTF-8 text"),
        ("phone\n" + "9" * 70_000 + "\n", "Line 2 is longer than"),
    ],
)
def test_a_file_that_cannot_be_read_fails_with_its_reason_and_changes_nothing(
    segment, data, message
):
    # given a member already in
    anna = CustomerFactory()
    SegmentMember.objects.create(segment=segment, customer=anna)

    # when
    job = checked(segment, data, mode=SegmentImport.Mode.REPLACE)

    # then
    assert job.status == SegmentImport.Status.FAILED
    assert message in job.failure
    assert not job.can_confirm
    assert members(segment) == {anna.pk}
    assert not job.row_errors.exists()


def test_a_header_only_file_has_nothing_to_apply(segment):
    job = checked(segment, "phone\n")

    assert job.status == SegmentImport.Status.CHECKED
    assert (job.rows_checked, job.found) == (0, 0)
    assert not job.can_confirm
    with pytest.raises(ValidationError):
        import_job_confirm(job)


def test_a_chosen_identifier_reads_a_lone_column_whatever_its_name(segment):
    anna = CustomerFactory(phone="+79001112233")

    job = import_job_confirm(
        checked(segment, "Клиенты\n+79001112233\n", identifier=SegmentImport.Identifier.PHONE)
    )

    assert (job.column, job.read_as) == ("Клиенты", "phone")
    assert members(segment) == {anna.pk}


def test_a_chosen_identifier_picks_its_column_among_several(segment):
    anna = CustomerFactory(phone="+79001112233", email="anna@mail.example")

    job = checked(
        segment,
        "phone,email\n+79001112299,anna@mail.example\n",
        identifier=SegmentImport.Identifier.EMAIL,
    )

    assert (job.column, job.found) == ("email", 1)
    import_job_confirm(job)
    assert members(segment) == {anna.pk}


def test_a_chosen_identifier_without_its_column_fails(segment):
    job = checked(segment, "name,email\nAnna,a@b.example\n", identifier="card")

    assert job.status == SegmentImport.Status.FAILED
    assert "none is named card" in job.failure


def test_the_bad_rows_file_has_the_rows_and_their_reasons(segment):
    CustomerFactory(phone="+79001112233")
    job = checked(segment, "name;phone\nAnna;+79001112233\nNobody;+79990000000\nX;\n")

    rows = list(import_job_bad_rows(job))

    assert rows[0] == ["row", "name", "phone", "reason"]
    assert rows[1] == ["2", "Nobody", "+79990000000", "No customer has the phone +79990000000."]
    assert rows[2] == ["3", "X", "", "The phone cell is empty."]
    assert len(rows) == 3


# --- Who can be a member ---------------------------------------------------------------------


def test_anonymised_customers_are_rejected_and_merged_ones_count_for_the_survivor(segment):
    # given a survivor, a customer merged into it whose card still names them, and a card of
    # an anonymised customer
    survivor = CustomerFactory()
    gone = CustomerFactory(phone=None, email=None, merged_into=survivor)
    merged_card = ActiveCardFactory(programme=segment.programme, customer=gone)
    hidden = CustomerFactory(phone=None, email=None, is_anonymised=True)
    hidden_card = ActiveCardFactory(programme=segment.programme, customer=hidden)
    survivor_card = ActiveCardFactory(programme=segment.programme, customer=survivor)
    data = f"card\n{merged_card.number}\n{hidden_card.number}\n{survivor_card.number}\n"

    # when
    job = checked(segment, data)

    # then the merged customer's card finds the survivor, once
    assert (job.found, job.merged, job.anonymised, job.duplicates) == (1, 1, 1, 1)
    errors = reasons(job)
    assert errors[2] == "The customer was anonymised: they cannot be a member."
    assert errors[3] == "The same customer as row 1."
    import_job_confirm(job)
    assert members(segment) == {survivor.pk}


def test_a_chain_of_merges_ends_at_the_last_survivor(segment):
    last = CustomerFactory()
    middle = CustomerFactory(phone=None, email=None)
    first = CustomerFactory(phone=None, email=None, merged_into=middle)
    Customer.objects.filter(pk=middle.pk).update(merged_into=last)
    card = ActiveCardFactory(programme=segment.programme, customer=first)

    job = import_job_confirm(checked(segment, f"card\n{card.number}\n"))

    assert (job.found, job.merged) == (1, 1)
    assert members(segment) == {last.pk}


# --- Add, replace, retries ------------------------------------------------------------------


@pytest.fixture
def trio(segment):
    anna, olga, ivan = (CustomerFactory(phone=f"+7900111220{i}") for i in range(3))
    for customer in (anna, olga):
        SegmentMember.objects.create(segment=segment, customer=customer)
    return anna, olga, ivan


def test_replace_makes_the_list_the_only_members_with_history(segment, trio):
    # given members anna and olga, and a list naming olga and ivan
    anna, olga, ivan = trio
    data = f"phone\n{olga.phone}\n{ivan.phone}\n"

    # when it is checked, the preview says who enters and who leaves
    job = checked(segment, data, mode=SegmentImport.Mode.REPLACE)
    assert (job.new_rows, job.changed_rows, job.unchanged_rows) == (1, 1, 1)
    assert import_job_summary(job) == "2 rows: 1 to enter, 1 to leave, 1 already a member, 0 errors"

    # and applied
    job = import_job_confirm(job)

    # then
    assert members(segment) == {olga.pk, ivan.pk}
    assert history(segment) == sorted([(ivan.pk, "entered"), (anna.pk, "left")])
    assert (job.entered, job.left, job.size) == (1, 1, 2)


def test_add_keeps_the_members_the_list_does_not_name(segment, trio):
    anna, olga, ivan = trio

    job = import_job_confirm(checked(segment, f"phone\n{ivan.phone}\n{olga.phone}\n"))

    assert members(segment) == {anna.pk, olga.pk, ivan.pk}
    assert history(segment) == [(ivan.pk, "entered")]
    assert (job.entered, job.left, job.unchanged_rows, job.size) == (1, 0, 1, 3)


def test_confirming_twice_applies_once(segment, trio):
    anna, olga, ivan = trio
    job = checked(segment, f"phone\n{ivan.phone}\n", mode=SegmentImport.Mode.REPLACE)

    job = import_job_confirm(job)
    with pytest.raises(ValidationError, match="not waiting for a confirmation"):
        import_job_confirm(job)
    assert import_job_run(job).status == SegmentImport.Status.DONE  # a late retry of the task

    assert members(segment) == {ivan.pk}
    assert len(history(segment)) == 3


def test_the_same_list_again_changes_nothing(segment, trio):
    anna, olga, ivan = trio
    job = import_job_confirm(
        checked(segment, f"phone\n{ivan.phone}\n", mode=SegmentImport.Mode.REPLACE)
    )
    before = history(segment)

    again = import_job_rerun(job, user=None)

    assert again.pk != job.pk
    assert (again.new_rows, again.changed_rows, again.unchanged_rows) == (0, 0, 1)
    assert not again.can_confirm
    assert history(segment) == before


def test_replace_with_a_list_that_finds_nobody_cannot_be_confirmed(segment, trio):
    job = checked(segment, "phone\n+79990000000\n", mode=SegmentImport.Mode.REPLACE)

    assert job.changed_rows == 2
    assert not job.can_confirm
    assert len(members(segment)) == 2


def test_replace_refuses_a_list_whose_customers_went_away_after_the_check(segment, trio):
    # given a checked list whose only customer is anonymised before it is applied
    anna, olga, ivan = trio
    job = checked(segment, f"phone\n{ivan.phone}\n", mode=SegmentImport.Mode.REPLACE)
    Customer.objects.filter(pk=ivan.pk).update(is_anonymised=True)

    # when
    job = import_job_confirm(job)

    # then nothing is emptied
    assert job.status == SegmentImport.Status.FAILED
    assert "No row of the file names a customer" in job.failure
    assert members(segment) == {anna.pk, olga.pk}
    assert not history(segment)


def test_a_rule_segment_takes_no_list(trio):
    rules = SegmentFactory(kind=Segment.Kind.RULES, rule=WOMEN)

    job = checked(rules, f"phone\n{trio[2].phone}\n")

    assert job.status == SegmentImport.Status.FAILED
    assert "is a segment by rules" in job.failure
    with pytest.raises(SegmentIsRefreshed):
        segment_members_set(rules.pk, [[trio[2].pk]], replace=False)
    assert not members(rules)


def test_a_segment_turned_to_rules_after_the_check_is_not_changed(segment, trio):
    anna, olga, ivan = trio
    job = checked(segment, f"phone\n{ivan.phone}\n")
    Segment.objects.filter(pk=segment.pk).update(kind=Segment.Kind.RULES, rule=WOMEN)

    job = import_job_confirm(job)

    assert job.status == SegmentImport.Status.FAILED
    assert members(segment) == {anna.pk, olga.pk}


def test_the_apply_service_never_adds_who_cannot_be_a_member(segment):
    ok = CustomerFactory()
    hidden = CustomerFactory(phone=None, email=None, is_anonymised=True)
    survivor = CustomerFactory()
    gone = CustomerFactory(phone=None, email=None, merged_into=survivor)

    difference = segment_members_set(
        segment.pk, iter([[ok.pk, hidden.pk], [gone.pk, ok.pk]]), replace=False
    )

    assert members(segment) == {ok.pk}
    assert (difference.entered, difference.size) == (1, 1)


# --- Size -----------------------------------------------------------------------------------


def _customers(count: int) -> list[str]:
    start = Customer.objects.count()
    Customer.objects.bulk_create(
        Customer(
            phone=f"+7901{start + i:07d}", referral_code=None, public_id=f"c_t{start + i:010d}"
        )
        for i in range(count)
    )
    return [f"+7901{start + i:07d}" for i in range(count)]


def _queries(segment, phones: list[str], mode: str) -> int:
    data = "phone\n" + "".join(f"{p}\n" for p in phones) + "+70000000000\n+79990000000\n"
    with CaptureQueriesContext(connection) as context:
        job = import_job_confirm(checked(segment, data, mode=mode))
    assert job.status == SegmentImport.Status.DONE, job.failure
    return len(context.captured_queries)


@pytest.mark.slow
def test_a_ten_thousand_row_list_takes_queries_per_chunk_not_per_row(settings):
    # given two segments with members, and 2,000- and 10,000-row lists (chunks of 2,000)
    settings.IMPORT_CHUNK_ROWS = 2000
    small, large = SegmentFactory(), SegmentFactory()
    phones = _customers(10_500)
    for segment in (small, large):
        SegmentMember.objects.bulk_create(
            SegmentMember(segment=segment, customer_id=pk)
            for pk in Customer.objects.filter(phone__in=phones[10_000:]).values_list(
                "pk", flat=True
            )
        )

    # when each is checked and applied, replacing the members
    few = _queries(small, phones[:2000], SegmentImport.Mode.REPLACE)
    many = _queries(large, phones[:10_000], SegmentImport.Mode.REPLACE)

    # then four more chunks cost a few queries each, whatever the rows
    # check: customers, members, errors, progress (in a savepoint); load: customers, errors,
    # the temporary table
    per_chunk = 10
    assert few <= 60
    assert many <= few + 4 * per_chunk
    assert members(large) == set(
        Customer.objects.filter(phone__in=phones[:10_000]).values_list("pk", flat=True)
    )
    assert SegmentMembershipChange.objects.filter(segment=large, change="entered").count() == 10_000
    assert SegmentMembershipChange.objects.filter(segment=large, change="left").count() == 500
    large.refresh_from_db()
    assert large.size == 10_000
