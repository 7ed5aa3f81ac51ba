from django.db import models


class Customer(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField()
    city = models.CharField(max_length=100, blank=True)
    # {"street": ..., "city": ...}, written through a nested serializer.
    address = models.JSONField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("id",)

    def __str__(self):
        return self.name


class Invoice(models.Model):
    customer = models.ForeignKey(
        Customer, related_name="invoices", on_delete=models.CASCADE
    )
    number = models.CharField(max_length=50)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    paid = models.BooleanField(default=False)

    class Meta:
        ordering = ("id",)

    def __str__(self):
        return self.number
