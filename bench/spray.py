#!/usr/bin/env python3
"""A password-spraying run against a local Tessera, to show the limits holding.

Starts the release build on embedded defaults in a temporary directory (loopback only, a free
port), creates a pool with 40 users, and for a bounded time sprays one wrong password across
all of them from many parallel "browsers":

  phase 1, one address:   every attempt from 127.0.0.1;
  phase 2, many addresses: the server trusts 127.0.0.1 as a proxy and every attempt claims a
                           different X-Forwarded-For address (a botnet), so only the
                           per-account lockout stands in the way.

It counts how many attempts were evaluated (a password was hashed and checked) and how many
were turned away ("wait", 429, 503), samples the server's resident memory throughout, and
compares the forgot-password answer time for existing and unknown accounts (medians).

    python3 bench/spray.py [--seconds 20] [--workers 16]

Needs only Python 3 and a release build (`cargo build --release`, run first if missing).
"""

import argparse
import http.cookiejar
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from common import rss_mib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "tessera")
USERS = 40
REDIRECT = "http://127.0.0.1/cb"
WRONG = "Winter2026!"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browser():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def call(opener, url, data=None, headers=None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as res:
            return res.status, res.headers, res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def hidden(page, name):
    m = re.search(r'name="%s" value="([^"]*)"' % name, page)
    return m.group(1) if m else None


def cli(env, *args):
    out = subprocess.run([BINARY, "--json", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tessera {' '.join(args)} failed: {out.stderr}")
    return out.stdout




class Server:
    def __init__(self, env):
        self.proc = subprocess.Popen(
            [BINARY, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        for line in self.proc.stdout:
            m = re.match(r"listening on (http://\S+)", line)
            if m:
                self.base = m.group(1)
                break
        else:
            sys.exit("the server did not start")
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.samples = []
        self.sampling = True
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self):
        while self.sampling:
            self.samples.append(rss_mib(self.proc.pid))
            time.sleep(0.25)

    def stop(self):
        self.sampling = False
        self.proc.terminate()
        self.proc.wait(timeout=30)


def setup(env):
    pool_json = cli(env, "pool", "create", "--name", "spray")
    pool = re.search(r'"id":\s*"([^"]+)"', pool_json).group(1)
    client_json = cli(
        env, "client", "create", "--pool", pool, "--name", "app", "--public",
        "--first-party", "--redirect-uri", REDIRECT,
    )
    client = re.search(r'"client_id":\s*"([^"]+)"', client_json).group(1)
    # The timing comparison sends requests back to back: lift the recovery rate for it.
    cli(env, "pool", "update", pool, "--rate-limit", "account_recovery=0")
    for i in range(USERS):
        cli(env, "user", "create", "--pool", pool, "--username", f"user{i}",
            "--email", f"user{i}@example.com", "--password", f"a real secret {i}")
    return pool, client


def authorize_url(base, pool, client):
    q = urllib.parse.urlencode({
        "response_type": "code", "client_id": client, "redirect_uri": REDIRECT,
        "scope": "openid", "state": "s", "nonce": "n",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    })
    return f"{base}/{pool}/oauth2/authorize?{q}"


def attempt(base, pool, client, user, forwarded):
    """One sprayed attempt from a fresh browser: 'evaluated', 'wait' or 'refused:<status>'."""
    b = browser()
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    status, h, _ = call(b, authorize_url(base, pool, client), headers=headers)
    if status != 302:
        return f"refused:{status}"
    status, _, page = call(b, base + h["Location"], headers=headers)
    tx, csrf = hidden(page, "tx"), hidden(page, "csrf")
    if not tx:
        return f"refused:{status}"
    form = {"tx": tx, "csrf": csrf, "username": user, "password": WRONG}
    status, _, page = call(b, f"{base}/{pool}/login", form, headers)
    if "Incorrect username or password" in page:
        return "evaluated"
    if "Too many failed attempts" in page:
        return "wait"
    return f"refused:{status}"


def spray(server, pool, client, seconds, workers, many_addresses):
    counts, lock = {}, threading.Lock()
    deadline = time.time() + seconds

    def work(n):
        rng = random.Random(n)
        i = n
        while time.time() < deadline:
            fwd = "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)) \
                if many_addresses else None
            r = attempt(server.base, pool, client, f"user{i % USERS}", fwd)
            i += workers
            with lock:
                counts[r] = counts.get(r, 0) + 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def forgot_timing(server, pool, client, who, n):
    times = []
    for i in range(n):
        b = browser()
        fwd = {"X-Forwarded-For": "10.200.%d.%d" % (i // 250, i % 250 + 1)}
        status, h, _ = call(b, authorize_url(server.base, pool, client), headers=fwd)
        _, _, page = call(b, server.base + h["Location"], headers=fwd)
        tx = hidden(page, "tx")
        _, _, page = call(b, f"{server.base}/{pool}/forgotPassword?tx={tx}", headers=fwd)
        form = {"tx": tx, "csrf": hidden(page, "csrf"), "username": who(i)}
        t = time.perf_counter()
        call(b, f"{server.base}/{pool}/forgotPassword", form, fwd)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=20, help="per spraying phase")
    ap.add_argument("--workers", type=int, default=16)
    args = ap.parse_args()
    if not os.path.exists(BINARY):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="tessera-spray-")
    try:
        env = dict(os.environ, TESSERA_DATA_DIR=tmp, DATABASE_URL=f"sqlite://{tmp}/tessera.db",
                   REDIS_URL="memory://", TESSERA_BIND="127.0.0.1:0", TESSERA_LOG="warn",
                   TESSERA_TRUSTED_PROXIES="127.0.0.1/32")
        pool, client = setup(env)
        server = Server(env)
        idle = rss_mib(server.proc.pid)
        print(f"Tessera at {server.base}, pool {pool}, {USERS} users, {args.workers} parallel browsers")
        print("| phase | attempts | evaluated (hashed) | told to wait | refused (429/503) | peak RSS MiB |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, many in [("one address", False), ("many addresses (X-Forwarded-For)", True)]:
            server.samples.clear()
            c = spray(server, pool, client, args.seconds, args.workers, many)
            refused = sum(v for k, v in c.items() if k.startswith("refused"))
            total = sum(c.values())
            peak = max(server.samples or [0])
            print(f"| {name} | {total} | {c.get('evaluated', 0)} | {c.get('wait', 0)} | {refused} | {peak:.0f} |")
        known = forgot_timing(server, pool, client, lambda i: f"user{i % USERS}", 100)
        unknown = forgot_timing(server, pool, client, lambda i: f"nobody{i}", 100)
        print(f"\nRSS idle {idle:.0f} MiB, at the end {rss_mib(server.proc.pid):.0f} MiB")
        print(f"forgot-password median answer: existing {known:.2f} ms, unknown {unknown:.2f} ms")
        server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
