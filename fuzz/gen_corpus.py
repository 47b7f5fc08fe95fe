#!/usr/bin/env python3
"""Writes the seed corpus of the evpnd-wire fuzz targets (fuzz/corpus/<target>/).

Seeds are built from the independent test vectors (shared/vectors/positive_vectors.json: full
UPDATEs, UPDATE bodies and bare EVPN NLRI), wrapped where needed into UPDATEs with ORIGIN,
AS_PATH and extended communities, plus a few hand-assembled OPEN, KEEPALIVE, NOTIFICATION,
ROUTE-REFRESH and End-of-RIB messages (RFC 4271 §4, RFC 2918, RFC 4724).

Every input starts with the 7-byte FuzzContext of fuzz/src/lib.rs (one byte per flag:
four_octet_as, extended_message, external_peer, then ADD-PATH for IPv4 unicast, IPv6 unicast,
RT-Constraint, EVPN). The evpn_nlri and attributes targets read two more shape bytes.

Usage: fuzz/gen_corpus.py [path/to/positive_vectors.json]
(default: ../shared/vectors/positive_vectors.json relative to the repository root).
"""

import hashlib
import json
import os
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
TARGETS = ["message", "roundtrip", "evpn_nlri", "attributes"]


def ctx(four_octet=True, extended=False, external=False, add_path=(0, 0, 0, 0)):
    return bytes([int(four_octet), int(extended), int(external)] + [int(x) for x in add_path])


CTX = ctx()
CTX_ADD_PATH_EVPN = ctx(add_path=(0, 0, 0, 1))
CTX_2OCTET_EBGP = ctx(four_octet=False, external=True)


def message(msg_type, body):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), msg_type) + body


def attr(flags, type_code, value):
    """flags | type | length | value, with the Extended Length bit exactly when needed."""
    if len(value) > 255:
        return struct.pack("!BBH", flags | 0x10, type_code, len(value)) + value
    return struct.pack("!BBB", flags & ~0x10, type_code, len(value)) + value


def update(withdrawn=b"", attrs=b"", nlri=b""):
    body = struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs + nlri
    return message(2, body)


ORIGIN_IGP = attr(0x40, 1, b"\x00")
AS_PATH_4 = attr(0x40, 2, b"\x02\x01" + struct.pack("!I", 65001))
AS_PATH_2 = attr(0x40, 2, b"\x02\x01" + struct.pack("!H", 65001))
# Route target 65001:100 (RFC 4360 §4) and the VXLAN encapsulation community (RFC 9012 §4.1).
EXT_COMM = attr(0xC0, 16, bytes([0x00, 0x02, 0xFD, 0xE9, 0, 0, 0, 100, 0x03, 0x0C, 0, 0, 0, 0, 0, 8]))


def mp_reach_evpn(nlri, next_hop=bytes([198, 18, 0, 1])):
    value = struct.pack("!HBB", 25, 70, len(next_hop)) + next_hop + b"\x00" + nlri
    return attr(0x80, 14, value)


def mp_unreach_evpn(nlri):
    return attr(0x80, 15, struct.pack("!HB", 25, 70) + nlri)


def evpn_announce(nlri):
    return update(attrs=mp_reach_evpn(nlri) + ORIGIN_IGP + AS_PATH_4 + EXT_COMM)


def split_update(msg):
    """Returns (withdrawn, attribute section, nlri) of a full UPDATE."""
    body = msg[19:]
    wlen = struct.unpack("!H", body[:2])[0]
    withdrawn = body[2 : 2 + wlen]
    rest = body[2 + wlen :]
    tal = struct.unpack("!H", rest[:2])[0]
    return withdrawn, rest[2 : 2 + tal], rest[2 + tal :]


def mp_nlri(attrs):
    """Yields (is_unreach, nlri bytes) for each MP attribute in an attribute section."""
    i = 0
    while i + 3 <= len(attrs):
        flags, t = attrs[i], attrs[i + 1]
        if flags & 0x10:
            length = struct.unpack("!H", attrs[i + 2 : i + 4])[0]
            i += 4
        else:
            length = attrs[i + 2]
            i += 3
        v = attrs[i : i + length]
        i += length
        if t == 14:
            nh_len = v[3]
            yield False, v[5 + nh_len :]
        elif t == 15:
            yield True, v[3:]


def hand_built():
    caps = b"".join(
        [
            b"\x01\x04\x00\x19\x00\x46",  # multiprotocol L2VPN/EVPN
            b"\x01\x04\x00\x01\x00\x01",  # multiprotocol IPv4 unicast
            b"\x02\x00",  # route refresh
            b"\x06\x00",  # extended message
            b"\x41\x04" + struct.pack("!I", 65001),  # 4-octet AS
            b"\x45\x04\x00\x19\x46\x03",  # ADD-PATH EVPN send/receive
            b"\x40\x06\x80\x78\x00\x19\x46\x80",  # graceful restart, 120 s, EVPN F-bit
            b"\x49\x0a\x05leaf1\x03lab",  # FQDN
        ]
    )
    params = b"".join(b"\x02" + bytes([len(c)]) + c for c in [caps])
    open_body = struct.pack("!BHH", 4, 65001, 90) + bytes([198, 18, 0, 1]) + bytes([len(params)]) + params
    # Regression seed (found by the roundtrip target): a second 4-octet AS capability with AS 0
    # must be Bad Peer AS (RFC 7607 §2) like the first.
    as4_twice = b"\x02\x06\x41\x04" + struct.pack("!I", 65001) + b"\x02\x06\x41\x04\x00\x00\x00\x00"
    open_as0 = struct.pack("!BHH", 4, 65001, 90) + bytes([198, 18, 0, 1, len(as4_twice)]) + as4_twice
    shutdown = b"maintenance"
    v4_attrs = ORIGIN_IGP + AS_PATH_4 + attr(0x40, 3, bytes([198, 18, 0, 1])) + attr(0x80, 4, b"\x00\x00\x00\x0a")
    v4_attrs_2 = ORIGIN_IGP + AS_PATH_2 + attr(0x40, 3, bytes([198, 18, 0, 1]))
    return [
        ("open", CTX, message(1, open_body)),
        ("open-second-as4-zero", CTX, message(1, open_as0)),
        ("keepalive", CTX, message(4, b"")),
        ("notification-shutdown", CTX, message(3, b"\x06\x02" + bytes([len(shutdown)]) + shutdown)),
        ("route-refresh-evpn", CTX, message(5, b"\x00\x19\x00\x46")),
        ("route-refresh-borr", CTX, message(5, b"\x00\x19\x01\x46")),
        ("eor-evpn", CTX, update(attrs=mp_unreach_evpn(b""))),
        ("eor-ipv4", CTX, update()),
        (
            "ipv4-unicast",
            CTX,
            update(withdrawn=bytes([24, 198, 51, 100]), attrs=v4_attrs, nlri=bytes([24, 203, 0, 113])),
        ),
        ("ipv4-unicast-2octet-ebgp", CTX_2OCTET_EBGP, update(attrs=v4_attrs_2, nlri=bytes([24, 192, 0, 2]))),
    ]


def main():
    default = os.path.join(os.path.dirname(ROOT), "shared", "vectors", "positive_vectors.json")
    path = sys.argv[1] if len(sys.argv) > 1 else default
    with open(path) as f:
        vectors = json.load(f)

    messages = hand_built()  # (name, ctx, full message)
    bare_nlri = []  # (name, nlri)
    for name, v in vectors.items():
        raw = bytes.fromhex(v["hex"])
        short = name.replace("/", "-").replace(".pcap", "")
        kind = v["kind"]
        if kind.startswith("full BGP UPDATE"):
            messages.append((short, CTX, raw))
        elif kind.startswith("UPDATE body"):
            messages.append((short, CTX, message(2, raw)))
        elif kind.startswith("EVPN NLRI"):
            bare_nlri.append((short, raw))
            messages.append((short + "-wrapped", CTX, evpn_announce(raw)))
        else:
            print(f"skipping {name}: {kind}", file=sys.stderr)
    # All bare NLRI in one UPDATE, and once with ADD-PATH path identifiers.
    everything = b"".join(n for _, n in bare_nlri)
    messages.append(("all-evpn-nlri", CTX, evpn_announce(everything)))
    with_ids = b"".join(struct.pack("!I", i + 1) + n for i, (_, n) in enumerate(bare_nlri))
    messages.append(("all-evpn-nlri-add-path", CTX_ADD_PATH_EVPN, evpn_announce(with_ids)))

    seeds = {t: [] for t in TARGETS}
    for name, c, msg in messages:
        seeds["message"].append((name, c + msg))
        seeds["roundtrip"].append((name, c + msg))
        if msg[18] == 2:
            withdrawn, attrs, nlri = split_update(msg)
            shape = bytes([int(bool(withdrawn)), int(bool(nlri))])
            seeds["attributes"].append((name, c + shape + attrs))
            for i, (unreach, n) in enumerate(mp_nlri(attrs)):
                if n:
                    seeds["evpn_nlri"].append((f"{name}-{i}", c + bytes([int(unreach), 0]) + n))
    for name, n in bare_nlri:
        seeds["evpn_nlri"].append((name + "-v6nh", CTX + b"\x00\x01" + n))
        seeds["evpn_nlri"].append((name + "-withdraw", CTX + b"\x01\x00" + n))

    total = 0
    for t, items in seeds.items():
        d = os.path.join(CORPUS, t)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        seen = set()
        for name, data in items:
            digest = hashlib.sha1(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            with open(os.path.join(d, f"{name}-{digest[:8]}"), "wb") as f:
                f.write(data)
            total += len(data)
        print(f"{t}: {len(seen)} seeds")
    print(f"{total} bytes in all")


if __name__ == "__main__":
    main()
