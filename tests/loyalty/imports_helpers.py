"""Helpers shared by the import tests: the admin's upload, summary and confirm, and row errors
of the django-import-export resources (which use the same row checkers)."""

from __future__ import annotations

import io
import re

import openpyxl
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

CSV_FORMAT = "0"
XLSX_FORMAT = "1"


def xlsx_bytes(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


JOBS = {
    "card": ("cardimport", {}),
    "product": ("dataimport", {"kind": "products"}),
    "store": ("dataimport", {"kind": "stores"}),
}


def preview(client, model: str, data: bytes, *, name: str = "file.csv", fmt: str = CSV_FORMAT):
    """Upload a file on the import page of ``model``'s list (its import job's upload page) and
    return the job's page, where the check's summary and errors are. ``fmt`` is left to the
    file's name (.xlsx or CSV)."""
    job_model, fields = JOBS[model]
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse(f"admin:loyalty_{job_model}_add"),
            {"file": SimpleUploadedFile(name, data), **fields},
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    return client.get(response.url)


def confirm(client, model: str, response):
    """Press the page's import button, as a user would."""
    page = response.content.decode()
    found = re.search(r'<form method="post" action="([^"]+/confirm/)">', page)
    assert found, "the page offers no import"
    with TestCase.captureOnCommitCallbacks(execute=True):
        done = client.post(found.group(1))
    return client.get(done.url)


def summary(response) -> str:
    """The check's (or the import's) one-line summary on the job's page."""
    found = re.search(
        r'id="import-summary-text" class="import-summary">([^<]*)<', response.content.decode()
    )
    assert found, "the page has no summary"
    return found.group(1)


def dry_run(resource, text: str):
    dataset = tablib.Dataset().load(text, format="csv")
    return resource.import_data(dataset, dry_run=True, use_transactions=True)


def row_errors(result) -> dict[int, list[str]]:
    return {
        row.number: [m for messages in row.error_dict.values() for m in messages]
        for row in result.invalid_rows
    }
