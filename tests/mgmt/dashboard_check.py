#!/usr/bin/env python3
"""Drives the varouter dashboard in headless Chromium through chromedriver's W3C WebDriver
HTTP interface (no client library: plain JSON over HTTP) and asserts what a principal sees.

  dashboard_check.py --driver http://127.0.0.1:PORT --url http://127.0.0.1:API/dashboard \
      --token TOKEN --sees A,B --not-sees C --appliance yes|no --shots DIR --name carrier

Checks, in order: a wrong token shows "401: bad token"; the right token shows exactly the
VRs in --sees (and none of --not-sees anywhere in the page); rates appear and are positive
for every VR; the counters move between two reads a few seconds apart; ports, workers and
drops are shown only when --appliance is yes; the token survives a reload (sessionStorage).
Screenshots of each stage go to DIR. Exits non-zero with a reason on the first failure.
"""
import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

class Fail(Exception):
    pass


class Driver:
    def __init__(self, base, user_data_dir):
        self.base = base.rstrip("/")
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync",
                            "--disable-dev-shm-usage", "--window-size=1400,1000",
                            "--user-data-dir=" + user_data_dir,
                        ],
                    },
                }
            }
        }
        self.sid = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}").get("value", {})
        except urllib.error.HTTPError as e:
            raise Fail(f"webdriver {method} {path}: {e.code} {e.read()[:400]!r}")

    def s(self, method, path, body=None):
        return self._call(method, f"/session/{self.sid}{path}", body)

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        ref = self.s("POST", "/element", {"using": "css selector", "value": css})
        # A web element reference is an object with one key (the spec's identifier).
        return next(iter(ref.values()))

    def type(self, css, text):
        self.s("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css):
        self.s("POST", f"/element/{self.find(css)}/click", {})

    def shot(self, path):
        png = base64.b64decode(self.s("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        print(f"  screenshot {path} ({len(png)} bytes)")

    def quit(self):
        try:
            self._call("DELETE", f"/session/{self.sid}")
        except Exception:  # the browser may already be gone; the trap kills the driver
            pass


def wait(what, fn, timeout=20.0):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise Fail(f"timed out waiting for {what} (last: {last!r})")


VRS_JS = """
return Array.from(document.querySelectorAll('#vrs tbody tr')).map(tr => {
  const c = (k) => tr.querySelector('td.' + k).textContent;
  return {name: c('name'), tenant: c('tenant'), rx_pps: c('rx-pps'), tx_pps: c('tx-pps'),
          rx: c('rx'), tx: c('tx'), drops: c('drops'), tunnels: c('tunnels'),
          sessions: c('sessions')};
});
"""


def num(text):
    t = text.replace(",", "")
    return int(t) if t.isdigit() else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--sees", required=True)
    ap.add_argument("--not-sees", default="")
    ap.add_argument("--appliance", choices=["yes", "no"], required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--profile-dir", required=True)
    a = ap.parse_args()
    sees = sorted(x for x in a.sees.split(",") if x)
    hidden = [x for x in a.not_sees.split(",") if x]
    os.makedirs(a.shots, exist_ok=True)
    shot = lambda stage: d.shot(os.path.join(a.shots, f"dashboard-{a.name}-{stage}.png"))

    d = Driver(a.driver, a.profile_dir)
    try:
        d.go(a.url)
        wait("the token form", lambda: d.js("return !document.getElementById('login').hidden"))

        # A wrong token: the page says so and shows nothing else.
        d.type("#token", "not-a-token-" + a.name)
        d.click("#go")
        status = wait("the 401 message", lambda: d.js(
            "const s = document.getElementById('status');"
            "return !s.hidden && s.textContent.includes('401') ? s.textContent : null"))
        if status.strip() != "401: bad token":
            raise Fail(f"401 display is {status!r}")
        if not d.js("return document.getElementById('view').hidden"):
            raise Fail("the data view is shown after a 401")
        shot("401")

        d.type("#token", a.token)
        d.click("#go")
        # Rates need two answers; wait until every VR row has a numeric rx rate.
        def rated():
            rows = d.js(VRS_JS)
            ok = rows and all(num(r["rx_pps"]) is not None for r in rows)
            return rows if ok and int(d.js("return document.body.dataset.polls || '0'")) >= 2 else None
        rows = wait("VR rows with rates", rated)
        names = sorted(r["name"] for r in rows)
        if names != sees:
            raise Fail(f"{a.name} sees VRs {names}, expected {sees}")
        for r in rows:
            if num(r["rx_pps"]) <= 0 or num(r["tx_pps"]) <= 0:
                raise Fail(f"VR {r['name']} shows no traffic rate: {r}")
        page = d.js("return document.body.innerText")
        for h in hidden:
            if h in page:
                raise Fail(f"{a.name}'s page mentions {h!r}")
        sections = {s: not d.js(f"return document.getElementById('{s}-section').hidden")
                    for s in ("ports", "workers", "drops", "control")}
        want = a.appliance == "yes"
        for s in ("ports", "workers", "control"):
            if sections[s] != want:
                raise Fail(f"section {s} visible={sections[s]}, expected {want}")
        if not want and sections["drops"]:
            raise Fail("drops by reason shown to a tenant")
        if want:
            ports = d.js("return Array.from(document.querySelectorAll('#ports tbody tr')).length")
            if ports < 1:
                raise Fail("no port rows for the carrier")
        shot("live")

        # The numbers move: read the rx packet counters, wait, read again.
        before = {r["name"]: num(r["rx"]) for r in rows}
        up_before = d.js("return document.getElementById('uptime').textContent")
        polls0 = int(d.js("return document.body.dataset.polls"))
        time.sleep(2.5)
        after = {r["name"]: num(r["rx"]) for r in d.js(VRS_JS)}
        polls1 = int(d.js("return document.body.dataset.polls"))
        if polls1 < polls0 + 2:
            raise Fail(f"the page polled {polls1 - polls0} times in 2.5 s")
        for n in sees:
            if not after.get(n) or after[n] <= before[n]:
                raise Fail(f"VR {n} rx did not grow: {before[n]} -> {after.get(n)}")
        up_after = d.js("return document.getElementById('uptime').textContent")
        if up_after == up_before:
            raise Fail(f"uptime did not move ({up_before})")
        print(f"  {a.name}: VRs {names}; rx {before} -> {after}; polls {polls0} -> {polls1}")
        for r in d.js(VRS_JS):
            print(f"    {r}")

        # The token is kept for the tab (sessionStorage): a reload goes straight to the data.
        d.go(a.url)
        wait("data after a reload", lambda: d.js(
            "return document.getElementById('login').hidden && "
            "!document.getElementById('view').hidden && document.body.dataset.polls"))
        shot("reloaded")
    finally:
        d.quit()
    print(f"  dashboard {a.name}: ok")


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print(f"dashboard check FAILED: {e}", file=sys.stderr)
        sys.exit(1)
