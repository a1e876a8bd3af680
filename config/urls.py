from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from processing.api.problems import api_not_found

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
    path("verify/", include("crm.urls")),
    path("staff/console/", include("contactcenter.urls")),
    path("staff/", include("loyalty.urls")),
    path("staff/reports/", include("reports.urls")),
    path("api/v1/", include("processing.api.urls")),
    path("api/v1/", include("contactcenter.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: any other address under /api/ is a 404 problem, never an HTML page or a redirect.
    re_path(r"^api/", api_not_found),
]
