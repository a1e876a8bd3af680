"""What the admins of every app share: read-only pages, streamed CSV."""

from __future__ import annotations


class ReadOnlyAdminMixin:
    """For ledger rows and other records that only services write."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LineBuffer:
    """A file-like target for ``csv.writer`` that hands each written line back."""

    def __init__(self):
        self._text = ""

    def write(self, text):
        self._text += text

    def pop(self):
        text, self._text = self._text, ""
        return text
