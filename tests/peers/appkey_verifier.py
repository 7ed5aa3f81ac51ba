"""An API that accepts only requests signed with Alibaba Cloud API Gateway
digest signatures (SPEC section 4), verified with the standard library
alone — independent of the connector's own code.

    python3 appkey_verifier.py PORT APP_KEY APP_SECRET

Any path answers {"records": [...], "signed": "<the string it verified>"}
for a good signature, 401 {"error": why} otherwise. Nonces may not repeat.
"""
import base64, hashlib, hmac, json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit, unquote

PORT, APP_KEY, APP_SECRET = int(sys.argv[1]), sys.argv[2], sys.argv[3]
SEEN_NONCES = set()
ALGORITHMS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        h = lambda name: self.headers.get(name) or ""
        try:
            if h("X-Ca-Key") != APP_KEY:
                raise ValueError("unknown X-Ca-Key")
            algorithm = ALGORITHMS.get(h("X-Ca-Signature-Method"))
            if algorithm is None:
                raise ValueError("unknown X-Ca-Signature-Method")
            if abs(time.time() * 1000 - int(h("X-Ca-Timestamp"))) > 15 * 60 * 1000:
                raise ValueError("X-Ca-Timestamp is not within 15 minutes")
            nonce = h("X-Ca-Nonce")
            if not nonce or nonce in SEEN_NONCES:
                raise ValueError("X-Ca-Nonce missing or replayed")
            form = h("Content-Type").startswith("application/x-www-form-urlencoded")
            if body and not form:
                md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
                if h("Content-MD5") != md5:
                    raise ValueError("Content-MD5 does not match the body")
            lines = [self.command, h("Accept"), h("Content-MD5"), h("Content-Type"), h("Date")]
            signed = sorted(n.strip().lower() for n in h("X-Ca-Signature-Headers").split(",") if n.strip())
            text = "\n".join(lines) + "\n" + "".join(f"{n}:{h(n)}\n" for n in signed)
            url = urlsplit(self.path)
            params = parse_qsl(url.query, keep_blank_values=True)
            if form:
                params += parse_qsl(body.decode(), keep_blank_values=True)
            text += unquote(url.path)
            if params:
                params.sort(key=lambda kv: kv[0].encode())
                text += "?" + "&".join(k if v == "" else f"{k}={v}" for k, v in params)
            expected = base64.b64encode(hmac.new(APP_SECRET.encode(), text.encode(), algorithm).digest()).decode()
            if not hmac.compare_digest(expected, h("X-Ca-Signature")):
                raise ValueError("signature mismatch; string to sign was " + json.dumps(text))
            SEEN_NONCES.add(nonce)
        except Exception as e:  # every failure is the client's
            self.reply(401, {"error": str(e)})
            return
        self.reply(200, {"records": [{"id": 1, "method": self.command}, {"id": 2, "method": self.command}], "signed": text})

    do_GET = do_POST = do_PUT = handle_any


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
