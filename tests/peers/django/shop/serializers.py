from rest_framework import serializers

from .models import Customer, Invoice


class AddressSerializer(serializers.Serializer):
    street = serializers.CharField(max_length=200)
    city = serializers.CharField(max_length=100)


class CustomerSerializer(serializers.ModelSerializer):
    address = AddressSerializer(required=False, allow_null=True)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False
    )

    class Meta:
        model = Customer
        fields = ("id", "name", "email", "city", "address", "tags", "updated_at")

    # The nested address is stored as JSON, so nested writes are plain assignments.
    def create(self, validated_data):
        return Customer.objects.create(**validated_data)

    def update(self, instance, validated_data):
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save()
        return instance


class InvoiceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invoice
        fields = ("id", "customer", "number", "amount", "paid")
        read_only_fields = ("customer",)
