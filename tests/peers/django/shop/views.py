from django.shortcuts import get_object_or_404
from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework import generics, pagination, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Customer
from .serializers import CustomerSerializer, InvoiceSerializer


class PageNumber(pagination.PageNumberPagination):
    page_size = 10
    page_size_query_param = "page_size"
    max_page_size = 1000


class LimitOffset(pagination.LimitOffsetPagination):
    default_limit = 10
    max_limit = 1000


class Cursor(pagination.CursorPagination):
    page_size = 10
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "id"


class CustomerViewSet(viewsets.ModelViewSet):
    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    filterset_fields = {  # noqa: RUF012  (read only)
        "city": ["exact"],
        "updated_at": ["gt", "gte", "lt", "lte"],
    }


class PageCustomers(CustomerViewSet):
    pagination_class = PageNumber


class LimitCustomers(CustomerViewSet):
    pagination_class = LimitOffset


class CursorCustomers(CustomerViewSet):
    pagination_class = Cursor


class CustomerInvoices(generics.ListCreateAPIView):
    """The invoices of one customer: /api/customers/{id}/invoices/."""

    serializer_class = InvoiceSerializer
    pagination_class = PageNumber
    filterset_fields = ("paid",)

    def customer(self):
        return get_object_or_404(Customer, pk=self.kwargs["pk"])

    def get_queryset(self):
        return self.customer().invoices.all()

    def perform_create(self, serializer):
        serializer.save(customer=self.customer())


class BulkCustomers(APIView):
    """GET: every customer, unpaginated.

    POST: a list; any invalid item means 400 with per-item errors.
    """

    def get(self, request):
        return Response(CustomerSerializer(Customer.objects.all(), many=True).data)

    def post(self, request):
        serializer = CustomerSerializer(data=request.data, many=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=status.HTTP_201_CREATED)


class OAuthItems(APIView):
    """Records for an OAuth2 client-credentials token with scope `read`."""

    authentication_classes = (OAuth2Authentication,)
    permission_classes = (TokenHasScope,)
    required_scopes = ("read",)

    def get(self, request):
        client = request.auth.application.client_id
        names = ["alpha", "beta", "gamma"]
        return Response(
            [{"id": i, "name": n, "client": client} for i, n in enumerate(names, 1)]
        )
