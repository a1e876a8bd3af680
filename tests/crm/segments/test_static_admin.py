"""Static segments in the admin: the segment's "Import a list" button, the upload with its
preview (counts, rejected rows, the confirm button saying what happens), who may import,
partner isolation, the members exported as CSV and XLSX with contacts masked as the customers'
list masks them, and the "segment" filter of the customers' and receipts' lists."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.models import Segment, SegmentMember, SegmentMembershipChange
from loyalty.models import SegmentImport, StaffProfile
from tests.factories.crm import CustomerFactory, SegmentFactory
from tests.factories.loyalty import PartnerFactory, ProgrammeFactory, ReceiptFactory

pytestmark = pytest.mark.django_db

WOMEN = {"op": "and", "items": [{"kind": "gender", "genders": ["female"]}]}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def segment():
    return SegmentFactory(kind=Segment.Kind.MANUAL, code="vip", name="VIP list")


@pytest.fixture
def people():
    return [
        CustomerFactory(phone="+79001112233", email="anna@mail.example", last_name="Ivanova"),
        CustomerFactory(phone="+79001112244", email="olga@mail.example", last_name="Petrova"),
        CustomerFactory(phone="+79001112255", email="ivan@mail.example", last_name="Sidorov"),
    ]


def members(segment) -> set[int]:
    return set(SegmentMember.objects.filter(segment=segment).values_list("customer_id", flat=True))


def upload(client, capture, text: str, **fields):
    with capture(execute=True):
        return client.post(
            reverse("admin:loyalty_segmentimport_add"),
            {
                "file": SimpleUploadedFile("list.csv", text.encode()),
                "identifier": "auto",
                "mode": "add",
                **fields,
            },
        )


def staff(django_user_model, username: str, *codenames: str, partner=None):
    user = django_user_model.objects.create_user(username, password="pw-12345-x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    if partner is not None:
        StaffProfile.objects.create(user=user, partner=partner)
    return user


# --- Import ---------------------------------------------------------------------------------


def test_the_segment_page_leads_to_the_upload_with_the_segment_chosen(admin_client, segment):
    page = admin_client.get(reverse("admin:crm_segment_change", args=[segment.pk]))
    url = reverse("admin:crm_segment_import_list", args=[segment.pk])
    assert url in page.content.decode()

    response = admin_client.get(url)

    assert response.status_code == 302
    assert response.url == reverse("admin:loyalty_segmentimport_add") + f"?segment={segment.pk}"
    form = admin_client.get(response.url)
    assert form.status_code == 200
    assert form.context["adminform"].form.initial["segment"] == str(segment.pk)


def test_a_rule_segment_has_no_import_button_and_refuses_an_upload(
    admin_client, people, django_capture_on_commit_callbacks
):
    rules = SegmentFactory(kind=Segment.Kind.RULES, rule=WOMEN)

    page = admin_client.get(reverse("admin:crm_segment_change", args=[rules.pk]))
    response = upload(
        admin_client, django_capture_on_commit_callbacks, "phone\n+79001112233\n", segment=rules.pk
    )

    assert reverse("admin:crm_segment_import_list", args=[rules.pk]) not in page.content.decode()
    assert admin_client.get(
        reverse("admin:crm_segment_import_list", args=[rules.pk])
    ).status_code in (403, 302)
    assert response.status_code == 200
    assert "is a segment by rules" in response.content.decode()
    assert not SegmentImport.objects.exists()


def test_upload_previews_then_confirm_replaces_the_members(
    admin_client, segment, people, django_capture_on_commit_callbacks
):
    # given anna is a member; the list names olga, ivan, an unknown phone and a bad one
    anna, olga, ivan = people
    SegmentMember.objects.create(segment=segment, customer=anna)
    text = f"phone\n{olga.phone}\n{ivan.phone}\n+79990000000\nnonsense\n"

    # when
    response = upload(
        admin_client,
        django_capture_on_commit_callbacks,
        text,
        segment=segment.pk,
        mode="replace",
    )

    # then the job's page shows the preview and what confirming would do
    job = SegmentImport.objects.get()
    assert response.url == reverse("admin:loyalty_segmentimport_change", args=[job.pk])
    page = admin_client.get(response.url).content.decode()
    assert "4 rows: 2 to enter, 1 to leave, 0 already members, 2 errors" in page
    assert 'id="import-details"' in page
    assert "No customer has the phone +79990000000." in page
    assert "Replace the members: 2 enter, 1 leave" in page
    assert members(segment) == {anna.pk}

    # when confirmed
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:loyalty_segmentimport_confirm", args=[job.pk]))

    # then
    assert members(segment) == {olga.pk, ivan.pk}
    assert SegmentMembershipChange.objects.filter(segment=segment).count() == 3
    page = admin_client.get(response.url).content.decode()
    assert "4 rows: 2 entered, 1 left, 0 already members, 2 errors (2 members now)." in page
    assert 'id="import-confirm"' not in page


def test_importing_needs_the_right_to_change_segments(
    client, django_user_model, segment, people, django_capture_on_commit_callbacks
):
    # given staff who may add list imports and view segments, but not change segments
    user = staff(
        django_user_model, "viewer", "add_segmentimport", "view_segmentimport", "view_segment"
    )
    client.force_login(user)

    # when
    form = client.get(reverse("admin:loyalty_segmentimport_add"))
    button = client.get(reverse("admin:crm_segment_import_list", args=[segment.pk]))
    response = upload(
        client, django_capture_on_commit_callbacks, "phone\n+79001112233\n", segment=segment.pk
    )

    # then
    assert form.status_code == 403
    assert button.status_code == 403
    assert response.status_code == 403
    assert not SegmentImport.objects.exists()


def test_staff_who_may_view_a_job_may_not_confirm_it(client, django_user_model, segment, people):
    user = staff(django_user_model, "watcher", "view_segmentimport", "view_segment")
    client.force_login(user)
    job = SegmentImport.objects.create(
        segment=segment, status=SegmentImport.Status.CHECKED, new_rows=1, found=1
    )

    page = client.get(reverse("admin:loyalty_segmentimport_change", args=[job.pk]))
    response = client.post(reverse("admin:loyalty_segmentimport_confirm", args=[job.pk]))

    assert page.status_code == 200
    assert 'id="import-confirm"' not in page.content.decode()
    assert response.status_code == 403


def test_partner_staff_import_into_their_segments_only(
    client, django_user_model, people, django_capture_on_commit_callbacks
):
    # given partner staff with every right, their programme's segment and a coalition one
    partner = PartnerFactory(name="Alpha")
    theirs = SegmentFactory(programme=ProgrammeFactory(code="alpha", partner=partner))
    coalition = SegmentFactory()
    user = staff(django_user_model, "alpha", partner=partner)
    user.user_permissions.set(Permission.objects.all())
    client.force_login(user)

    # when
    refused = upload(
        client, django_capture_on_commit_callbacks, "phone\n+79001112233\n", segment=coalition.pk
    )
    accepted = upload(
        client, django_capture_on_commit_callbacks, "phone\n+79001112233\n", segment=theirs.pk
    )

    # then
    assert refused.status_code == 200
    assert "You may not change the segment" in refused.content.decode()
    assert accepted.status_code == 302
    assert list(SegmentImport.objects.values_list("segment_id", flat=True)) == [theirs.pk]


# --- Export ---------------------------------------------------------------------------------


def _export(client, segment, kind: str):
    return client.get(reverse(f"admin:crm_segment_export_{kind}", args=[segment.pk]))


def _csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_the_members_export_as_csv_and_xlsx(admin_client, segment, people):
    # given two members (and a customer who is not one)
    anna, olga, _ivan = people
    for customer in (olga, anna):
        SegmentMember.objects.create(segment=segment, customer=customer)

    # when
    as_csv = _export(admin_client, segment, "csv")
    as_xlsx = _export(admin_client, segment, "xlsx")

    # then the administrator sees the contacts in full, in customer order
    assert as_csv["Content-Disposition"] == 'attachment; filename="segment-vip.csv"'
    rows = _csv_rows(as_csv)
    assert rows[0] == ["customer", "last name", "first name", "phone", "email", "member since"]
    assert [row[:5] for row in rows[1:]] == [
        [anna.public_id, "Ivanova", "Anna", "+79001112233", "anna@mail.example"],
        [olga.public_id, "Petrova", "Anna", "+79001112244", "olga@mail.example"],
    ]
    assert "segment-vip.xlsx" in as_xlsx["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(as_xlsx.streaming_content))).active
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == rows


def test_the_export_masks_contacts_for_staff_who_may_not_see_them(
    client, django_user_model, segment, people
):
    # given a marketer who may view customers and segments, not their contacts
    SegmentMember.objects.create(segment=segment, customer=people[0])
    client.force_login(staff(django_user_model, "marketer", "view_customer", "view_segment"))

    rows = _csv_rows(_export(client, segment, "csv"))

    assert rows[1][3] != "+79001112233"
    assert rows[1][3].endswith("33")
    assert "*" in rows[1][3]
    assert rows[1][4] == "a***@mail.example"


def test_staff_who_may_not_see_customers_export_nothing(client, django_user_model, segment):
    # given partner staff with every right (customers are hidden from partner staff) and a
    # marketer without the right to view customers
    partner = PartnerFactory(name="Alpha")
    theirs = SegmentFactory(programme=ProgrammeFactory(code="alpha", partner=partner))
    alpha = staff(django_user_model, "alpha", partner=partner)
    alpha.user_permissions.set(Permission.objects.all())
    marketer = staff(django_user_model, "marketer", "view_segment")

    for user, target in ((alpha, theirs), (marketer, segment)):
        client.force_login(user)
        page = client.get(reverse("admin:crm_segment_change", args=[target.pk]))
        assert reverse("admin:crm_segment_export_csv", args=[target.pk]) not in (
            page.content.decode()
        )
        assert _export(client, target, "csv").status_code == 403
        assert _export(client, target, "xlsx").status_code == 403


# --- The "segment" filter -------------------------------------------------------------------


def _listed(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


def test_the_customers_list_filters_by_any_segment(admin_client, segment, people):
    anna, olga, ivan = people
    SegmentMember.objects.create(segment=segment, customer=olga)
    rules = SegmentFactory(kind=Segment.Kind.RULES, rule=WOMEN, name="Women")
    SegmentMember.objects.create(segment=rules, customer=anna)
    url = reverse("admin:crm_customer_changelist")

    page = admin_client.get(url)
    assert "VIP list" in page.content.decode()
    assert _listed(admin_client.get(url, {"segment": segment.pk})) == {olga.pk}
    assert _listed(admin_client.get(url, {"segment": rules.pk})) == {anna.pk}
    assert _listed(admin_client.get(url, {"segment": "nonsense"})) == set()
    assert _listed(admin_client.get(url, {"segment": 999_999})) == set()


def test_the_receipts_list_filters_by_the_customers_segment(admin_client, segment, people):
    anna, olga, _ivan = people
    SegmentMember.objects.create(segment=segment, customer=anna)
    mine = ReceiptFactory(customer=anna)
    ReceiptFactory(customer=olga)
    ReceiptFactory(customer=None)
    url = reverse("admin:loyalty_receipt_changelist")

    assert len(_listed(admin_client.get(url))) == 3
    assert _listed(admin_client.get(url, {"segment": segment.pk})) == {mine.pk}


def test_partner_staff_filter_receipts_by_their_segments_only(client, django_user_model, people):
    # given partner staff, their segment and another partner's
    partner, other = PartnerFactory(name="Alpha"), PartnerFactory(name="Bravo")
    theirs = SegmentFactory(programme=ProgrammeFactory(code="alpha", partner=partner), name="A")
    foreign = SegmentFactory(programme=ProgrammeFactory(code="bravo", partner=other), name="B")
    for seg in (theirs, foreign):
        SegmentMember.objects.create(segment=seg, customer=people[0])
    receipt = ReceiptFactory(customer=people[0], partner=partner)
    user = staff(django_user_model, "alpha", "view_receipt", "view_segment", partner=partner)
    client.force_login(user)
    url = reverse("admin:loyalty_receipt_changelist")

    # when / then: the foreign segment is neither offered nor obeyed
    page = client.get(url)
    filters = {f.title: f for f in page.context["cl"].filter_specs}
    offered = {name for _pk, name in filters["segment"].lookup_choices}
    assert offered == {"A"}
    assert _listed(client.get(url, {"segment": theirs.pk})) == {receipt.pk}
    assert _listed(client.get(url, {"segment": foreign.pk})) == set()
