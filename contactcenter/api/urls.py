"""Routes of the contact centre's API, mounted at ``/api/v1/`` next to the POS API."""

from django.urls import path

from contactcenter.api import views

app_name = "tickets_api"

urlpatterns = [
    path("tickets", views.TicketSubmitApi.as_view(), name="ticket-submit"),
]
