#!/usr/bin/python3
"""token-server.py: a tiny bearer-token server for distribution's token auth,
for tests only, on 127.0.0.1.

GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...] answers
{"token", "access_token", "expires_in", "issued_at"} with an RS256 JWT whose
x5c header carries the signing certificate (issued by the CA the registry
trusts via rootcertbundle). Policy:
  - Basic credentials given: they must be --user/--password (else 401); the
    token grants the requested actions.
  - No credentials: "pull" on repositories whose name does not contain
    "private"; nothing on the others (the registry then answers 401).
Signing uses the openssl command (no Python packages needed). Every request
is logged to --log as one line: "token scope=... user=... status=...".
GET /ping answers 200 (readiness). Exits after --lifetime seconds.
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--lifetime", type=float, default=1800)
    ap.add_argument("--expires-in", type=int, default=300)
    a = ap.parse_args()

    der = subprocess.run(["openssl", "x509", "-in", a.cert, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    x5c = base64.b64encode(der).decode()
    log_lock = threading.Lock()

    def sign(claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", a.key],
                             input=signing_input, check=True, capture_output=True).stdout
        return signing_input.decode() + "." + b64url(sig)

    def log(line):
        with log_lock:
            with open(a.log, "a") as f:
                f.write(line + "\n")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body, extra=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            if url.path == "/ping":
                return self.reply(200, {})
            if url.path != "/token":
                return self.reply(404, {"error": "not found"})
            q = urllib.parse.parse_qs(url.query)
            scopes = q.get("scope", [])
            user = None
            auth = self.headers.get("Authorization", "")
            if auth.lower().startswith("basic "):
                try:
                    user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                except Exception:
                    user, pw = "?", None
                if user != a.user or pw != a.password:
                    log(f"token scope={' '.join(scopes)} user={user} status=401")
                    return self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                                        "message": "bad credentials"}]},
                                      {"WWW-Authenticate": 'Basic realm="token"'})
            access = []
            for s in scopes:
                parts = s.split(":")
                if len(parts) < 3 or parts[0] != "repository":
                    continue
                name, actions = ":".join(parts[1:-1]), parts[-1].split(",")
                if user is None:
                    actions = [x for x in actions if x == "pull"] if "private" not in name else []
                access.append({"type": "repository", "name": name, "actions": actions})
            now = int(time.time())
            claims = {"iss": a.issuer, "sub": user or "", "aud": a.service,
                      "exp": now + a.expires_in, "nbf": now - 10, "iat": now,
                      "jti": b64url(os.urandom(12)), "access": access}
            token = sign(claims)
            log(f"token scope={' '.join(scopes)} user={user or '-'} status=200")
            self.reply(200, {"token": token, "access_token": token,
                             "expires_in": a.expires_in,
                             "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    threading.Timer(a.lifetime, srv.shutdown).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
