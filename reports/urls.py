"""Report pages for staff, mounted at ``/staff/reports/``."""

from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("contact-centre/", views.contact_centre_report, name="contact_centre"),
    path("segments/", views.segments_report, name="segments"),
    path("segments/<int:pk>/", views.segment_report, name="segment"),
]
