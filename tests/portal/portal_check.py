#!/usr/bin/env python3
"""Drives the users' web page (seed 003 Fig. 30) in headless Chromium through chromedriver's
W3C WebDriver HTTP interface (the Driver of tests/mgmt/dashboard_check.py: plain JSON over
HTTP, no client library) and checks it against the VPN database through `varouter vpndb`.

  portal_check.py --driver http://127.0.0.1:PORT --url http://127.0.0.1:API \
      --varouter PATH --db sqlite:PATH --shots DIR --profile-dir DIR

As user A (alice@isp.example, password in $PORTAL_PW_A): a wrong password shows the error; the
right one shows her two profiles and not bob's; she adds 10.30.0.0/255.255.0.0 to profile 1
through the form, and the page shows it with the pending service update, and
`varouter vpndb export` shows it stored with service_update set; a bad mask shows its error
and stores nothing; she replaces the new destination and logs out. As user B
(bob@isp.example, $PORTAL_PW_B): his page has none of alice's profiles, destinations or
tunnel; typing alice's profile URLs (and numbers that do not exist) gives the same 404
page. Screenshots of every stage go to DIR. Exits non-zero with a reason on the first failure.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mgmt"))
from dashboard_check import Driver, Fail, wait  # noqa: E402


def source(d):
    return d.s("GET", "/source")


def current_url(d):
    return d.s("GET", "/url")


def text_of(d, css):
    return d.s("GET", f"/element/{d.find(css)}/text")


def export(varouter, db):
    out = subprocess.run([varouter, "vpndb", "--db", db, "export", "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    return {p["profile_number"]: p for p in json.loads(out)["profiles"]}


def listing(varouter, db, nai):
    """`varouter vpndb list --nai`: {profile: (version, mark)}."""
    out = subprocess.run([varouter, "vpndb", "--db", db, "list", "--nai", nai],
                         check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines()[1:-1]:
        f = line.split()
        rows[int(f[0])] = (int(f[4]), f[5])
    return rows


def login(d, url, nai, password):
    d.go(url + "/portal/login")
    wait("the login form", lambda: "id=\"login\"" in source(d))
    d.type("#nai", nai)
    d.type("#password", password)
    d.click("#login-button")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--varouter", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--profile-dir", required=True)
    a = ap.parse_args()
    pw_a, pw_b = os.environ["PORTAL_PW_A"], os.environ["PORTAL_PW_B"]
    os.makedirs(a.shots, exist_ok=True)
    shot = lambda d, name: d.shot(os.path.join(a.shots, f"{name}.png"))

    before = export(a.varouter, a.db)
    d = Driver(a.driver, a.profile_dir + "-a")
    try:
        # --- user A -------------------------------------------------------------------
        login(d, a.url, "alice@isp.example", "not-her-password")
        wait("the login error", lambda: "Wrong NAI or password." in source(d))
        shot(d, "01-wrong-password")
        login(d, a.url, "alice@isp.example", pw_a)
        wait("alice's page", lambda: "id=\"profile-1\"" in source(d), timeout=60)
        page = source(d)
        for want in ["id=\"profile-2\"", "10.10.0.0/16", "10.20.1.0/24", "alice@isp.example",
                     "192.0.2.77"]:
            if want not in page:
                raise Fail(f"alice's page lacks {want}")
        for hidden in ["id=\"profile-3\"", "10.10.5.0/24", "bob@isp.example"]:
            if hidden in page:
                raise Fail(f"alice's page shows {hidden}")
        shot(d, "02-alice-logged-in")

        d.type("#add-addr-1", "10.30.0.0")
        d.type("#add-mask-1", "255.255.0.0")
        d.click("#add-1")
        wait("the stored change", lambda: "added 10.30.0.0/16" in source(d))
        rows = wait("the destination row", lambda: [
            r for r in d.s("POST", "/elements", {"using": "css selector",
                                                 "value": "#profile-1 td.dest"})])
        dests = [d.s("GET", f"/element/{next(iter(r.values()))}/text") for r in rows]
        if dests != ["10.10.0.0/16", "10.30.0.0/16"]:
            raise Fail(f"profile 1 shows destinations {dests}")
        if "pending-service-update" not in source(d):
            raise Fail("the page does not say the service update is pending")
        shot(d, "03-alice-added-destination")
        after = export(a.varouter, a.db)
        if after[1]["destinations"] != ["10.10.0.0/16", "10.30.0.0/16"]:
            raise Fail(f"the database has {after[1]['destinations']}")
        marks = listing(a.varouter, a.db, "alice@isp.example")
        if marks[1][1] != "yes":
            raise Fail(f"profile 1 is not marked for service update: {marks}")
        print(f"  alice added 10.30.0.0/16: database has {after[1]['destinations']}, "
              f"version {marks[1][0]}, service update {marks[1][1]}")

        # A bad mask: the message on the page, nothing stored.
        d.type("#add-addr-1", "10.40.0.0")
        d.type("#add-mask-1", "255.0.255.0")
        d.click("#add-1")
        wait("the error message", lambda: "is not contiguous" in source(d))
        if text_of(d, "#flash").find("255.0.255.0") < 0:
            raise Fail(f"flash: {text_of(d, '#flash')}")
        shot(d, "04-alice-bad-mask")
        if listing(a.varouter, a.db, "alice@isp.example")[1][0] != marks[1][0]:
            raise Fail("a refused change raised the version")

        # Replace the new one, through the select.
        d.type("#new-addr-1", "10.31.0.0/16")
        d.click("#old-1 option[value='10.30.0.0/16']")
        d.click("#replace-1")
        wait("the replacement", lambda: "replaced 10.30.0.0/16 by 10.31.0.0/16" in source(d))
        if export(a.varouter, a.db)[1]["destinations"] != ["10.10.0.0/16", "10.31.0.0/16"]:
            raise Fail("the replacement was not stored")
        shot(d, "05-alice-replaced")
        d.click("#logout")
        wait("the login page after logout", lambda: "id=\"login\"" in source(d))
        d.go(a.url + "/portal/")
        wait("the login page", lambda: "id=\"login\"" in source(d))
    finally:
        d.quit()

    # --- user B --------------------------------------------------------------------------
    d = Driver(a.driver, a.profile_dir + "-b")
    try:
        login(d, a.url, "bob@isp.example", pw_b)
        wait("bob's page", lambda: "id=\"profile-3\"" in source(d), timeout=60)
        page = source(d)
        for hidden in ["id=\"profile-1\"", "id=\"profile-2\"", "10.10.0.0/16", "10.31.0.0/16",
                       "10.20.1.0/24", "192.0.2.77", "alice"]:
            if hidden in page:
                raise Fail(f"bob's page shows {hidden}")
        shot(d, "06-bob-logged-in")
        # Guessing: alice's profiles answer as profiles that do not exist.
        d.go(a.url + "/portal/profiles/999")
        wait("the 404 page", lambda: "There is no such VPN profile." in source(d))
        missing = text_of(d, "#message")
        for n in [1, 2, 4, 0]:
            d.go(a.url + f"/portal/profiles/{n}")
            wait(f"profile {n}", lambda: "id=\"message\"" in source(d) or "profile-" in source(d))
            page = source(d)
            if "10.10.0.0/16" in page or "10.20.1.0/24" in page or "data-profile" in page:
                raise Fail(f"bob sees profile {n}")
            if text_of(d, "#message") != missing:
                raise Fail(f"profile {n} answers differently from a missing one")
        shot(d, "07-bob-guesses-profile-1")
        d.go(a.url + "/portal/profiles/3")
        wait("his own profile", lambda: "id=\"profile-3\"" in source(d))
    finally:
        d.quit()
    final = export(a.varouter, a.db)
    if final[3] != before[3]:
        raise Fail("bob's profile changed")
    print("  portal check: ok")


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print(f"portal check FAILED: {e}", file=sys.stderr)
        sys.exit(1)
