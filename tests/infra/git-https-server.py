#!/usr/bin/env python3
"""A test-only HTTPS git server: git http-backend (CGI) behind http.server
and ssl, on 127.0.0.1, for tests/integration/test_watch_git_auth.c.

  git-https-server.py PORT CERT KEY PROJECT_ROOT TOKEN_FILE LOG

Every request must carry `Authorization: Basic base64(USER:TOKEN)` with the
token of TOKEN_FILE (its first line) as the password, any user name, as git
and libgit2 send it after a challenge; otherwise 401 with
`WWW-Authenticate: Basic realm="git"`. LOG gets one line per request:
method, path, status and the Authorization scheme (never its value).
Stops on SIGTERM."""
import base64
import hmac
import http.server
import os
import signal
import ssl
import subprocess
import sys
import urllib.parse


def main():
    port, cert, key, root, token_file, log_path = sys.argv[1:7]
    with open(token_file, encoding="utf-8") as f:
        token = f.readline().rstrip("\r\n")
    log = open(log_path, "a", buffering=1, encoding="utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection

        def log_message(self, fmt, *args):
            pass

        def authorized(self):
            auth = self.headers.get("Authorization", "")
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "basic":
                return False
            try:
                _, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return hmac.compare_digest(password.encode(), token.encode())

        def body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def handle_any(self):
            scheme = self.headers.get("Authorization", "none").partition(" ")[0]
            if not self.authorized():
                self.body()
                log.write(f"{self.command} {self.path} 401 auth={scheme}\n")
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            url = urllib.parse.urlsplit(self.path)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": root,
                "GIT_HTTP_EXPORT_ALL": "1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": urllib.parse.unquote(url.path),
                "QUERY_STRING": url.query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "REMOTE_USER": "git",
                "REMOTE_ADDR": "127.0.0.1",
            }
            data = self.body()
            env["CONTENT_LENGTH"] = str(len(data))
            cgi = subprocess.run(["git", "http-backend"], input=data, env=env,
                                 stdout=subprocess.PIPE, check=False)
            head, _, payload = cgi.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = cgi.stdout.partition(b"\n\n")
            status, headers = 200, []
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.split()[0])
                elif name:
                    headers.append((name, value.strip()))
            log.write(f"{self.command} {self.path} {status} auth={scheme}\n")
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = handle_any
        do_POST = handle_any

    server = http.server.HTTPServer(("127.0.0.1", int(port)), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
