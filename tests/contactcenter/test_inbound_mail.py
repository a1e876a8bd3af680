"""Email to tickets: new messages open tickets linked to the customer by email, replies
quoting "[#number]" become comments, nothing is read twice, attachments are checked."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from contactcenter.inbound_mail import mail_ingest, mail_ingest_bytes
from contactcenter.models import Ticket, TicketComment
from tests.factories.crm import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def message(
    subject="My points are missing",
    sender="Anna <Anna@Mail.example>",
    body="Hello",
    msgid=None,
    **extra,
):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@shop.example"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 +0300"
    msg["Message-ID"] = msgid or f"<{abs(hash((subject, body)))}@mail.example>"
    msg.set_content(body)
    for name, (content, mime) in extra.items():
        maintype, subtype = mime.split("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return msg


def test_a_new_email_opens_a_ticket_for_the_customer_with_that_address():
    customer = CustomerFactory(email="anna@mail.example")
    result = mail_ingest(message(body="Receipt 42, no points."))
    assert result.outcome == "opened"
    ticket = result.ticket
    assert (ticket.channel, ticket.customer, ticket.contact_email) == (
        Ticket.Channel.EMAIL,
        customer,
        "anna@mail.example",
    )
    assert ticket.category.code == "other"
    assert ticket.body == "Receipt 42, no points."
    assert ticket.first_response_due is not None


def test_an_unknown_sender_gets_a_ticket_without_a_customer():
    ticket = mail_ingest(message(sender="stranger@else.example")).ticket
    assert ticket.customer is None
    assert ticket.contact_email == "stranger@else.example"


def test_a_reply_quoting_the_number_is_a_comment_and_reading_again_changes_nothing():
    ticket = mail_ingest(message(msgid="<first@mail.example>")).ticket
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.WAITING)
    reply = message(
        subject=f"Re: [#{ticket.number}] My points are missing",
        body="Photo attached",
        msgid="<second@mail.example>",
    )
    result = mail_ingest(reply)
    assert (result.outcome, result.ticket) == ("commented", ticket)
    comment = ticket.comments.get()
    assert (comment.author_kind, comment.body) == (TicketComment.Author.CUSTOMER, "Photo attached")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.IN_PROGRESS
    # the same two messages read again
    assert mail_ingest(message(msgid="<first@mail.example>")).outcome == "duplicate"
    assert mail_ingest(reply).outcome == "duplicate"
    assert Ticket.objects.count() == 1
    assert TicketComment.objects.count() == 1


def test_a_reply_to_a_closed_ticket_opens_a_new_one():
    old = mail_ingest(message(msgid="<a@mail.example>")).ticket
    Ticket.objects.filter(pk=old.pk).update(status=Ticket.Status.CLOSED)
    result = mail_ingest(message(subject=f"Re: [#{old.number}] again", msgid="<b@mail.example>"))
    assert result.outcome == "opened"
    assert result.ticket != old


def test_attachments_are_kept_or_left_out(settings):
    settings.TICKETS_ATTACHMENT_MAX_BYTES = 1000
    result = mail_ingest(
        message(
            **{
                "receipt.pdf": (b"%PDF-1.4 small", "application/pdf"),
                "virus.exe": (b"MZ", "application/octet-stream"),
                "huge.png": (b"x" * 2000, "image/png"),
            }
        )
    )
    attachment = result.ticket.attachments.get()
    assert (attachment.name, attachment.size, attachment.content_type) == (
        "receipt.pdf",
        14,
        "application/pdf",
    )
    assert sorted(result.skipped_attachments) == ["huge.png", "virus.exe"]


def test_an_html_only_email_is_read_as_text():
    msg = EmailMessage()
    msg["From"] = "a@b.example"
    msg["Subject"] = "HTML"
    msg.set_content("<p>Hello <b>there</b></p>", subtype="html")
    assert mail_ingest_bytes(msg.as_bytes()).ticket.body == "Hello there"


def test_the_command_reads_an_mbox_a_maildir_and_eml_files(tmp_path, capsys):
    box = mailbox.mbox(tmp_path / "support.mbox")
    box.add(message(subject="From mbox", msgid="<m1@x>"))
    box.add(message(subject="From mbox too", msgid="<m2@x>"))
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add(message(subject="From maildir", msgid="<d1@x>"))
    maildir.close()
    (tmp_path / "one.eml").write_bytes(message(subject="From eml", msgid="<e1@x>").as_bytes())
    paths = [str(tmp_path / "support.mbox"), str(tmp_path / "Maildir"), str(tmp_path / "one.eml")]
    call_command("tickets_from_mail", *paths)
    assert "4 opened, 0 commented, 0 already read." in capsys.readouterr().out
    assert set(Ticket.objects.values_list("subject", flat=True)) == {
        "From mbox",
        "From mbox too",
        "From maildir",
        "From eml",
    }
    call_command("tickets_from_mail", *paths)
    assert "0 opened, 0 commented, 4 already read." in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("tickets_from_mail", str(tmp_path / "missing"))
    (tmp_path / "two.eml").write_bytes(message(subject="New", msgid="<e2@x>").as_bytes())
    with pytest.raises(CommandError):
        call_command("tickets_from_mail", str(tmp_path / "two.eml"), "--category", "nope")
