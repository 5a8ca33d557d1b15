#!/usr/bin/python3
"""Host side of tests/vm/test-kernel.sh.

  vmcheck.py gen DIR     writes DIR/eq1.conf, DIR/eq2.conf: one desired device and a changed one
                         (peers added, removed, re-keyed, re-routed; a peer whose 700 allowed IPs
                         span several netlink messages both ways; non-canonical prefixes)
  vmcheck.py judge DIR   reads DIR/in and DIR/out after the VM ran; prints "ok <check>" /
                         "FAIL <check>: why" lines; exit 1 on any failure
"""
import base64
import ipaddress
import json
import os
import re
import sys

NODES = ["l1", "l2", "l3", "v1", "v2", "v3"]
NODES_A = NODES[:5]
PORT = 51871
NOOP_RE = re.compile(r"summary: .* list=1 get=0 put=0 retries=0 units_written=0 wg_set=0 "
                     r"link_changed=0 bucket=ok")
JOIN_RE = re.compile(r"summary: peers=5 .* get=1 put=0 retries=0 units_written=1 wg_set=1 "
                     r"link_changed=0 bucket=ok")


def key():
    return base64.b64encode(os.urandom(32)).decode()


def clamp(k):
    b = bytearray(base64.b64decode(k))
    b[0] &= 248
    b[31] = (b[31] & 127) | 64
    return base64.b64encode(bytes(b)).decode()


# ---- the desired devices ------------------------------------------------------------------

def eq_devices():
    """Two device models: {"private", "port", "peers": {pub: {psk, endpoint, ips, keepalive}}}."""
    d1 = {"private": key(), "port": 51900, "peers": {}}
    small = []
    for i in range(240):
        ips = [f"10.200.{i // 250}.{i % 250 + 1}/32"]
        if i % 3 == 0:
            ips.append(f"fd00:200::{i:x}/128")
        if i % 5 == 0:
            ep = f"[2001:db8::{i:x}]:51820"
        elif i % 4 != 3:
            ep = f"192.0.2.{i % 250 + 1}:{51820 + i}"
        else:
            ep = None
        p = {"psk": key() if i % 2 == 0 else None, "endpoint": ep, "ips": ips,
             "keepalive": 25 if i % 3 == 1 else 0}
        pub = key()
        small.append(pub)
        d1["peers"][pub] = p
    big = key()
    d1["peers"][big] = {"psk": key(), "endpoint": "198.51.100.77:51820", "keepalive": 0,
                        "ips": [f"10.201.{j // 256}.{j % 256}/32" for j in range(500)] +
                        [f"fd00:201::{j:x}/128" for j in range(200)]}
    # host bits set: the kernel stores the network; the diff must see that as equal
    d1["peers"][key()] = {"psk": None, "endpoint": None, "keepalive": 0,
                          "ips": ["10.202.1.7/24", "fd00:202::5/64"]}
    d1["peers"][key()] = {"psk": None, "endpoint": None, "keepalive": 0, "ips": []}

    d2 = json.loads(json.dumps(d1))
    d2["port"] = 51901
    for i, pub in enumerate(small):
        p = d2["peers"][pub]
        if i % 10 == 9:
            del d2["peers"][pub]
        elif i % 10 == 1:
            p["endpoint"] = f"198.18.{i // 250}.{i % 250 + 1}:{40000 + i}"
        elif i % 10 == 2:
            p["ips"] = p["ips"] + [f"10.210.{i // 250}.{i % 250 + 1}/32"]
        elif i % 10 == 3:
            p["psk"] = key()
        elif i % 10 == 4:
            p["psk"] = None
        elif i % 10 == 5:
            p["keepalive"] = 0 if p["keepalive"] else 15
    bp = d2["peers"][big]
    bp["ips"] = bp["ips"][:300] + [f"10.203.{j // 256}.{j % 256}/32" for j in range(100)]
    for _ in range(30):
        d2["peers"][key()] = {"psk": key(), "endpoint": "192.0.2.250:51820", "keepalive": 25,
                              "ips": [f"10.204.0.{len(d2['peers']) % 250 + 1}/32"]}
    return d1, d2


def write_conf(path, d):
    lines = ["[Interface]", f"PrivateKey = {d['private']}", f"ListenPort = {d['port']}"]
    for pub, p in d["peers"].items():
        lines += ["", "[Peer]", f"PublicKey = {pub}"]
        if p["psk"]:
            lines.append(f"PresharedKey = {p['psk']}")
        if p["endpoint"]:
            lines.append(f"Endpoint = {p['endpoint']}")
        # several AllowedIPs lines add up (wg(8)); wg-apply reads lines of up to 1 KiB
        for i in range(0, len(p["ips"]), 20):
            lines.append("AllowedIPs = " + ", ".join(p["ips"][i:i + 20]))
        if p["keepalive"]:
            lines.append(f"PersistentKeepalive = {p['keepalive']}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


def gen(d):
    d1, d2 = eq_devices()
    write_conf(os.path.join(d, "eq1.conf"), d1)
    write_conf(os.path.join(d, "eq2.conf"), d2)
    with open(os.path.join(d, "eq.json"), "w") as f:
        json.dump([d1, d2], f)


# ---- reading what came out --------------------------------------------------------------

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return f"<{e}>"


def norm_ips(ips):
    return sorted(str(ipaddress.ip_network(i, strict=False)) for i in ips)


def norm_endpoint(ep):
    if not ep or ep == "(none)":
        return "(none)"
    host, port = ep.rsplit(":", 1)
    return f"{ipaddress.ip_address(host.strip('[]'))}:{port}"


def parse_dump(text):
    """wg show IF dump -> (interface fields, {pub: (psk, endpoint, ips, keepalive, hs, rx, tx)})."""
    lines = [l.split("\t") for l in text.strip().splitlines()]
    if not lines or len(lines[0]) != 4:
        raise ValueError(f"not a wg dump: {text[:200]!r}")
    peers = {}
    for f in lines[1:]:
        if len(f) != 8:
            raise ValueError(f"bad peer line {f!r}")
        ips = [] if f[3] == "(none)" else norm_ips(f[3].split(","))
        peers[f[0]] = {"psk": f[1], "endpoint": norm_endpoint(f[2]), "ips": ips,
                       "keepalive": f[7], "hs": int(f[4]), "rx": int(f[5]), "tx": int(f[6])}
    return lines[0], peers


def model_view(d):
    """A device model as a dump would show it (private key clamped, prefixes masked)."""
    peers = {}
    for pub, p in d["peers"].items():
        peers[pub] = {"psk": p["psk"] or "(none)", "endpoint": norm_endpoint(p["endpoint"]),
                      "ips": norm_ips(p["ips"]),
                      "keepalive": str(p["keepalive"]) if p["keepalive"] else "off"}
    return clamp(d["private"]), str(d["port"]), peers


def dump_view(text):
    iface, peers = parse_dump(text)
    return iface[0], iface[2], {k: {f: v[f] for f in ("psk", "endpoint", "ips", "keepalive")}
                                for k, v in peers.items()}


def diff_views(a, b, na, nb):
    out = []
    if a[0] != b[0]:
        out.append("private key differs")
    ka, kb = set(a[2]), set(b[2])
    if ka != kb:
        out.append(f"peers only in {na}: {len(ka - kb)}, only in {nb}: {len(kb - ka)}")
    for k in sorted(ka & kb):
        if a[2][k] != b[2][k]:
            out.append(f"peer {k[:8]}: {na} {a[2][k]} vs {nb} {b[2][k]}"[:400])
            if len(out) > 4:
                break
    return out


def expected_counts(live, want):
    """What wg-apply should report for applying want over live (None = empty device)."""
    if live is None:
        return len(want["peers"]), 0, 0
    added = len(set(want["peers"]) - set(live["peers"]))
    removed = len(set(live["peers"]) - set(want["peers"]))
    changed = 0
    for k in set(live["peers"]) & set(want["peers"]):
        a, b = live["peers"][k], want["peers"][k]
        if (a["psk"] != b["psk"] or a["keepalive"] != b["keepalive"] or
                norm_ips(a["ips"]) != norm_ips(b["ips"]) or
                (b["endpoint"] and norm_endpoint(a["endpoint"]) != norm_endpoint(b["endpoint"]))):
            changed += 1
    return added, removed, changed


class Judge:
    def __init__(self, d):
        self.inp = os.path.join(d, "in")
        self.out = os.path.join(d, "out")
        self.failed = 0

    def o(self, *p):
        return os.path.join(self.out, *p)

    def check(self, name, problems):
        problems = [p for p in problems if p]
        if problems:
            self.failed += 1
            print(f"FAIL {name}: " + "; ".join(problems)[:1500])
        else:
            print(f"ok {name}")

    def has(self, path, *needles):
        text = read(path)
        return [f"{os.path.basename(path)} lacks {n!r}: {text.strip()[-300:]!r}"
                for n in needles if n not in text.splitlines() and n not in text]

    # -- error mapping on a real kernel
    def errors(self):
        self.check("no wireguard module: kernel has no WireGuard (EOPNOTSUPP), exit 1",
                   self.has(self.o("eq", "nomod.out"), "kernel has no WireGuard", "rc=1"))
        for f, what in (("eperm-create.out", "creating a link"), ("eperm-get.out", "dumping a device")):
            self.check(f"without CAP_NET_ADMIN, {what} fails with EPERM",
                       self.has(self.o("eq", f), "Operation not permitted", "rc=1"))

        self.check("a link of another kind under the name is refused (EEXIST)",
                   self.has(self.o("eq", "eexist.out"), "File exists", "rc=1"))
        st = read(self.o("eq", "intr.strace"))
        self.check("a GET dump interrupted by a concurrent SET (NLM_F_DUMP_INTR) is restarted "
                   "and its parts are not merged",
                   self.has(self.o("eq", "kernel-intr.out"), "noop", "rc=0") +
                   [None if "NLM_F_DUMP_INTR" in st else
                    "the kernel never flagged a dump (recvmsg numbers in guest-kernel.sh dump_intr "
                    "may need moving)",
                    None if 2 <= st.count("NETLINK_GENERIC) =") <= 5 else
                    f"{st.count('NETLINK_GENERIC) =')} genetlink sockets, want 2-5 (restarts)"])
        bad = [l for l in read(self.o("dmesg.txt")).splitlines()
               if re.search(r"leftover after parsing|WARNING:|BUG:|Call Trace|general protection", l)]
        self.check("the kernel logged no netlink parse complaint, warning or oops", bad[:5])

    # -- the same desired device through both backends
    def equivalence(self):
        with open(os.path.join(self.inp, "eq.json")) as f:
            d1, d2 = json.load(f)
        for b in ("kernel", "userspace"):
            a1, r1, c1 = expected_counts(None, d1)
            a2, r2, c2 = expected_counts(d1, d2)
            e = lambda t: self.o("eq", f"{b}-{t}.out")
            self.check(f"{b}: first apply creates the device, adds {a1} peers",
                       self.has(e("1"), f"backend={b} created=1",
                                f"added={a1} removed={r1} changed={c1} device=1",
                                "link=changed", "rc=0"))
            self.check(f"{b}: the same config again is a no-op (dump parsed back = desired)",
                       self.has(e("1again"), f"backend={b} created=0", "noop", "link=unchanged",
                                "rc=0"))
            self.check(f"{b}: changed config: +{a2} -{r2} ~{c2} peers and a new port",
                       self.has(e("2"), f"added={a2} removed={r2} changed={c2} device=1",
                                "link=unchanged", "rc=0"))
            self.check(f"{b}: changed config again is a no-op",
                       self.has(e("2again"), "noop", "link=unchanged", "rc=0"))
            self.check(f"{b}: an IPv6 address is added once",
                       self.has(e("v6"), "noop", "link=changed", "rc=0") +
                       self.has(e("v6again"), "noop", "link=unchanged", "rc=0"))
            link, addr = read(self.o("eq", f"{b}.link")), read(self.o("eq", f"{b}.addr"))
            self.check(f"{b}: link up, MTU 1400, 10.99.0.1/24 and fd99::1/64",
                       [None if re.search(r"[<,]UP[,>]", link) else f"not up: {link!r}",
                        None if " mtu 1400 " in link else f"mtu: {link!r}",
                        None if "inet 10.99.0.1/24" in addr else f"v4: {addr!r}",
                        None if "inet6 fd99::1/64" in addr else f"v6: {addr!r}"] +
                       ([None if "wireguard" in link else f"kind: {link!r}"] if b == "kernel" else []))
            self.check(f"{b}: destroy removes the device",
                       self.has(self.o("eq", f"{b}-destroy.out"), "rc=0", "does not exist"))
        views = {}
        for step, model in (("1", d1), ("2", d2)):
            want = model_view(model)
            for b in ("kernel", "userspace"):
                try:
                    views[b, step] = dump_view(read(self.o("eq", f"{b}-{step}.dump")))
                    self.check(f"{b}: wg show dump after config {step} = the config "
                               f"({len(want[2])} peers, {sum(len(p['ips']) for p in want[2].values())} allowed IPs)",
                               diff_views(views[b, step], want, b, "config") +
                               [None if views[b, step][1] == want[1] else
                                f"listen port {views[b, step][1]} != {want[1]}"])
                except ValueError as ex:
                    self.check(f"{b}: wg show dump after config {step}", [str(ex)])
            if ("kernel", step) in views and ("userspace", step) in views:
                self.check(f"config {step}: kernel and wireguard-go dumps are the same "
                           "(minus ports and timestamps)",
                           diff_views(views["kernel", step], views["userspace", step],
                                      "kernel", "wireguard-go"))

    # -- the fleet
    def fleet(self):
        dumps = {}
        for phase in "ABCD":
            for n in NODES:
                p = self.o(phase, f"{n}.dump")
                if os.path.exists(p):
                    try:
                        dumps[phase, n] = parse_dump(read(p))
                    except ValueError as ex:
                        dumps[phase, n] = None
                        self.check(f"dump {phase}/{n}", [str(ex)])
        pub = {n: read(self.o("units", n, "pub")).strip() for n in NODES}
        name_of = {v: k for k, v in pub.items()}

        boot = [f"{n}: {read(self.o('logs', f'run-{n}-boot.log')).strip()[-300:]!r}"
                for n in NODES if "created (kernel backend)" not in read(self.o("logs", f"run-{n}-boot.log"))]
        self.check("first boot creates wg0 through the kernel backend on every node "
                   "(backend = kernel on l*, auto on v*)", boot)

        # what clique-boot configured (units, dry-run) against what the kernel holds (wg show)
        probs = []
        for n in NODES:
            d = dumps.get(("D", n))
            if not d:
                probs.append(f"{n}: no dump")
                continue
            iface, peers = d
            unit = parse_netdev(read(self.o("units", n, "90-clique-wg0.netdev")))
            if iface[1] != pub[n]:
                probs.append(f"{n}: public key {iface[1]} is not the state dir's {pub[n]}")
            if clamp(iface[0]) != clamp(unit["private"] or key()):
                probs.append(f"{n}: private key differs from the unit's")
            if iface[2] != str(PORT) or unit["port"] != str(PORT):
                probs.append(f"{n}: listen port {iface[2]} (unit {unit['port']})")
            want = {pub[m] for m in NODES if m != n}
            if set(peers) != want:
                probs.append(f"{n}: peers {sorted(name_of.get(k, k[:8]) for k in peers)}")
            if set(unit["peers"]) != set(peers):
                probs.append(f"{n}: unit peers differ from the kernel's")
            for k, p in peers.items():
                m = name_of.get(k, "?")
                u = unit["peers"].get(k, {})
                ep = (f"192.168.131.1{m[1]}" if n[0] == "l" and m[0] == "l"
                      else f"198.51.100.{1 if m[0] == 'l' else 2}{m[1]}") + f":{PORT}"
                mip = f"10.15.{0 if m[0] == 'l' else 1}.{m[1]}/32"
                got = (p["endpoint"], p["ips"], p["keepalive"], p["psk"])
                exp = (ep, [mip], "25", u.get("psk"))
                if got != exp:
                    probs.append(f"{n}->{m}: kernel {got[:3]} psk-equal={got[3] == exp[3]}, want {exp[:3]}")
                if (u.get("endpoint"), u.get("ips"), u.get("keepalive")) != exp[:3]:
                    probs.append(f"{n}->{m}: unit {u}")
            try:
                dry = json.loads(read(self.o("logs", f"dry-{n}.json")))
                for dp in dry["peers"]:
                    k = dp.get("public_key")
                    if k not in peers:
                        probs.append(f"{n}: dry-run peer {dp.get('name')} not in the kernel")
                        continue
                    if (norm_endpoint(dp.get("endpoint")) != peers[k]["endpoint"] or
                            norm_ips(dp.get("allowed_ips", [])) != peers[k]["ips"]):
                        probs.append(f"{n}: dry-run {dp} vs kernel {peers[k]}")
                if len(dry["peers"]) != 5:
                    probs.append(f"{n}: dry-run has {len(dry['peers'])} peers")
            except (ValueError, KeyError, TypeError) as ex:
                probs.append(f"{n}: dry-run json: {ex}")
            link, addr = read(self.o("units", n, "link")), read(self.o("units", n, "addr"))
            mine = f"10.15.{0 if n[0] == 'l' else 1}.{n[1]}/16"
            mtu = 1380 if n == "l2" else 1420
            if (f"inet {mine} " not in addr or not re.search(r"[<,]UP[,>]", link) or
                    "wireguard" not in link or f" mtu {mtu} " not in link):
                probs.append(f"{n}: link {link.strip()!r} addr {addr.strip()!r}")
        self.check("wg show agrees with clique-boot's units and --dry-run: keys, listen port, "
                   "peers, LAN/WAN endpoints, allowed IPs, keepalive, PSK; address, MTU, up", probs)

        probs = []
        for a in NODES:
            for b in NODES:
                if a < b and ("D", a) in dumps and ("D", b) in dumps and dumps["D", a] and dumps["D", b]:
                    pa = dumps["D", a][1].get(pub[b], {}).get("psk")
                    pb = dumps["D", b][1].get(pub[a], {}).get("psk")
                    if not pa or pa == "(none)" or pa != pb:
                        probs.append(f"{a}/{b}")
        self.check("both ends of all 15 pairs hold the same non-empty PSK", probs)

        # the join: the five old nodes' sessions with each other survive their refresh
        probs = []
        for n in NODES_A:
            a, b = dumps.get(("A", n)), dumps.get(("B", n))
            if not a or not b:
                probs.append(f"{n}: dumps missing")
                continue
            for m in NODES_A:
                if m == n:
                    continue
                pa, pb = a[1].get(pub[m]), b[1].get(pub[m])
                if not pa or not pb or not pa["hs"]:
                    probs.append(f"{n}->{m}: no handshake before the join")
                elif pb["hs"] != pa["hs"] or pb["rx"] < pa["rx"] or pb["tx"] < pa["tx"]:
                    probs.append(f"{n}->{m}: handshake {pa['hs']} -> {pb['hs']}, "
                                 f"rx {pa['rx']} -> {pb['rx']}, tx {pa['tx']} -> {pb['tx']}")
            if pub["v3"] not in b[1]:
                probs.append(f"{n}: v3 not added")
        self.check("v3 joins: the refresh adds it and leaves the 20 existing sessions' "
                   "handshake times untouched", probs)
        join = [f"{n}: {last_summary(read(self.o('logs', f'run-{n}-join.log')))}"
                for n in NODES_A if not JOIN_RE.search(read(self.o("logs", f"run-{n}-join.log")))]
        self.check("join refresh: one GET (the new record), one SET, unit rewritten, link untouched", join)

        probs = []
        for n in NODES:
            c, d = dumps.get(("C", n)), dumps.get(("D", n))
            if not c or not d:
                probs.append(f"{n}: dumps missing")
                continue
            for k, pc in c[1].items():
                pd = d[1].get(k)
                if not pc["hs"] or not pd or pd["hs"] != pc["hs"]:
                    probs.append(f"{n}->{name_of.get(k, '?')}: {pc['hs']} -> {pd and pd['hs']}")
        self.check("every node has 5/5 handshakes and the no-op refresh keeps all 30", probs)
        noop = [f"{n}: {last_summary(read(self.o('logs', f'run-{n}-noop.log')))}"
                for n in NODES if not NOOP_RE.search(read(self.o("logs", f"run-{n}-noop.log")))]
        self.check("second refresh changes nothing: list=1 get=0 put=0 units_written=0 wg_set=0 "
                   "link_changed=0", noop)

        probs = []
        for n in NODES:
            ls = read(self.o("units", n, "ls.txt"))
            for ext in ("netdev", "network"):
                if not re.search(rf"^-rw-r----- +\d+ +0 +102 .* 90-clique-wg0\.{ext}$", ls, re.M):
                    probs.append(f"{n} {ext}: {ls!r}")
        self.check("networkd units 0640 root:systemd-network", probs)

    def guest_checks(self):
        text = read(self.o("checks"))
        print(text.strip())
        self.failed += len(re.findall(r"^FAIL ", text, re.M))
        if "six-node mesh" not in text:
            self.failed += 1
            print("FAIL the guest did not get to the six-node ping matrix")


def last_summary(text):
    m = [l for l in text.splitlines() if "summary:" in l]
    return m[-1] if m else text.strip()[-300:]


def parse_netdev(text):
    unit = {"private": None, "port": None, "peers": {}}
    cur = None
    for line in text.splitlines():
        line = line.strip()
        if line == "[WireGuardPeer]":
            cur = {}
            continue
        if "=" not in line or line.startswith("#"):
            continue
        k, v = line.split("=", 1)
        if cur is None:
            if k == "PrivateKey":
                unit["private"] = v
            elif k == "ListenPort":
                unit["port"] = v
            continue
        if k == "PublicKey":
            unit["peers"][v] = cur
        elif k == "PresharedKey":
            cur["psk"] = v
        elif k == "Endpoint":
            cur["endpoint"] = norm_endpoint(v)
        elif k == "AllowedIPs":
            cur["ips"] = norm_ips(v.split(","))
        elif k == "PersistentKeepalive":
            cur["keepalive"] = v
    return unit


def judge(d):
    j = Judge(d)
    if not os.path.exists(j.o("checks")):
        print("FAIL the guest script never ran (no results on the 9p share)")
        return 1
    j.guest_checks()
    j.errors()
    j.equivalence()
    j.fleet()
    return 1 if j.failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("gen", "judge"):
        sys.exit(__doc__)
    if sys.argv[1] == "gen":
        gen(sys.argv[2])
        sys.exit(0)
    sys.exit(judge(sys.argv[2]))
