#!/usr/bin/python3
"""Writes a wg(8) config with N peers (random keys, a PSK, a /32 and an endpoint each).

usage: gen-wgconf.py N OUT [CHANGED_OUT]
CHANGED_OUT, when given, is the same config with one peer's endpoint moved: the input of the
"diff apply of 1 changed peer" figure. Deterministic (seeded) so runs compare.
"""
import base64, random, sys

n, out = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(51871)
key = lambda: base64.b64encode(bytes(rnd.getrandbits(8) for _ in range(32))).decode()
priv = bytearray(rnd.getrandbits(8) for _ in range(32))
priv[0] &= 248
priv[31] = (priv[31] & 127) | 64
peers = []
for i in range(n):
    ip = f"10.{16 + i // 65536}.{(i // 256) % 256}.{i % 256}"
    ep = f"198.51.{100 + i // 60000}.{1 + (i // 250) % 250}:{20000 + i % 250}"
    peers.append([key(), key(), ip, ep])


def write(path, peers):
    with open(path, "w") as f:
        f.write(f"[Interface]\nPrivateKey = {base64.b64encode(bytes(priv)).decode()}\n"
                "ListenPort = 51871\n")
        for pub, psk, ip, ep in peers:
            f.write(f"\n[Peer]\nPublicKey = {pub}\nPresharedKey = {psk}\n"
                    f"AllowedIPs = {ip}/32\nEndpoint = {ep}\nPersistentKeepalive = 25\n")


write(out, peers)
if len(sys.argv) > 3:
    peers[n // 2][3] = "203.0.113.77:51871"
    write(sys.argv[3], peers)
