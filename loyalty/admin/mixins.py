"""What the admins of every app share: read-only pages, file imports, streamed CSV."""

from __future__ import annotations

from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV, XLSX


class ReadOnlyAdminMixin:
    """For ledger rows and other records that only services write."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FileImportMixin(ImportMixin):
    """The admin's file import (django-import-export), CSV or XLSX, with a preview of every row.

    An import adds rows and (products, stores) changes them, so it needs both rights; the
    library would otherwise offer it to anyone who may only view the list."""

    import_formats = [CSV, XLSX]

    def has_import_permission(self, request):
        return self.has_add_permission(request) and self.has_change_permission(request)


class LineBuffer:
    """A file-like target for ``csv.writer`` that hands each written line back."""

    def __init__(self):
        self._text = ""

    def write(self, text):
        self._text += text

    def pop(self):
        text, self._text = self._text, ""
        return text
