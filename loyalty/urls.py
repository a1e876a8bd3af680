"""Staff pages of the loyalty core (outside the admin), mounted at ``/staff/``."""

from django.urls import path

from loyalty import views

app_name = "staff"

urlpatterns = [path("thanks/", views.thanks_page, name="thanks")]
