#!/usr/bin/python3
"""Fake cloud metadata service for the e2e tests (one process per test network namespace).

Behaves like the real services as far as shared/reference/metadata-and-s3.md A and B describe
them:

Linode (--provider linode), data file {"instance": {...}, "network": {...},
"ssh-keys": {...}, "user-data": "<text>"}:
  PUT /v1/token            Metadata-Token-Expiry-Seconds: <int> required (else 400); the token
                           as text/plain, or ["tok"] with Accept: application/json
  GET /v1/instance|network|ssh-keys
                           Metadata-Token must be valid and unexpired (else 401); JSON with
                           Accept: application/json, else "key.sub: value" text lines
  GET /v1/user-data        base64 of user-data; a JSON Accept is refused (406)
Vultr (--provider vultr), data file = the /v1.json body:
  GET /v1.json             the whole tree, no token
  GET /v1/<a>/<b>...       one value as text; a trailing "/" lists an index
  GET /latest/user-data    the decoded user data

DigitalOcean (--provider digitalocean), data file = the /metadata/v1.json body:
  GET /metadata/v1.json    the whole tree, no token; anything else 404 "404 Not Found"
Hetzner Cloud (--provider hetzner), data file = the /hetzner/v1/metadata tree as JSON:
  GET /hetzner/v1/metadata        the tree as YAML (PyYAML's block style)
  GET /hetzner/v1/metadata/<key>  a scalar as text, a list or mapping as YAML; a key the tree
                                  does not have is 404 (a server without public-ipv4)
  GET /hetzner/v1/userdata        the "userdata" text
AWS EC2 IMDSv2 (--provider aws), data file {"meta-data": {<tree>}}: see AwsImds below.


Errors use Linode's {"errors":[{"reason": ...}]} body (AWS: its own). Faults: --refuse-for N
does not listen for the first N seconds, --503-for N answers 503 for the first N seconds after
listening, --first-data FILE --first-for N serves FILE instead of --data for the first N seconds
(a document that is not complete yet at early boot).
Every request is logged to --log as one line: method, path, the headers that matter and the
status, never a token value (only whether it was valid).
"""
import argparse
import base64
import http.server
import json
import secrets
import socket
import sys
import threading
import time

TOKEN_MAX_TTL = 86400  # assumption: the real maximum is not documented (reference A2)


def flatten(prefix, value, out):
    """Linode's text format: 'ipv4.public: 192.0.2.0/24', nested keys joined with dots."""
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            out.append(f"{prefix}: " + " ".join(scalar(v) for v in value))
        else:
            for i, v in enumerate(value):
                flatten(f"{prefix}.{i}", v, out)
    else:
        out.append(f"{prefix}: {scalar(value)}")
    return out


def scalar(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class State:
    def __init__(self, args, data, first=None):
        self.args = args
        self.full = data
        self.first = first
        self.tokens = {}  # token -> expiry (monotonic)
        self.token_left = {}  # aws: token -> GETs it still answers, -1 = no limit
        self.lock = threading.Lock()
        self.log = open(args.log, "a", buffering=1) if args.log else None
        self.started = time.monotonic()

    @property
    def data(self):
        if self.first is not None and time.monotonic() - self.started < self.args.first_for:
            return self.first
        return self.full

    def new_token(self, ttl):
        tok = secrets.token_hex(32)
        with self.lock:
            self.tokens[tok] = time.monotonic() + ttl
        return tok

    def token_state(self, tok):
        if tok is None:
            return "absent"
        with self.lock:
            exp = self.tokens.get(tok)
        if exp is None:
            return "invalid"
        return "valid" if time.monotonic() < exp else "expired"

    def use_token(self, tok):
        """Counts one GET against tok's --token-uses; False once it is used up."""
        with self.lock:
            left = self.token_left.get(tok, -1)
            if left == 0:
                return False
            if left > 0:
                self.token_left[tok] = left - 1
        return True

    def write_log(self, line):
        if self.log:
            self.log.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-metadata/1"
    sys_version = ""

    def log_message(self, fmt, *args):  # keep stderr quiet; --log has the requests
        pass

    # --- responses -------------------------------------------------------------------------

    def send(self, status, body, ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.status = status

    def error(self, status, reason):
        self.send(status, json.dumps({"errors": [{"reason": reason}]}), "application/json")

    # --- dispatch --------------------------------------------------------------------------

    def handle_any(self):
        st = self.server.state
        self.status = 0
        # the body of a PUT is ignored, but must be consumed to keep the connection usable
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        try:
            if time.monotonic() - st.started < st.args.fail_503_for:
                self.error(503, "Service Unavailable")
            elif st.args.provider in ("digitalocean", "hetzner"):
                getattr(self, st.args.provider)()
            elif st.args.provider == "linode":
                self.linode()
            elif st.args.provider == "aws":
                AwsImds(self).handle()
            else:
                self.vultr()
        finally:
            self.log_request_line()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    def log_request_line(self):
        st = self.server.state
        h = self.headers
        parts = [f"{self.command} {self.path}"] + getattr(self, "log_extra", [])
        if h.get("Accept") is not None:
            parts.append(f"accept={h.get('Accept')}")
        if h.get("Metadata-Token-Expiry-Seconds") is not None:
            parts.append(f"expiry={h.get('Metadata-Token-Expiry-Seconds')}")
        if st.args.provider == "linode" and self.path != "/v1/token":
            parts.append(f"token={st.token_state(h.get('Metadata-Token'))}")
        parts.append(f"status={self.status}")
        st.write_log(" ".join(parts))

    # --- Linode ----------------------------------------------------------------------------

    def wants_json(self):
        return (self.headers.get("Accept") or "").strip() == "application/json"

    def linode(self):
        st = self.server.state
        path = self.path.split("?", 1)[0]
        if path == "/v1/token":
            if self.command != "PUT":
                return self.error(405, "Method Not Allowed")
            return self.linode_token()
        routes = {"/v1/instance": "instance", "/v1/network": "network",
                  "/v1/ssh-keys": "ssh-keys", "/v1/user-data": "user-data"}
        if path not in routes:
            return self.error(404, "Not found")
        if self.command != "GET":
            return self.error(405, "Method Not Allowed")
        if st.token_state(self.headers.get("Metadata-Token")) != "valid":
            return self.error(401, "Unauthorized")
        key = routes[path]
        if key == "user-data":
            # "only accepts the text/plain format, not application/json" (LDOCS)
            if self.wants_json():
                return self.error(406, "Not Acceptable")
            raw = st.data.get("user-data", "").encode()
            return self.send(200, base64.b64encode(raw))
        value = st.data.get(key, {})
        if self.wants_json():
            return self.send(200, json.dumps(value), "application/json")
        return self.send(200, "\n".join(flatten("", value, [])) + "\n")

    def linode_token(self):
        st = self.server.state
        ttl = self.headers.get("Metadata-Token-Expiry-Seconds")
        try:
            ttl = int(ttl)
        except (TypeError, ValueError):
            return self.error(400, "Invalid Metadata-Token-Expiry-Seconds")
        if ttl < 1 or ttl > TOKEN_MAX_TTL:
            return self.error(400, "Invalid Metadata-Token-Expiry-Seconds")
        tok = st.new_token(ttl)
        if self.wants_json():
            return self.send(200, json.dumps([tok]), "application/json")
        return self.send(200, tok)

    # --- Vultr -----------------------------------------------------------------------------

    def vultr(self):
        st = self.server.state
        path = self.path.split("?", 1)[0]
        if self.command != "GET":
            return self.send(405, "invalid method\n")
        if path == "/v1.json":
            return self.send(200, json.dumps(st.data), "application/json")
        if path == "/latest/user-data":
            ud = st.data.get("user-data", "")
            return self.send(200, ud if isinstance(ud, str) else "")
        if path == "/v1" or path.startswith("/v1/"):
            return self.vultr_value(path)
        return self.send(404, "invalid location\n")

    def vultr_value(self, path):
        node = self.server.state.data
        for part in [p for p in path[len("/v1"):].split("/") if p]:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return self.send(404, "invalid location\n")
        if path.endswith("/") or isinstance(node, (dict, list)):
            # "Indexes end with / and list values" (VMD)
            if isinstance(node, dict):
                names = [k + ("/" if isinstance(v, (dict, list)) else "") for k, v in node.items()]
            elif isinstance(node, list) and all(not isinstance(v, (dict, list)) for v in node):
                names = [scalar(v) for v in node]
            elif isinstance(node, list):
                names = [f"{i}/" for i in range(len(node))]
            else:
                return self.send(404, "invalid location\n")
            return self.send(200, "\n".join(names) + "\n")
        return self.send(200, scalar(node))

    # --- DigitalOcean ----------------------------------------------------------------------

    def digitalocean(self):
        path = self.path.split("?", 1)[0]
        if self.command != "GET":
            return self.send(405, "405 Method Not Allowed\n")
        if path == "/metadata/v1.json":
            return self.send(200, json.dumps(self.server.state.data), "application/json")
        return self.send(404, "404 Not Found\n")

    # --- Hetzner Cloud ---------------------------------------------------------------------

    def hetzner(self):
        tree = self.server.state.data
        path = self.path.split("?", 1)[0]
        base = "/hetzner/v1/metadata"
        if self.command != "GET":
            return self.send(405, "Method Not Allowed\n")
        if path == "/hetzner/v1/userdata":
            return self.send(200, tree.get("userdata", ""))
        if path == base:
            return self.send(200, hetzner_yaml(tree), "text/yaml")
        key = path[len(base) + 1:] if path.startswith(base + "/") else None
        if key not in tree:
            return self.send(404, "not found\n")
        if isinstance(tree[key], (dict, list)):
            return self.send(200, hetzner_yaml(tree[key]), "text/yaml")
        return self.send(200, scalar(tree[key]))


def hetzner_yaml(value):
    """Block-style YAML as cloud-init's and afterburn's captured samples show it."""
    import yaml  # python3-yaml: only the Hetzner fake needs it

    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False)


class AwsImds:
    """EC2 IMDSv2 as an instance with HttpTokens=required answers (AWS EC2 User Guide,
    instancedata-data-retrieval.html; the 2019 AWS Security Blog post "Add defense in depth
    against open firewalls, reverse proxies, and SSRF vulnerabilities with enhancements to the
    EC2 Instance Metadata Service" for X-Forwarded-For; re:Post "troubleshoot instance metadata"
    for 400/401/403; cloud-init's test_ec2.py mock for the tree):

      PUT /latest/api/token   X-aws-ec2-metadata-token-ttl-seconds: 1..21600 required (else
                              400); a PUT carrying X-Forwarded-For is refused (403); any other
                              method 405. The token as text/plain.
      GET /latest/meta-data/<path>
                              X-aws-ec2-metadata-token must be a valid, unexpired token (else
                              401, as IMDSv1 requests get on such instances). A string is
                              served as it is, a list one entry per line, a dict as its listing
                              (sub-dicts with a trailing "/"); anything else 404 with IMDS's
                              HTML body.
    Tokens are per process, expire after their TTL, or (--token-uses N) after N GETs.
    """

    TTL_MAX = 21600
    NOT_FOUND = ('<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html PUBLIC '
                 '"-//W3C//DTD XHTML 1.0 Transitional//EN"\n\t'
                 '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
                 '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
                 ' <head>\n  <title>404 - Not Found</title>\n </head>\n <body>\n'
                 '  <h1>404 - Not Found</h1>\n </body>\n</html>\n')

    def __init__(self, handler):
        self.h = handler
        self.st = handler.server.state
        handler.log_extra = []

    def handle(self):
        path = self.h.path.split("?", 1)[0]
        if path == "/latest/api/token":
            return self.token()
        if self.h.command != "GET":
            return self.h.send(405, "")
        tok = self.h.headers.get("X-aws-ec2-metadata-token")
        state = self.st.token_state(tok)
        if state == "valid" and not self.st.use_token(tok):
            state = "expired"
        self.h.log_extra.append(f"token={state}")
        if state != "valid":
            return self.h.send(401, "")
        if path == "/latest/meta-data" or path.startswith("/latest/meta-data/"):
            return self.value(path[len("/latest/meta-data"):])
        return self.h.send(404, self.NOT_FOUND, "text/html")

    def token(self):
        ttl = self.h.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self.h.log_extra.append(f"ttl={ttl}")
        if self.h.command != "PUT":
            return self.h.send(405, "")
        if self.h.headers.get("X-Forwarded-For") is not None:
            return self.h.send(403, "")
        try:
            ttl = int(ttl)
        except (TypeError, ValueError):
            return self.h.send(400, "")
        if ttl < 1 or ttl > self.TTL_MAX:
            return self.h.send(400, "")
        tok = base64.b64encode(secrets.token_bytes(40)).decode()
        with self.st.lock:
            self.st.tokens[tok] = time.monotonic() + ttl
            self.st.token_left[tok] = self.st.args.token_uses or -1
        return self.h.send(200, tok)

    def value(self, sub):
        node = self.st.data.get("meta-data", {})
        for part in [p for p in sub.split("/") if p]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str):
            return self.h.send(200, node)
        if isinstance(node, list):
            return self.h.send(200, "\n".join(node))
        if isinstance(node, dict):
            names = [k + ("/" if isinstance(v, dict) else "") for k, v in node.items()]
            return self.h.send(200, "\n".join(names))
        return self.h.send(404, self.NOT_FOUND, "text/html")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--provider", choices=["linode", "vultr", "digitalocean", "hetzner", "aws"], required=True)
    ap.add_argument("--data", required=True, help="JSON file (see module doc)")
    ap.add_argument("--bind", default="169.254.169.254", help="address, fe80::...%%ifname too")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--log")
    ap.add_argument("--refuse-for", type=float, default=0.0, dest="refuse_for")
    ap.add_argument("--503-for", type=float, default=0.0, dest="fail_503_for")
    ap.add_argument("--first-data", dest="first_data")
    ap.add_argument("--first-for", type=float, default=0.0, dest="first_for")
    ap.add_argument("--token-uses", type=int, default=0, dest="token_uses",
                    help="aws: a token answers this many GETs, then 401 (expiry mid-fetch)")
    args = ap.parse_args()
    with open(args.data) as f:
        data = json.load(f)
    first = None
    if args.first_data:
        with open(args.first_data) as f:
            first = json.load(f)
    if args.refuse_for > 0:
        time.sleep(args.refuse_for)
    Server.address_family = socket.AF_INET6 if ":" in args.bind else socket.AF_INET
    addr = (args.bind, args.port)
    if "%" in args.bind:  # a link-local address with its interface: bind needs the scope id
        addr = socket.getaddrinfo(args.bind, args.port, socket.AF_INET6, socket.SOCK_STREAM)[0][4]
    httpd = Server(addr, Handler)
    httpd.state = State(args, data, first)
    httpd.state.write_log(f"listening {args.provider} {args.bind} {args.port}")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
