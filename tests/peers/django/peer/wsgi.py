"""The WSGI entry point for gunicorn.

The database is prepared on import: once, in the master, with --preload.
"""

import os
from importlib import import_module

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")
application = get_wsgi_application()
# Only now: it imports models.
import_module("peer.bootstrap").prepare()
