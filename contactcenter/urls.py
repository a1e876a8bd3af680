"""The operator console, mounted at ``/staff/console/``."""

from django.urls import path

from contactcenter import views

app_name = "console"

urlpatterns = [
    path("", views.console_search, name="search"),
    path("customer/<int:pk>/", views.console_customer, name="customer"),
    path("customer/<int:pk>/reveal/<str:field>/", views.console_reveal, name="reveal"),
    path("customer/<int:pk>/ticket/", views.console_ticket_open, name="ticket_open"),
    path("customer/<int:pk>/adjust/", views.console_adjust, name="adjust"),
    path("customer/<int:pk>/resend/", views.console_resend, name="resend"),
    path(
        "customer/<int:pk>/verify/<str:channel>/",
        views.console_verify_send,
        name="verify_send",
    ),
    path("customer/<int:pk>/verify-code/", views.console_verify_code, name="verify_code"),
    path("customer/<int:pk>/card/<int:card_pk>/<str:action>/", views.console_card, name="card"),
    path("adjustments/", views.console_adjustments, name="adjustments"),
    path("adjustments/<int:adjustment_pk>/<str:decision>/", views.console_decide, name="decide"),
]
