"""The database, ready before the first request.

Migrations, the OAuth2 client, the JWT user and the seed data, once per start, under a
file lock, so that workers loading the app without --preload cannot race. Imported
once the apps are loaded.
"""

import fcntl
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connections, transaction
from oauth2_provider.models import Application

from shop.models import Customer, Invoice

CITIES = ["Berlin", "Paris", "Madrid", "Rome", "Vienna"]
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def prepare():
    with open(settings.DB_PATH + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        call_command("migrate", interactive=False, verbosity=0)
        with transaction.atomic():
            oauth_client()
            jwt_user()
            seed()
    # No connection may be shared with forked workers.
    connections.close_all()


def oauth_client():
    client_id = os.environ.get("APICONN_TEST_CLIENT_ID")
    if not client_id:
        return
    Application.objects.filter(client_id=client_id).delete()
    # The plain secret: django-oauth-toolkit hashes it on save.
    Application.objects.create(
        name="apiconn-tests",
        client_id=client_id,
        client_secret=os.environ["APICONN_TEST_CLIENT_SECRET"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )


def jwt_user():
    username = os.environ.get("APICONN_TEST_USER")
    if not username:
        return
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(os.environ["APICONN_TEST_PASSWORD"])
    user.save()


def seed():
    if Customer.objects.exists():
        return
    if fixture := os.environ.get("APICONN_TEST_FIXTURE"):
        call_command("loaddata", fixture, verbosity=0)
        return
    invoices = int(os.environ.get("APICONN_TEST_INVOICES") or 0)
    for i in range(1, int(os.environ.get("APICONN_TEST_SEED") or 0) + 1):
        city = CITIES[(i - 1) % len(CITIES)]
        customer = Customer.objects.create(
            name=f"Customer {i:03}",
            email=f"c{i}@example.com",
            city=city,
            address={"street": f"{i} Main Street", "city": city},
            tags=["even" if i % 2 == 0 else "odd"] + (["vip"] if i % 5 == 0 else []),
        )
        # update() skips auto_now: customer i was last updated i hours after EPOCH.
        Customer.objects.filter(pk=customer.pk).update(
            updated_at=EPOCH + timedelta(hours=i)
        )
        Invoice.objects.bulk_create(
            Invoice(
                customer=customer,
                number=f"INV-{i:03}-{j:02}",
                amount=Decimal(f"{i * 10 + j}.50"),
                paid=j % 2 == 0,
            )
            for j in range(1, invoices + 1)
        )
