"""Public pages of the customer base, mounted at ``/verify/``."""

from django.urls import path

from crm import views

app_name = "verify"

urlpatterns = [
    path("email/<str:token>/", views.verify_email, name="email"),
]
