"""Routes of the POS API, mounted at ``/api/v1/`` (pos-api.md, "Endpoints")."""

from django.urls import path, re_path

from processing.api import views

app_name = "pos_api"

urlpatterns = [
    path("purchases/calculate", views.PurchaseCalculateApi.as_view(), name="purchase-calculate"),
    path("purchases/confirm", views.PurchaseConfirmApi.as_view(), name="purchase-confirm"),
    path("purchases/cancel", views.PurchaseCancelApi.as_view(), name="purchase-cancel"),
    path("purchases/refund", views.PurchaseRefundApi.as_view(), name="purchase-refund"),
    path("purchases/offline", views.PurchasesOfflineApi.as_view(), name="purchases-offline"),
    # A receipt id may hold slashes (sent as %2F or bare), but never ends with one.
    re_path(
        r"^purchases/(?P<receipt_id>[^/]+(?:/[^/]+)*)$",
        views.PurchaseGetApi.as_view(),
        name="purchase-get",
    ),
    path("cards/<str:number>", views.CardGetApi.as_view(), name="card-get"),
    path("customers/lookup", views.CustomerLookupApi.as_view(), name="customer-lookup"),
    path("customers", views.CustomerRegisterApi.as_view(), name="customer-register"),
    path("events", views.EventApi.as_view(), name="event-report"),
    path("coupons/<str:code>", views.CouponGetApi.as_view(), name="coupon-get"),
    path("certificates/<str:code>", views.CertificateGetApi.as_view(), name="certificate-get"),
    path(
        "certificates/<str:code>/activate",
        views.CertificateActivateApi.as_view(),
        name="certificate-activate",
    ),
]
