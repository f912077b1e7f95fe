#!/usr/bin/python3
"""Reference RADIUS packets for controlplane/src/radius unit tests, built with scapy 2.5
(Debian's /usr/bin/python3, python3-scapy). Prints each packet as hex. Authenticators and
Message-Authenticators are computed by scapy's Radius.compute_authenticator and
RadiusAttr_Message_Authenticator.compute_message_authenticator; User-Password hiding
(RFC 2865 §5.2) is done here with hashlib since scapy does not hide passwords."""
import hashlib
from scapy.layers.radius import Radius, RadiusAttribute, RadiusAttr_Message_Authenticator, \
    RadiusAttr_Vendor_Specific

SECRET = b"xyzzy5461"
RA = bytes.fromhex("0f403f9473978057bd83d5cb98f4227a")  # RFC 2865 §7.1


def hide(pw, secret, ra):
    pw = pw + b"\0" * (-len(pw) % 16)
    out, prev = b"", ra
    for i in range(0, len(pw), 16):
        b = hashlib.md5(secret + prev).digest()
        c = bytes(x ^ y for x, y in zip(pw[i:i + 16], b))
        out, prev = out + c, c
    return out


def attr(t, v):
    return RadiusAttribute(type=t, value=v)


def show(name, p):
    print(name, bytes(p).hex())


# 1. RFC 2865 §7.1: nemo / arctangent, NAS-IP-Address 192.168.1.16, NAS-Port 3.
p = Radius(code=1, id=0, authenticator=RA, attributes=[
    attr(1, b"nemo"), attr(2, hide(b"arctangent", SECRET, RA)),
    attr(4, bytes([192, 168, 1, 16])), attr(5, (3).to_bytes(4, "big"))])
show("access_request_rfc2865", p)

# 2. Access-Accept to that request, Message-Authenticator first, then Framed-IP-Address,
#    Session-Timeout, Class, MS-CHAP2-Success, MS-Primary-DNS-Server.
ma = RadiusAttr_Message_Authenticator()
vsa_succ = RadiusAttr_Vendor_Specific(vendor_id=311, vendor_type=26,
                                      value=b"\x2aS=0123456789ABCDEF0123456789ABCDEF01234567")
vsa_dns = RadiusAttr_Vendor_Specific(vendor_id=311, vendor_type=28, value=bytes([192, 0, 2, 53]))
a = Radius(code=2, id=0, authenticator=RA, attributes=[
    ma, attr(8, bytes([192, 0, 2, 10])), attr(27, (3600).to_bytes(4, "big")),
    attr(25, b"cls1"), vsa_succ, vsa_dns])
a = Radius(bytes(a))
a[RadiusAttr_Message_Authenticator].value = \
    RadiusAttr_Message_Authenticator.compute_message_authenticator(a, RA, SECRET)
a.authenticator = a.compute_authenticator(RA, SECRET)
show("access_accept_ma", a)

# 3. Accounting-Request Start (RFC 2866 §3 authenticator: MD5 over the packet with zeros).
z = b"\0" * 16
acct = Radius(code=4, id=7, authenticator=z, attributes=[
    attr(40, (1).to_bytes(4, "big")), attr(44, b"00000001"), attr(1, b"nemo"),
    attr(8, bytes([192, 0, 2, 10]))])
acct = Radius(bytes(acct))
acct.authenticator = acct.compute_authenticator(z, SECRET)
show("accounting_start", acct)

# 4. Disconnect-Request with a Message-Authenticator (RFC 5176 §3.4: HMAC with a zero
#    authenticator, then the MD5 request authenticator over the filled packet).
ma = RadiusAttr_Message_Authenticator()
dm = Radius(code=40, id=9, authenticator=z, attributes=[
    ma, attr(1, b"nemo"), attr(44, b"00000001")])
dm = Radius(bytes(dm))
dm[RadiusAttr_Message_Authenticator].value = \
    RadiusAttr_Message_Authenticator.compute_message_authenticator(dm, z, SECRET)
dm.authenticator = dm.compute_authenticator(z, SECRET)
show("disconnect_request_ma", dm)
