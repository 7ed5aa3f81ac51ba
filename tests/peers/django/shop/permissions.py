from django.conf import settings
from rest_framework.permissions import IsAuthenticated


class OpenOrAuthenticated(IsAuthenticated):
    """A JWT, or nothing at all with APICONN_TEST_OPEN=1."""

    def has_permission(self, request, view):
        return settings.OPEN or super().has_permission(request, view)
