from django.urls import include, path
from oauth2_provider import views as oauth2
from rest_framework.routers import SimpleRouter
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from shop import views

router = SimpleRouter()
router.register("page/customers", views.PageCustomers, basename="page-customer")
router.register("limit/customers", views.LimitCustomers, basename="limit-customer")
router.register("cursor/customers", views.CursorCustomers, basename="cursor-customer")

urlpatterns = [
    path("o/token/", oauth2.TokenView.as_view(), name="token"),
    path("o/revoke_token/", oauth2.RevokeTokenView.as_view(), name="revoke-token"),
    path("api/oauth/items/", views.OAuthItems.as_view()),
    path("api/token/", TokenObtainPairView.as_view()),
    path("api/token/refresh/", TokenRefreshView.as_view()),
    path("api/customers/<int:pk>/invoices/", views.CustomerInvoices.as_view()),
    path("api/bulk/customers/", views.BulkCustomers.as_view()),
    path("api/", include(router.urls)),
]
