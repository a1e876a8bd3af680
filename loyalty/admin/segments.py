"""The segments' admin of ``crm`` with what needs the cards and the import jobs: a list of
phones, cards or emails imported into a segment filled by hand (``SegmentImport``) and the
members exported as CSV or XLSX. ``crm`` knows nothing of cards or import jobs; this module
registers its admin again."""

from __future__ import annotations

import csv

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action

from crm.admin import SegmentAdmin as RulesSegmentAdmin
from crm.models import Customer, Segment
from loyalty.admin.mixins import LineBuffer
from loyalty.services.segment_export import segment_member_rows, segment_members_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SegmentAdmin(RulesSegmentAdmin):
    """Segments, with a list imported into a manual one and the members exported."""

    actions_detail = ["import_list", "export_csv", "export_xlsx"]

    def _segment(self, request, object_id) -> Segment:
        segment = self.get_object(request, str(object_id)) if object_id is not None else None
        if segment is None:
            raise Http404
        return segment

    # --- Importing a list ------------------------------------------------------------------

    def may_import_list(self, request, segment: Segment | None) -> bool:
        """Staff who may change the segment (a manual one) and add list imports."""
        from loyalty.models import SegmentImport

        jobs = self.admin_site._registry.get(SegmentImport)
        return (
            jobs is not None
            and jobs.has_add_permission(request)
            and self.has_change_permission(request, segment)
            and (segment is None or segment.kind == Segment.Kind.MANUAL)
        )

    def has_import_list_permission(self, request, object_id=None) -> bool:
        if object_id is None:
            return self.may_import_list(request, None)
        segment = self.get_object(request, str(object_id))
        return segment is not None and self.may_import_list(request, segment)

    @action(
        description=_("Import a list"),
        url_path="import-list",
        icon="upload_file",
        permissions=["import_list"],
    )
    def import_list(self, request, object_id):
        segment = self._segment(request, object_id)
        url = reverse("admin:loyalty_segmentimport_add") + "?" + urlencode({"segment": segment.pk})
        return redirect(url)

    # --- Exporting the members --------------------------------------------------------------

    def _customers(self, request):
        """The customers' admin queryset for this user (it masks and isolates), or 403."""
        customers = self.admin_site._registry.get(Customer)
        if customers is None or not customers.has_view_permission(request):
            raise PermissionDenied
        return customers.get_queryset(request)

    def has_members_export_permission(self, request, object_id=None) -> bool:
        customers = self.admin_site._registry.get(Customer)
        if customers is None or not customers.has_view_permission(request):
            return False
        if object_id is None:
            return self.has_view_permission(request)
        segment = self.get_object(request, str(object_id))
        return segment is not None and self.has_view_permission(request, segment)

    def _rows(self, request, object_id):
        segment = self._segment(request, object_id)
        if not self.has_view_permission(request, segment):
            raise PermissionDenied
        return segment, segment_member_rows(segment, self._customers(request))

    @action(
        description=_("Export the members (CSV)"),
        url_path="export-csv",
        icon="download",
        permissions=["members_export"],
    )
    def export_csv(self, request, object_id):
        segment, rows = self._rows(request, object_id)

        def lines():
            buffer = LineBuffer()
            writer = csv.writer(buffer)
            yield "\ufeff"  # spreadsheets read the file as UTF-8
            for row in rows:
                writer.writerow(row)
                yield buffer.pop()

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="segment-{segment.code}.csv"'
        return response

    @action(
        description=_("Export the members (XLSX)"),
        url_path="export-xlsx",
        icon="download",
        permissions=["members_export"],
    )
    def export_xlsx(self, request, object_id):
        segment, rows = self._rows(request, object_id)
        return FileResponse(
            segment_members_xlsx(rows),
            as_attachment=True,
            filename=f"segment-{segment.code}.xlsx",
            content_type=XLSX,
        )


admin.site.unregister(Segment)
admin.site.register(Segment, SegmentAdmin)
