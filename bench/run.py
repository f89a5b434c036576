#!/usr/bin/env python3
"""Tessera's benchmark: one command, loopback only, bounded in time.

    python3 bench/run.py [--seconds 10] [--skip-pg] [--skip-peer]

Builds the release binary and the bench examples, then measures, side by side in one run:

  * Tessera on embedded defaults (SQLite + in-process KV) and on PostgreSQL + Redis (when
    they answer on 127.0.0.1:5432 / 6379),
  * a static actix-web handler (the ceiling for static documents; for each document, one that
    serves its very bytes at its very path),
  * argon2id alone with Tessera's parameters on one core (the ceiling for sign-in),
  * node-oidc-provider from npm (the peer), when Node.js and npm are installed;

each server pinned to core 0 and the load generators (and PostgreSQL and Redis) to core 1 when
there are two; each ratio is the median of alternating yardstick/case runs. Cases:
discovery, JWKS, client_credentials (ES256), introspection, userinfo, refresh, and the full
authorization code flow with a password sign-in at 8, 64 and 512 concurrent browsers, and
sign-up (up to the emailed-code page), password change (a sign-in, then the Cognito API's
ChangePassword) and password reset (ForgotPassword, the code from the file outbox,
ConfirmForgotPassword) at 64 and 512. On
PostgreSQL it then imports --big-users users (default 1,000,000) into a second pool with
`tessera user import` (rows/s), measures the sign-in flow against the large pool in runs
alternating with the small one (the median of the pairs' p99 ratios), and times `user list`
pages at the start and at the end of the large pool (`--cases "large pool"` runs only this). It prints
one Markdown table (req/s, p50, p99, the server's RSS peak during the case, ratio to ceiling
or peer) and each server's RSS idle, peak, and once it has given back what it will after
its last case. Needs `wrk` (Debian:
apt-get install wrk).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from common import cpu_seconds, hashing_split, rss_mib, settle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
TESSERA = os.path.join(RELEASE, "tessera")
USERS = 64
# Each may be sent 5 codes an hour; a run resets a few hundred.
RESET_USERS = 2048
PASSWORD = "bench password 1"
TWO_CORES = (os.cpu_count() or 1) >= 2
SERVER_CPU = ["taskset", "-c", "0"] if TWO_CORES else []
LOAD_CPU = ["taskset", "-c", "1"] if TWO_CORES else []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




class Proc:
    """A server process with its RSS sampled while a case runs."""

    def __init__(self, name, argv, env=None, ready=r"listening on (http://\S+)"):
        self.name = name
        self.proc = subprocess.Popen(SERVER_CPU + argv, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.base = None
        for line in self.proc.stdout:
            m = re.search(ready, line)
            if m:
                self.base = m.group(1)
                break
        if not self.base:
            sys.exit(f"{name} did not start")
        self.lines = []
        threading.Thread(target=lambda: [self.lines.append(line) for line in self.proc.stdout],
                         daemon=True).start()
        time.sleep(0.5)
        self.idle = rss_mib(self.proc.pid)
        self.peak = self.idle
        self.window = self.idle  # the peak since `measured` last reset it
        self.after = None

    def printed(self, pattern, wait=5.0):
        """The first group of `pattern` in a line the server printed after it started."""
        deadline = time.time() + wait
        while time.time() < deadline:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m.group(1)
            time.sleep(0.1)
        return None

    def sample(self, until):
        while not until.is_set():
            rss = rss_mib(self.proc.pid)
            self.peak, self.window = max(self.peak, rss), max(self.window, rss)
            time.sleep(0.1)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


SERVERS = []


def quiet():
    """Every server idle (no backlog of the previous case) before the next measurement."""
    settle([s.proc.pid for s in SERVERS if s.proc.poll() is None])


def measured(server, run):
    """Runs `run()` on quiet servers while sampling this one's RSS; the result gains the
    server's CPU seconds over the run (`cpu_s`) and its RSS peak during it (`rss_mib`)."""
    quiet()
    server.window = rss_mib(server.proc.pid)
    done = threading.Event()
    t = threading.Thread(target=server.sample, args=(done,), daemon=True)
    t.start()
    cpu = cpu_seconds(server.proc.pid)
    split = hashing_split(server.proc.pid)
    try:
        r = run()
        r["cpu_s"] = cpu_seconds(server.proc.pid) - cpu
        after = hashing_split(server.proc.pid)
        r["hash_s"], r["other_s"] = after[0] - split[0], after[1] - split[1]
        done.set()
        t.join()
        r["rss_mib"] = server.window
        return r
    finally:
        done.set()
        t.join()


def wrk(url, seconds, conns=64, script=None, headers=()):
    argv = LOAD_CPU + ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency"]
    for h in headers:
        argv += ["-H", h]
    if script:
        argv += ["-s", script]
    out = subprocess.run(argv + [url], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return 0.0
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99),
            "errors": int(non2xx.group(1)) if non2xx else 0}


def post_script(tmp, body, headers=()):
    path = os.path.join(tmp, f"post{abs(hash(body))}.lua")
    lines = ['wrk.method = "POST"', f'wrk.body = "{body}"',
             'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def loadgen(mode, issuer, client, conc, seconds, users=USERS, outbox=None):
    argv = LOAD_CPU + [os.path.join(RELEASE, "examples", "loadgen"), mode, issuer, client,
                       str(users), PASSWORD, str(conc), str(seconds)]
    env = dict(os.environ, LOADGEN_OUTBOX=outbox or "")
    out = subprocess.run(argv, capture_output=True, text=True, env=env).stdout.strip()
    if mode == "token":
        return out
    r = json.loads(out.splitlines()[-1])
    # The table's errors: failed flows and answers shed or limited with Retry-After.
    r["errors"] = r.get("errors", 0) + r.get("shed", 0)
    return r


def cli(env, *args):
    out = subprocess.run([TESSERA, "--json", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tessera {' '.join(args)}: {out.stderr}")
    return json.loads(out.stdout) if out.stdout.strip().startswith("{") else out.stdout


def pin_services_to_load_core():
    """PostgreSQL and Redis run where a deployment would put them, off the server's core (here:
    on the load generator's), so the server's core does Tessera's work only. New PostgreSQL
    backends inherit the postmaster's affinity."""
    if not TWO_CORES:
        return
    for name in ("postgres", "redis-server"):
        pids = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            subprocess.run(["taskset", "-a", "-p", "-c", "1", pid], capture_output=True)


def signin_pool(env, name):
    """A pool for the sign-in flows: its rate limits lifted (the benchmark measures capacity),
    a public first-party client `web`, and USERS users with PASSWORD. Returns (pool id, its
    client id)."""
    pool = cli(env, "pool", "create", "--name", name)["id"]
    cli(env, "pool", "update", pool, *sum((["--rate-limit", f"{c}=0"] for c in
        ["user_creation", "sign_in", "account_recovery", "token"]), []))
    scopes = ["openid", "profile", "email", "offline_access", "aws.cognito.signin.user.admin"]
    web = cli(env, "client", "create", "--pool", pool, "--name", "web", "--public",
              "--first-party", "--redirect-uri", "http://127.0.0.1/cb",
              *sum((["--scope", s] for s in scopes), []))
    for i in range(USERS):
        cli(env, "user", "create", "--pool", pool, "--username", f"user{i}", "--password", PASSWORD)
    return pool, web["client_id"]


def tessera(name, tmp, database_url, redis_url):
    metrics_port = free_port()
    env = dict(os.environ, TESSERA_DATA_DIR=os.path.join(tmp, name), DATABASE_URL=database_url,
               REDIS_URL=redis_url, TESSERA_BIND="127.0.0.1:0", TESSERA_LOG="warn",
               TESSERA_METRICS_BIND=f"127.0.0.1:{metrics_port}", TESSERA_KEY_ALGORITHM="ES256",
               TESSERA_TRUSTED_PROXIES="127.0.0.1", TESSERA_KEY_ACTIVATION_DELAY_SECS="0")
    pool, web = signin_pool(env, "bench")
    worker = cli(env, "client", "create", "--pool", pool, "--name", "worker", "--grant",
                 "client_credentials", "--scope", "api/read")
    # Users for the reset cases, imported as Cognito imports them (RESET_REQUIRED, no password).
    resets = os.path.join(tmp, f"{name}-resets.csv")
    with open(resets, "w") as f:
        f.write("cognito:username,email,email_verified,cognito:mfa_enabled\n")
        f.writelines(f"reset{i},reset{i}@example.com,TRUE,FALSE\n" for i in range(RESET_USERS))
    cli(env, "user", "import", "--pool", pool, resets)
    server = Proc(name, [TESSERA, "serve"], env)
    server.env, server.pool = env, pool
    server.metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    server.issuer = f"{server.base}/{pool}"
    server.outbox = os.path.join(tmp, name, "outbox")
    server.worker = (worker["client_id"], worker["client_secret"])
    server.web = web
    return server


def peer(tmp, seconds):
    if not (shutil.which("node") and shutil.which("npm")):
        return None
    cache = os.path.join(ROOT, "bench", ".peer")
    if not os.path.exists(os.path.join(cache, "node_modules", "oidc-provider")):
        os.makedirs(cache, exist_ok=True)
        r = subprocess.run(["npm", "install", "--silent", "--prefix", cache, "oidc-provider@9"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"(node-oidc-provider not installed: {r.stderr.strip()[:200]})")
            return None
    # ES modules resolve packages next to the importing file: run a copy from the cache.
    shutil.copy(os.path.join(ROOT, "bench", "peer.mjs"), os.path.join(cache, "peer.mjs"))
    port = free_port()
    env = dict(os.environ, NODE_ENV="production")
    return Proc("node-oidc-provider", ["node", os.path.join(cache, "peer.mjs"), str(port)], env)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--big-users", type=int, default=1_000_000,
                    help="users imported for the large-pool cases on PostgreSQL (0 skips them)")
    ap.add_argument("--cases", default="",
                    help="run only the cases whose name matches this regular expression")
    a = ap.parse_args()
    global WANTED
    WANTED = re.compile(a.cases) if a.cases else None
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (Debian: apt-get install wrk)")
    subprocess.run(["cargo", "build", "--release", "--bins", "--examples"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="tessera-bench-")
    rows, servers = [], SERVERS
    try:
        argon = argon2_rate(a.seconds)
        ceiling = Proc("static actix-web", [os.path.join(RELEASE, "examples", "ceiling"), "127.0.0.1:0", "1"])
        servers.append(ceiling)
        top = measured(ceiling, lambda: wrk(ceiling.base + "/", a.seconds))
        rows.append(("static document", "actix-web ceiling", top, None))
        targets = [tessera("embedded", tmp, f"sqlite://{tmp}/bench.db", "memory://")]
        if not a.skip_pg:
            try:
                subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                                "DROP DATABASE IF EXISTS tessera_bench"], check=True, capture_output=True)
                subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                                "CREATE DATABASE tessera_bench"], check=True, capture_output=True)
                subprocess.run(["redis-cli", "-n", "7", "FLUSHDB"], check=True, capture_output=True)
                pin_services_to_load_core()
                targets.append(tessera("postgres+redis", tmp, "postgres://postgres@127.0.0.1:5432/tessera_bench",
                                       "redis://127.0.0.1:6379/7"))
            except (subprocess.CalledProcessError, FileNotFoundError) as e:
                print(f"(PostgreSQL + Redis skipped: {e})")
        servers += targets
        peer_proc = None if a.skip_peer else peer(tmp, a.seconds)
        if peer_proc:
            servers.append(peer_proc)
        peer_rows = peer_cases(peer_proc, tmp, a.seconds) if peer_proc else {}
        # The machine's speed drifts (shared hosts): every ratio is to its yardstick measured
        # again on the same core in runs alternating with the case's (see `interleaved`).
        for t in targets:
            rows += tessera_cases(t, tmp, a.seconds, peer_rows)
            t.after = rss_after_load(t)
            t.store = counters(t)
        if a.big_users and len(targets) > 1 and wanted("large pool"):
            rows += big_pool_cases(targets[1], tmp, a.seconds, a.big_users)
        for name, r in peer_rows.items():
            rows.append((name, "node-oidc-provider", r, None))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nargon2id alone (m=19456, t=2, p=1) on one core: {argon:.1f} hashes/s")
    print("| case | server | req/s | p50 ms | p99 ms | errors | RSS peak MiB | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for case, server, r, ratio in rows:
        rss = f"{r['rss_mib']:.0f}" if r.get("rss_mib") else ""
        print(f"| {case} | {server} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
              f"{r.get('errors', 0)} | {rss} | {ratio or ''} |")
    print("\n| server | RSS idle MiB | RSS peak MiB | RSS after the load MiB | in-process store | "
          "pool cache |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for s in servers:
        after = f"{s.after:.0f}" if s.after else ""
        store = getattr(s, "store", None)
        held = (f"{store['store_mib']:.1f} MiB, {store['store_entries']:,.0f} entries, "
                f"{store['evicted']:,.0f} evicted") if store and store["store_entries"] else ""
        cached = (f"{store['cached_users']:,.0f} users, {store['cached_subjects']:,.0f} subjects, "
                  f"{store['cached_tokens']:,.0f} tokens") if store else ""
        print(f"| {s.name} | {s.idle:.0f} | {s.peak:.0f} | {after} | {held} | {cached} |")


def rss_after_load(server, still_for=12, limit=60):
    """RSS once the server, idle after its cases, has stopped giving memory back: sampled
    every second and reported once it has not fallen for `still_for` seconds (at most `limit`).
    What it gives back runs on 10 s timers (blocking-pool threads exit, the hashing workers
    unmap their buffers, the heap is trimmed), so a fixed wait could sample between two."""
    quiet()
    pid = server.proc.pid
    started = steady_since = time.monotonic()
    low = rss_mib(pid)
    while time.monotonic() - steady_since < still_for and time.monotonic() - started < limit:
        time.sleep(1)
        now = rss_mib(pid)
        if now < low - 0.25:
            steady_since = time.monotonic()
        low = min(low, now)
    return low


def big_pool_cases(t, tmp, seconds, n):
    """Imports `n` users into a second pool of the PostgreSQL server, then measures what a
    large pool costs: sign-in against it in runs alternating with the same against the small
    pool (so the host's drift weighs on both), and `user list` pages at both ends."""
    big, web = signin_pool(t.env, "big")
    path = os.path.join(tmp, "users.csv")
    with open(path, "w") as f:
        f.write("cognito:username,email,email_verified,given_name,cognito:mfa_enabled\n")
        f.writelines(f"big{i:07d},big{i:07d}@example.com,TRUE,Big {i},FALSE\n" for i in range(n))
    started = time.monotonic()
    done = cli(t.env, "user", "import", "--pool", big, path)
    took = time.monotonic() - started
    added = done["imported"]["added"]
    out = [(f"user import, {added:,} users (check + insert)", "tessera postgres+redis",
            {"rps": added / took, "p50_ms": 0, "p99_ms": 0}, None)]
    issuer = f"{t.base}/{big}"
    wait_for_pool(issuer)
    short = max(1, seconds // 2)
    r, why = interleaved(lambda: measured(t, lambda: loadgen("signin", t.issuer, t.web, 64, short))["p99_ms"],
                         lambda: measured(t, lambda: loadgen("signin", issuer, web, 64, short)), PAIRS,
                         f"the p99 against the pool of {USERS} users", metric="p99_ms")
    out.append((f"sign-in flow, 64 browsers, a pool of {added + USERS:,} users", f"tessera {t.name}", r, why))
    for label, after in [("first page", None), ("last page", f"big{n - 101:07d}")]:
        args = ["user", "list", "--pool", big, "--limit", "100"] + (["--after", after] if after else [])
        times = []
        for _ in range(5):
            s0 = time.monotonic()
            cli(t.env, *args)
            times.append((time.monotonic() - s0) * 1000)
        times.sort()
        out.append((f"user list, 100 users, {label} (whole CLI run)", f"tessera {t.name}",
                    {"rps": 1000 / times[2], "p50_ms": times[2], "p99_ms": times[-1]}, None))
    return out


def wait_for_pool(issuer, limit=30):
    """Waits until the running server serves a pool the CLI created (its pool cache polls)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(issuer + "/.well-known/openid-configuration").read()
            return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"the server did not load {issuer} within {limit} s")


def peer_cases(p, tmp, seconds):
    basic = "Basic " + __import__("base64").b64encode(b"bench:bench-secret").decode()
    out = {}
    # First: the quick-start memory adapter keeps 1,000 entries, and the client_credentials
    # case would evict the minted user token (every userinfo call then 401).
    user_token = p.printed(r"userinfo token (\S+)")
    if user_token:
        out["userinfo"] = measured(p, lambda: wrk(p.base + "/me", seconds,
                                                  headers=[f"Authorization: Bearer {user_token}"]))
    cc = post_script(tmp, "grant_type=client_credentials", [("Authorization", basic)])
    out["client_credentials"] = measured(p, lambda: wrk(p.base + "/token", seconds, script=cc))
    req = urllib.request.Request(p.base + "/token", data=b"grant_type=client_credentials",
                                 headers={"Authorization": basic})
    token = json.load(urllib.request.urlopen(req))["access_token"]
    intro = post_script(tmp, f"token={token}", [("Authorization", basic)])
    out["introspection"] = measured(p, lambda: wrk(p.base + "/token/introspection", seconds, script=intro))
    return out


def ratio(r, base, label):
    return f"{r['rps'] / base['rps']:.2f}x {label}" if base and base["rps"] else None


def argon2_rate(seconds):
    """argon2id alone, Tessera's parameters, on the server's core: hashes per second."""
    quiet()
    out = subprocess.run(SERVER_CPU + [os.path.join(RELEASE, "examples", "argon2_rate"), str(seconds)],
                         capture_output=True, text=True).stdout
    return float(out)


WANTED = None


def wanted(case):
    """Is `case` selected by --cases (every case when it is not given)?"""
    return WANTED is None or WANTED.search(case) is not None


def interleaved(yardstick, case, pairs, label, metric="rps"):
    """Measures `case` against its `yardstick` in alternating runs, ABBA order (yardstick,
    case, case, yardstick, ...), so that a drift of the host's speed, which is slow against one
    run, weighs on both sides alike. The row is the case's runs merged; the ratio is the median
    of each pair's ratio (case over the yardstick next to it, of `metric`: `yardstick` returns
    that number), with their range."""
    ratios, runs = [], []
    for i in range(pairs):
        if i % 2 == 0:
            y = yardstick()
            r = case()
        else:
            r = case()
            y = yardstick()
        runs.append(r)
        if y:
            ratios.append(r[metric] / y)
    merged = dict(runs[0])
    for key in ("rps", "p50_ms", "p99_ms", "cpu_s", "hash_s", "other_s"):
        merged[key] = sum(r.get(key, 0) for r in runs) / len(runs)
    merged["errors"] = sum(r.get("errors", 0) for r in runs)
    merged["rss_mib"] = max(r.get("rss_mib", 0) for r in runs)
    ratios.sort()
    if not ratios:
        return merged, None
    median = ratios[len(ratios) // 2] if len(ratios) % 2 else (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
    return merged, f"{median:.2f}x {label} (median of {len(ratios)} pairs, {ratios[0]:.2f}-{ratios[-1]:.2f})"


PAIRS = 4


def counters(server):
    """The server's Redis and SQL operations and successful sign-ins so far (its /metrics)."""
    text = urllib.request.urlopen(server.metrics).read().decode()

    def value(pattern):
        m = re.search(pattern + r"\s+([\d.e+]+)", text)
        return float(m.group(1)) if m else 0.0

    return {
        "kv": value(r'tessera_store_operation_duration_seconds_count\{store="kv"\}'),
        "sql": value(r'tessera_store_operation_duration_seconds_count\{store="sql"\}'),
        "sign_ins": value(r'tessera_sign_ins_total\{outcome="success"\}'),
        "store_mib": value("tessera_memory_store_bytes") / 2**20,
        "store_entries": value("tessera_memory_store_entries"),
        "evicted": value("tessera_memory_store_evictions_total"),
        "cached_users": value(r'tessera_pool_cache_entries\{kind="users"\}'),
        "cached_subjects": value(r'tessera_pool_cache_entries\{kind="subjects"\}'),
        "cached_tokens": value(r'tessera_pool_cache_entries\{kind="tokens"\}'),
    }


def round_trips(before, after):
    """Redis and SQL operations a successful sign-in made between two `counters` readings
    (the in-process store makes no Redis operation)."""
    n = after["sign_ins"] - before["sign_ins"]
    if n <= 0:
        return ""
    kv, sql = (after[k] - before[k] for k in ("kv", "sql"))
    return f"; {kv / n:.1f} Redis + {sql / n:.1f} SQL operations a sign-in"


def tessera_cases(t, tmp, seconds, peer_rows):
    rows = []
    well_known = t.issuer + "/.well-known/"
    short = max(2, seconds // 2)
    for case, url in [("discovery", well_known + "openid-configuration"), ("JWKS", well_known + "jwks.json")]:
        if not wanted(case):
            continue
        # The yardstick serves this very document's bytes at this very path: what is compared
        # is Tessera's work per request, not body sizes or URI lengths.
        body = os.path.join(tmp, f"{t.name}-{case}.json")
        with open(body, "wb") as f:
            f.write(urllib.request.urlopen(url).read())
        same = Proc(f"static actix-web ({case})", [os.path.join(RELEASE, "examples", "ceiling"),
                                                   "127.0.0.1:0", "1", body])
        path = url[len(t.base):]
        try:
            r, why = interleaved(lambda: measured(same, lambda: wrk(same.base + path, short))["rps"],
                                 lambda: measured(t, lambda: wrk(url, short)), PAIRS,
                                 "a static handler of the same bytes")
        finally:
            same.stop()
        rows.append((case, f"tessera {t.name}", r, why))
    cid, secret = t.worker
    basic = "Basic " + __import__("base64").b64encode(f"{cid}:{secret}".encode()).decode()
    cc = post_script(tmp, "grant_type=client_credentials&scope=api/read", [("Authorization", basic)])
    if wanted("client_credentials"):
        r = measured(t, lambda: wrk(t.issuer + "/oauth2/token", seconds, script=cc))
        rows.append(("client_credentials", f"tessera {t.name}", r, ratio(r, peer_rows.get("client_credentials"), "peer")))
    req = urllib.request.Request(t.issuer + "/oauth2/token", data=b"grant_type=client_credentials&scope=api/read",
                                 headers={"Authorization": basic})
    token = json.load(urllib.request.urlopen(req))["access_token"]
    intro = post_script(tmp, f"token={token}", [("Authorization", basic)])
    if wanted("introspection"):
        r = measured(t, lambda: wrk(t.issuer + "/oauth2/introspect", seconds, script=intro))
        rows.append(("introspection", f"tessera {t.name}", r, ratio(r, peer_rows.get("introspection"), "peer")))
    user_token = loadgen("token", t.issuer, t.web, 1, 1)
    if wanted("userinfo"):
        r = measured(t, lambda: wrk(t.issuer + "/oauth2/userInfo", seconds,
                                    headers=[f"Authorization: Bearer {user_token}"]))
        rows.append(("userinfo", f"tessera {t.name}", r, ratio(r, peer_rows.get("userinfo"), "peer")))
    if wanted("refresh (rotation)"):
        r = measured(t, lambda: loadgen("refresh", t.issuer, t.web, 32, seconds))
        rows.append(("refresh (rotation)", f"tessera {t.name}", r, None))
    for conc in (8, 64, 512):
        if not wanted(f"sign-in flow, {conc} browsers"):
            continue
        before = counters(t)
        r, why = interleaved(lambda: argon2_rate(short),
                             lambda: measured(t, lambda: loadgen("signin", t.issuer, t.web, conc, short)),
                             PAIRS, "argon2")
        ops = round_trips(before, counters(t))
        # The CPU the server spent on each completed sign-in, against one hash alone: what the
        # flow's other work (KV, SQL, templates, signing) costs, whatever the host's drift.
        flows = r["rps"] * short
        if flows and why:
            why += f"; {1000 * r['cpu_s'] / flows:.1f} ms CPU a sign-in" + ops
        # Immune to the host's drift (both sides measured over the same seconds on the same
        # core): the share of the server's CPU that went to hashing, i.e. the rate this flow
        # reaches against argon2 alone when the hash runs at the same speed in both.
        spent = r.get("hash_s", 0) + r.get("other_s", 0)
        if spent and why:
            why += f"; hashing {r['hash_s'] / spent:.2f} of the server's CPU"
        rows.append((f"sign-in flow, {conc} browsers", f"tessera {t.name}", r, why))
    # Sign-up hashes too (a new password, then the code page): its memory must stay as bounded.
    for conc in (64, 512):
        case = f"sign-up flow, {conc} browsers"
        if wanted(case):
            r = measured(t, lambda: loadgen("signup", t.issuer, t.web, conc, short))
            rows.append((case, f"tessera {t.name}", r, None))
    # Password change (a sign-in, then ChangePassword: three hashes) and reset (ForgotPassword,
    # the mailed code, ConfirmForgotPassword: one hash) under the same bounds.
    for conc in (64, 512):
        for case, mode, users in [(f"password change, {conc} browsers", "passwd", USERS),
                                  (f"password reset, {conc} browsers", "reset", RESET_USERS)]:
            if wanted(case):
                # The whole --seconds: a change is three hashes, at 512 browsers ~10 s of queue.
                r = measured(t, lambda: loadgen(mode, t.issuer, t.web, conc, seconds, users, t.outbox))
                rows.append((case, f"tessera {t.name}", r, None))
    return rows


if __name__ == "__main__":
    main()
