#!/usr/bin/python3
"""fault-proxy.py: an HTTP reverse proxy on 127.0.0.1 in front of a registry
that injects faults, for tests only.

  fault-proxy.py start --upstream 127.0.0.1:PORT --dir DIR [--mode MODE] [--lifetime S]
      binds a free loopback port, prints it, and serves in the background
      (pid in DIR/proxy.pid, log DIR/proxy.log). Exits by itself after
      --lifetime seconds (default 300).
  fault-proxy.py mode DIR MODE    changes the mode of a running proxy
  fault-proxy.py stop DIR         stops it (by pid file); fine when not running

Modes (read from DIR/proxy.mode before every request; counters restart when
the mode text changes):
  pass               forward everything untouched
  truncate[:N]       the first N (default: every) blob GET answers of 200/206
                     with at least 1 KiB of body: send the headers (full
                     Content-Length) and half of the body, then close
  status:CODE:N      the first N requests for blobs or manifests answer CODE
                     (429 comes with Retry-After: 1); the rest pass
  slow[:BPS]         blob bodies trickle at BPS bytes/s (default 200), far
                     below a client's low-speed limit
  MODE+norange       as MODE, and Range headers are dropped (the registry
                     then answers 200 with the whole blob, as some do)
DIR/proxy.log: one line per request:
  "METHOD PATH range=<Range header or -> status=N fault=<what> body=BYTES"
  written before the body is sent; BYTES is what the proxy means to send.
"""
import argparse
import http.client
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}
BLOB = re.compile(r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$")
MANIFEST = re.compile(r"^/v2/.+/manifests/[^/]+$")


class State:
    def __init__(self, d):
        self.dir = d
        self.lock = threading.Lock()
        self.mode_text = None
        self.count = 0

    def mode(self):
        try:
            with open(os.path.join(self.dir, "proxy.mode")) as f:
                text = f.read().strip() or "pass"
        except OSError:
            text = "pass"
        with self.lock:
            if text != self.mode_text:
                self.mode_text, self.count = text, 0
        return text

    def take(self, limit):
        """True (and counts) while fewer than limit faults were injected."""
        with self.lock:
            if limit is not None and self.count >= limit:
                return False
            self.count += 1
            return True

    def log(self, line):
        with self.lock:
            with open(os.path.join(self.dir, "proxy.log"), "a") as f:
                f.write(line + "\n")


def make_handler(upstream, state):
    host, port = upstream.rsplit(":", 1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def record(self, status, fault, body):
            """Logs the request before the answer's body goes out, so a client
            that has its answer finds the line in the log already."""
            rng = self.headers.get("Range") or "-"
            state.log(f"{self.command} {self.path} range={rng} status={status} fault={fault} body={body}")

        def do_HEAD(self):
            self.forward()

        def do_GET(self):
            self.forward()

        def forward(self):
            mode = state.mode()
            norange = mode.endswith("+norange")
            parts = mode[:-len("+norange")].split(":") if norange else mode.split(":")
            path = self.path.split("?", 1)[0]
            is_blob, is_manifest = bool(BLOB.match(path)), bool(MANIFEST.match(path))

            if parts[0] == "status" and (is_blob or is_manifest):
                code, limit = int(parts[1]), int(parts[2]) if len(parts) > 2 else None
                if state.take(limit):
                    body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"injected"}]}'
                    # Logged before answering: once the client has the answer,
                    # the log already shows it.
                    self.record(code, f"status{code}", len(body))
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    if code == 429:
                        self.send_header("Retry-After", "1")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                    return

            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in HOP and k.lower() != "host"
                       and not (norange and k.lower() == "range")}
            headers["Host"] = upstream
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
            try:
                conn.request(self.command, self.path, headers=headers)
                resp = conn.getresponse()
            except OSError as e:
                self.send_error(502, f"upstream: {e}")
                self.record(502, "upstream-error", 0)
                return
            length = resp.getheader("Content-Length")
            body = None
            if length is None and self.command != "HEAD":
                body = resp.read()
                length = str(len(body))
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            if length is not None:
                self.send_header("Content-Length", length)
            fault = "none"
            total = int(length) if length is not None else 0
            ok_body = self.command == "GET" and resp.status in (200, 206)
            cut = None
            if parts[0] == "truncate" and is_blob and ok_body and total >= 1024:
                limit = int(parts[1]) if len(parts) > 1 else None
                if state.take(limit):
                    cut, fault = total // 2, "truncate"
            slow = None
            if parts[0] == "slow" and is_blob and ok_body:
                slow, fault = (int(parts[1]) if len(parts) > 1 else 200), "slow"
            if cut is not None:
                self.send_header("Connection", "close")
            planned = 0 if self.command == "HEAD" else (len(body) if body is not None else
                                                         (total if cut is None else cut))
            self.record(resp.status, fault, planned)
            self.end_headers()
            sent = 0
            try:
                if self.command == "HEAD":
                    pass
                elif body is not None:
                    self.wfile.write(body)
                    sent = len(body)
                else:
                    want = total if cut is None else cut
                    while sent < want:
                        if slow:
                            chunk = resp.read(min(max(slow // 10, 1), want - sent))
                        else:
                            chunk = resp.read(min(65536, want - sent))
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        sent += len(chunk)
                        if slow:
                            time.sleep(0.1)
            except OSError:
                pass  # the client gave up (slow mode): nothing to tell
            finally:
                conn.close()
            if cut is not None:
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    return Handler


def cmd_start(a):
    os.makedirs(a.dir, exist_ok=True)
    cmd_stop(a)
    with open(os.path.join(a.dir, "proxy.mode"), "w") as f:
        f.write(a.mode + "\n")
    open(os.path.join(a.dir, "proxy.log"), "a").close()
    state = State(a.dir)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(a.upstream, state))
    srv.daemon_threads = True
    port = srv.server_address[1]
    sys.stdout.flush()
    pid = os.fork()
    if pid > 0:
        with open(os.path.join(a.dir, "proxy.pid"), "w") as f:
            f.write(f"{pid}\n")
        print(port, flush=True)
        os._exit(0)
    os.setsid()
    out = os.open(os.path.join(a.dir, "proxy.out"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Timer(a.lifetime, lambda: os._exit(0)).start()
    srv.serve_forever()


def cmd_mode(a):
    tmp = os.path.join(a.dir, "proxy.mode.tmp")
    with open(tmp, "w") as f:
        f.write(a.mode + "\n")
    os.replace(tmp, os.path.join(a.dir, "proxy.mode"))


def cmd_stop(a):
    pidfile = os.path.join(a.dir, "proxy.pid")
    try:
        pid = int(open(pidfile).read())
    except (OSError, ValueError):
        return
    def running():
        # A zombie is dead: an orphan may wait a while for init to reap it.
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    try:
        # It keeps nothing worth a graceful stop.
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not running():
                break
            time.sleep(0.02)
    except ProcessLookupError:
        pass
    try:
        os.unlink(pidfile)
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("--upstream", required=True, help="127.0.0.1:PORT")
    s.add_argument("--dir", required=True)
    s.add_argument("--mode", default="pass")
    s.add_argument("--lifetime", type=float, default=300)
    m = sub.add_parser("mode")
    m.add_argument("dir")
    m.add_argument("mode")
    t = sub.add_parser("stop")
    t.add_argument("dir")
    a = ap.parse_args()
    if not a.upstream.startswith("127.0.0.1:") if a.cmd == "start" else False:
        ap.error("--upstream must be 127.0.0.1:PORT (loopback only)")
    {"start": cmd_start, "mode": cmd_mode, "stop": cmd_stop}[a.cmd](a)


if __name__ == "__main__":
    main()
