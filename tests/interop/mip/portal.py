#!/usr/bin/env python3
"""The mobile lab's user at the web page of Fig. 30 (src/mgmt/portal/): plain HTTP as a
browser sends it — the login form (its CSRF field and double-submit cookie, the session
cookie, the Origin header), then one change of a VPN profile's destinations through the
profile's form — and the page's answer checked.

  portal.py --url http://127.0.0.1:18292 --nai bob@isp.example --password-file F \
      --profile 5 replace --old 10.30.5.0/24 --addr 10.30.6.0 --mask 24
  portal.py ... --profile 5 add --addr 10.30.7.0 --mask 255.255.255.0
  portal.py ... --profile 5 remove --dest 10.30.7.0/24

Prints one JSON line: the page's message after the change, the profile's destinations as the
page lists them, whether it shows the pending service update. Exits non-zero with the
reason when the login or the change is refused or the page does not show the change.
"""
import argparse
import html
import http.client
import json
import re
import sys
import urllib.parse


class Browser:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.origin = f"{u.scheme}://{u.netloc}"
        self.cookies = {}

    def request(self, method, path, form=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=20)
        headers = {"Host": f"{self.host}:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";", 1)[0]
                if "Max-Age=0" in v or value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
        c.close()
        return r.status, r.getheader("Location"), text

    def get_following(self, path):
        for _ in range(5):
            status, loc, text = self.request("GET", path)
            if status in (301, 302, 303, 307, 308) and loc:
                path = loc
                continue
            return status, path, text
        sys.exit("portal.py: too many redirects")


def csrf_in(page, action):
    """The CSRF field of the form posting to `action`."""
    m = re.search(r'<form[^>]*action="%s"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]*)"'
                  % re.escape(action), page)
    if not m:
        sys.exit(f"portal.py: no form posting to {action} on the page")
    return html.unescape(m.group(1))


def destinations(page, n):
    """The destinations the page lists for profile n (the remove forms' hidden fields)."""
    return sorted(html.unescape(d) for d in re.findall(
        r'action="/portal/profiles/%d/remove">\s*<input type="hidden" name="csrf" value="[^"]*">'
        r'\s*<input type="hidden" name="dest" value="([^"]*)"' % n, page))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--nai", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--profile", type=int, required=True)
    sp = p.add_subparsers(dest="op", required=True)
    a = sp.add_parser("add")
    a.add_argument("--addr", required=True)
    a.add_argument("--mask", default="")
    r = sp.add_parser("replace")
    r.add_argument("--old", required=True)
    r.add_argument("--addr", required=True)
    r.add_argument("--mask", default="")
    d = sp.add_parser("remove")
    d.add_argument("--dest", required=True)
    args = p.parse_args()
    password = open(args.password_file).read().strip()

    b = Browser(args.url)
    status, _, page = b.get_following("/portal/login")
    if status != 200:
        sys.exit(f"portal.py: GET /portal/login answered {status}")
    status, loc, page = b.request("POST", "/portal/login", {
        "csrf": csrf_in(page, "/portal/login"), "nai": args.nai, "password": password})
    if status not in (302, 303) or "portal_session" not in b.cookies:
        sys.exit(f"portal.py: login refused ({status}): {re.sub('<[^>]+>', ' ', page)[:300]}")
    status, _, page = b.get_following(loc or "/portal/")
    n = args.profile
    action = f"/portal/profiles/{n}/{args.op}"
    before = destinations(page, n)
    form = {"csrf": csrf_in(page, action)}
    if args.op == "add":
        form.update(addr=args.addr, mask=args.mask)
    elif args.op == "replace":
        form.update(old=args.old, addr=args.addr, mask=args.mask)
    else:
        form.update(dest=args.dest)
    status, loc, page = b.request("POST", action, form)
    if status not in (302, 303):
        sys.exit(f"portal.py: POST {action} answered {status}")
    status, _, page = b.get_following(loc)
    text = re.sub(r"\s+", " ", html.unescape(re.sub("<[^>]+>", " ", page)))
    m = re.search(r"VPN profile %d: (.*?)\. Stored as version (\d+); your next registration "
                  r"\(service update\) applies it\." % n, text)
    section = page[page.find('id="profile-%d"' % n):]
    section = section[:section.find("<section", 1)] if "<section" in section[1:] else section
    after = destinations(page, n)
    out = {"message": m.group(0) if m else None, "version": int(m.group(2)) if m else None,
           "before": before, "after": after,
           "pending_service_update": 'id="pending-service-update"' in section}
    print(json.dumps(out))
    if not m:
        sys.exit("portal.py: the page did not confirm the change: %s" % text[:400])
    return 0


if __name__ == "__main__":
    sys.exit(main())
