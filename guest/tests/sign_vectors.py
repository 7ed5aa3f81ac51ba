"""Independent vectors for the nine signature functions (SPEC section 3),
computed with Python's hashlib/hmac. Writes sign_vectors.json beside it."""
import base64, hashlib, hmac, json, pathlib

data = "appKey=demo&nonce=abc123&timestamp=1700000000000&q=数据"
secret = "s3cr3t-key"
b = data.encode()
k = secret.encode()
vectors = [
    ("MD5HEX", hashlib.md5(b).hexdigest()),
    ("SHA1HEX", hashlib.sha1(b).hexdigest()),
    ("SHA256HEX", hashlib.sha256(b).hexdigest()),
    ("SHA512HEX", hashlib.sha512(b).hexdigest()),
    ("SHA256", base64.b64encode(hashlib.sha256(b).digest()).decode()),
    ("HMAC_MD5", hmac.new(k, b, hashlib.md5).hexdigest()),
    ("HMAC_SHA1", hmac.new(k, b, hashlib.sha1).hexdigest()),
    ("HMAC_SHA256", hmac.new(k, b, hashlib.sha256).hexdigest()),
    ("HMAC_SHA512", hmac.new(k, b, hashlib.sha512).hexdigest()),
]
out = [{"function": f, "data": data, "secret": secret, "expected": e} for f, e in vectors]
path = pathlib.Path(__file__).with_name("sign_vectors.json")
path.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
