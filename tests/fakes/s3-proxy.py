#!/usr/bin/python3
"""Fault-injecting HTTP proxy between clique-boot and radosgw (tests/e2e/test-fault*.sh).

Listens on --listen HOST:PORT (an address inside a test namespace) and forwards each request to
--upstream HOST:PORT unchanged, so SigV4 signatures stay valid (the Host header is passed
through; radosgw verifies what the client signed). One request per connection: the upstream is
asked for "Connection: close" and the client connection is closed after the response.

Faults come from --rules FILE, re-read whenever it changes (counters restart then):
  [{"match": "<regex on 'METHOD /path?query'>", "fault": F, "count": N, "delay": S}, ...]
The first rule whose regex matches and whose count is not used up (count -1 = forever)
applies; no rule = pass. Faults F:
  pass      forward unchanged
  503       answer 503 SlowDown (an S3 <Error> body) without asking the upstream
  reset     close with a TCP RST before asking the upstream
  reset-after  forward, then RST instead of the response (the request was applied)
  stall     wait S seconds, then forward
  hang      wait S seconds (default 3600) and close without an answer
  truncate  forward, send half the body under the full Content-Length, close
  cut-xml   forward, send half the body with a matching Content-Length (looks complete)
Every request is logged to --log as "<monotonic seconds at arrival> METHOD /path?query fault status".
"""
import argparse
import json
import os
import re
import socket
import socketserver
import struct
import sys
import threading
import time
from email.utils import formatdate

LOCK = threading.Lock()
STATE = {"mtime": None, "rules": [], "used": []}


def rules_for(path):
    try:
        mtime = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        mtime = None
    with LOCK:
        if mtime != STATE["mtime"]:
            rules = []
            if mtime is not None:
                with open(path) as f:
                    text = f.read().strip()
                rules = json.loads(text) if text else []
            STATE.update(mtime=mtime, rules=rules, used=[0] * len(rules))
        return STATE


def pick(path, line):
    st = rules_for(path)
    with LOCK:
        for i, r in enumerate(st["rules"]):
            if not re.search(r["match"], line):
                continue
            count = r.get("count", -1)
            if count != -1 and st["used"][i] >= count:
                continue
            st["used"][i] += 1
            return r
    return {"fault": "pass"}


def read_head(f):
    line = f.readline(65536)
    if not line:
        return None, None
    headers = []
    while True:
        h = f.readline(65536)
        if h in (b"\r\n", b"\n", b""):
            break
        headers.append(h)
    return line, headers


def header(headers, name):
    for h in headers:
        k, _, v = h.decode("latin-1").partition(":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def rst(sock, f):
    f.close()  # the makefile() reader holds the descriptor open too
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def forward(upstream, line, headers, body):
    host, port = upstream.rsplit(":", 1)
    up = socket.create_connection((host, int(port)), timeout=60)
    out = [line]
    for h in headers:
        k = h.split(b":", 1)[0].strip().lower()
        if k not in (b"connection", b"expect", b"keep-alive"):
            out.append(h)
    out.append(b"Connection: close\r\n\r\n")
    up.sendall(b"".join(out) + body)
    chunks = []
    while True:
        c = up.recv(65536)
        if not c:
            break
        chunks.append(c)
    up.close()
    raw = b"".join(chunks)
    head, _, rest = raw.partition(b"\r\n\r\n")
    return head, rest


def with_length(head, n):
    lines = [l for l in head.split(b"\r\n")
             if not l.lower().startswith((b"content-length:", b"transfer-encoding:"))]
    lines.append(b"Content-Length: %d" % n)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def status_of(head):
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        sock = self.request
        f = sock.makefile("rb")
        line, headers = read_head(f)
        if line is None:
            return
        t0 = time.monotonic()
        if (header(headers, "expect") or "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        n = int(header(headers, "content-length") or 0)
        body = f.read(n) if n else b""
        method, target = line.decode("latin-1").split(" ")[:2]
        req = f"{method} {target}"
        try:
            rule = pick(srv.rules, req)
        except (ValueError, re.error) as e:  # a broken rules file must show, not hang
            rule = {"fault": f"bad-rules({e})"}
        fault = rule.get("fault", "pass")
        status = 0
        try:
            if fault == "503":
                xml = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                       b"<Message>Please reduce your request rate.</Message></Error>")
                sock.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
                             + b"Date: " + formatdate(usegmt=True).encode() + b"\r\n"
                             + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(xml) + xml)
                status = 503
            elif fault == "reset":
                rst(sock, f)
                sock = None
            elif fault == "hang":
                time.sleep(rule.get("delay", 3600))
            else:
                if fault == "stall":
                    time.sleep(rule.get("delay", 2))
                head, rest = forward(srv.upstream, line, headers, body)
                status = status_of(head)
                if fault == "reset-after":
                    rst(sock, f)
                    sock = None
                elif fault == "truncate" and len(rest) > 1:
                    sock.sendall(with_length(head, len(rest)) + rest[: len(rest) // 2])
                elif fault == "cut-xml" and len(rest) > 1:
                    cut = rest[: len(rest) // 2]
                    sock.sendall(with_length(head, len(cut)) + cut)
                else:
                    sock.sendall(with_length(head, len(rest)) + rest)
        except OSError as e:
            fault += f"({e.__class__.__name__})"
        finally:
            with open(srv.log, "a") as lf:
                lf.write(f"{t0:.3f} {req} {fault} {status}\n")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    srv = Server((host, int(port)), Handler)
    srv.upstream, srv.rules, srv.log = a.upstream, a.rules, a.log
    print("listening", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
