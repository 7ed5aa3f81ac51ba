"""What the tests observe from the server side: every request logged, data requests slowed.

APICONN_TEST_LOG       a file that gets one line per request: `METHOD path status`
APICONN_TEST_DELAY_MS  data requests (not the token endpoints) wait this long first
"""

import os
import time

LOG = os.environ.get("APICONN_TEST_LOG")
DELAY = int(os.environ.get("APICONN_TEST_DELAY_MS") or 0) / 1000


class RequestLog:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if DELAY and not request.path.startswith(("/api/token/", "/o/")):
            time.sleep(DELAY)
        response = self.get_response(request)
        if LOG:
            # One short write in append mode: whole lines from both workers.
            with open(LOG, "a") as f:
                f.write(f"{request.method} {request.path} {response.status_code}\n")
        return response
