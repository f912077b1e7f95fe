#!/usr/bin/env python3
"""python-diameter (PyPI) as the mobility agents of seed 003 against our AAA servers.

  mip_peer.py ha PORT SECONDS OUT.json
      a home agent listening on 127.0.0.1:PORT (ha.home.example): answers every HAR with
      HAA 2001 and a Registration Reply, and records what each HAR carried.
  mip_peer.py fa AAAF_PORT OUT.json
      two foreign agents of visited.example (one python-diameter node) connected to our
      AAAF on 127.0.0.1:AAAF_PORT: an initial registration of alice from FA1, an
      intra-domain move to FA2 (Old-FA-Address FA1), an unknown user, a bad MN-AAA
      authenticator, and a user of an unreachable realm; records each AMA.
"""
import hashlib
import json
import socket
import struct
import sys
import time

from diameter.message import Avp
from diameter.message.constants import *
from diameter.message.commands import (AaMobileNodeRequest, HomeAgentMipRequest,
                                       HomeAgentMipAnswer)
from diameter.message.avp.grouped import MipMnAaaAuth
from diameter.node import Node
from diameter.node.application import SimpleThreadingApplication

VENDOR = 32473
KEY = b"mn-aaa shared key"
HA_ADDR = "198.51.100.10"
MN_ADDR = "10.200.0.5"


def decode_grouped(a):
    """python-diameter does not know our grouped vendor AVPs: parse their payload."""
    data = a.payload
    items, off = [], 0
    while off + 8 <= len(data):
        code, flags_len = struct.unpack("!II", data[off:off + 8])
        flags, length = flags_len >> 24, flags_len & 0xffffff
        hdr = 12 if flags & 0x80 else 8
        vid = struct.unpack("!I", data[off + 8:off + 12])[0] if hdr == 12 else 0
        body = data[off + hdr:off + length]
        items.append((code, vid, body))
        off += (length + 3) & ~3
    return items


def flatten(avps):
    out = {}
    for a in avps:
        if a.vendor_id != VENDOR:
            continue
        if a.code in (1001, 1003):  # VPN-Info-Cache, VPN-Profile: grouped
            out.setdefault(str(a.code), []).append(flatten_raw(decode_grouped(a)))
        else:
            out.setdefault(str(a.code), []).append(a.payload.hex())
    return out


def flatten_raw(items):
    out = {}
    for code, vid, body in items:
        if code in (1001, 1003):
            class R:  # minimal stand-in for a nested grouped AVP
                payload = body
            out.setdefault(str(code), []).append(flatten_raw(decode_grouped(R)))
        else:
            out.setdefault(str(code), []).append(body.hex())
    return out


# The FA's challenge the mobile node echoes (MN-FA Challenge extension, RFC 3012 §4).
CHALLENGE = b"\x11\x22\x33\x44fa-chal"
# Bytes the MN-AAA authenticator covers: 24 fixed + challenge extension + MN-AAA header.
MN_AAA_COVERED = 24 + 2 + len(CHALLENGE) + 8


def reg_request(coa, key):
    """Registration Request with the MN-FA Challenge and MN-AAA (RFC 3012 §8:
    MD5(challenge[0] || key || MD5(covered) || challenge[-237:])): the least-order 237
    bytes of a shorter challenge are all of it."""
    b = struct.pack("!BBH", 1, 0, 3600) + socket.inet_aton(MN_ADDR) + \
        socket.inet_aton(HA_ADDR) + socket.inet_aton(coa) + b"\0" * 7 + b"\x07"
    b += bytes([132, len(CHALLENGE)]) + CHALLENGE
    b += bytes([36, 1, 0, 20, 0, 0, 1, 0])
    assert len(b) == MN_AAA_COVERED
    inner = hashlib.md5(b).digest()
    return b + hashlib.md5(CHALLENGE[:1] + key + inner + CHALLENGE[-237:]).digest()


def ha(port, seconds, out_path):
    node = Node("ha.home.example", "home.example", ip_addresses=["127.0.0.1"], tcp_port=port,
                vendor_ids=[VENDOR])
    node.idle_timeout = 6
    seen = []

    def handle(app, req):
        rec = {"session_id": req.session_id, "user_name": req.user_name,
               "feature_vector": req.mip_feature_vector,
               "auth_application_id": req.auth_application_id,
               "destination_realm": req.destination_realm.decode() if isinstance(req.destination_realm, bytes) else req.destination_realm,
               "has_ha_to_fa_msa": any(a.code == AVP_MIP_HA_TO_FA_MSA for a in req.avps),
               "vendor": flatten(req.avps)}
        seen.append(rec)
        with open(out_path, "w") as f:
            json.dump(seen, f, indent=1)
        ans = app.generate_answer(req)
        ans.result_code = E_RESULT_CODE_DIAMETER_SUCCESS
        ans.user_name = req.user_name
        ans.mip_reg_reply = bytes([3, 0, 0x0e, 0x10]) + socket.inet_aton(MN_ADDR) + \
            socket.inet_aton(HA_ADDR) + b"\0" * 7 + b"\x07"
        ans.mip_home_agent_address = HA_ADDR
        ans.mip_mobile_node_address = MN_ADDR
        return ans

    app = SimpleThreadingApplication(APP_MOBILE_IPV4_APPLICATION,
                                     is_auth_application=True, request_handler=handle)
    peer = node.add_peer("aaa://aaah.home.example", "home.example")
    node.add_application(app, [peer])
    node.start()
    print("ha ready", flush=True)
    time.sleep(seconds)
    node.stop(wait_timeout=5)
    with open(out_path, "w") as f:
        json.dump(seen, f, indent=1)


def fa(aaaf_port, out_path):
    node = Node("fa.visited.example", "visited.example", vendor_ids=[VENDOR])
    peer = node.add_peer(f"aaa://aaaf.visited.example:{aaaf_port};transport=tcp",
                         "visited.example", ip_addresses=["127.0.0.1"], is_persistent=True)
    app = SimpleThreadingApplication(APP_MOBILE_IPV4_APPLICATION,
                                     is_auth_application=True, request_handler=lambda a, m: None)
    node.add_application(app, [peer], realms=["home.example", "nowhere.example"])
    node.start()
    app.wait_for_ready(timeout=15)
    results = []

    def amr(name, nai, coa, key=KEY, old_fa=None, realm="home.example"):
        r = AaMobileNodeRequest()
        r.session_id = node.session_generator.next_id()
        r.auth_application_id = APP_MOBILE_IPV4_APPLICATION
        r.user_name = nai
        r.destination_realm = realm.encode()
        r.origin_host = node.origin_host.encode()
        r.origin_realm = node.realm_name.encode()
        r.mip_reg_request = reg_request(coa, key)
        r.mip_mn_aaa_auth = MipMnAaaAuth(mip_mn_aaa_spi=256,
                                         mip_auth_input_data_length=MN_AAA_COVERED,
                                         mip_authenticator_length=16,
                                         mip_authenticator_offset=MN_AAA_COVERED)
        r.mip_home_agent_address = HA_ADDR
        r.mip_mobile_node_address = MN_ADDR
        r.mip_feature_vector = 64  # FA-HA key requested
        if old_fa:
            old = Avp(1020, VENDOR, b"\x00\x01" + socket.inet_aton(old_fa))
            old.is_mandatory = True
            r.append_avp(old)
        try:
            a = app.send_request(r, timeout=15)
        except Exception as e:  # noqa: BLE001 - recorded and checked by the script
            results.append({"name": name, "error": repr(e)})
            return
        results.append({"name": name, "result_code": a.result_code,
                        "session_id": a.session_id,
                        "has_reg_reply": any(x.code == AVP_MIP_REG_REPLY for x in a.avps),
                        "has_fa_to_ha_msa": any(x.code == AVP_MIP_FA_TO_HA_MSA for x in a.avps),
                        "vendor": flatten(a.avps)})

    amr("initial", "alice@home.example", "192.0.2.1")
    amr("intra_domain_move", "alice@home.example", "192.0.2.2", old_fa="192.0.2.1")
    amr("unknown_user", "mallory@home.example", "192.0.2.1")
    amr("bad_auth", "bob@home.example", "192.0.2.1", key=b"wrong")
    amr("unreachable_realm", "eve@nowhere.example", "192.0.2.1", realm="nowhere.example")
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    node.stop(wait_timeout=5)


if __name__ == "__main__":
    if sys.argv[1] == "ha":
        ha(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        fa(int(sys.argv[2]), sys.argv[3])
