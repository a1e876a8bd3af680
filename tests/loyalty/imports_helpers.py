"""Helpers shared by the import tests: the admin preview and confirm, and row errors."""

from __future__ import annotations

import io
import re

import openpyxl
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
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


def preview(client, model: str, data: bytes, *, name: str = "file.csv", fmt: str = CSV_FORMAT):
    upload = SimpleUploadedFile(name, data)
    return client.post(
        reverse(f"admin:loyalty_{model}_import"),
        {"import_file": upload, "format": fmt, "resource": "0"},
    )


def confirm(client, model: str, response):
    """Post the confirm form the preview page rendered, as the button would."""
    page = response.content.decode()
    fields = dict(
        re.findall(
            r'name="(import_file_name|original_file_name|format|resource)"'
            r' value="([^"]*)"',
            page,
        )
    )
    assert "import_file_name" in fields, "the preview offers no confirm"
    return client.post(reverse(f"admin:loyalty_{model}_process_import"), fields)


def row_outcomes(response) -> list[str]:
    """The outcome column of the preview table, row by row (new, update, skip)."""
    return re.findall(r'<tr class="(new|update|skip|delete)">', response.content.decode())


def dry_run(resource, text: str):
    dataset = tablib.Dataset().load(text, format="csv")
    return resource.import_data(dataset, dry_run=True, use_transactions=True)


def row_errors(result) -> dict[int, list[str]]:
    return {
        row.number: [m for messages in row.error_dict.values() for m in messages]
        for row in result.invalid_rows
    }
