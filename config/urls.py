from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

admin.site.site_header = _("Loyalty back office")
admin.site.site_title = _("Loyalty back office")
admin.site.index_title = _("Coalition administration")


def health(request: HttpRequest) -> JsonResponse:
    """Liveness probe for load balancers: the process answers (no database query)."""
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("health", health, name="health"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
