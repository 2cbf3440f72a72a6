#!/usr/bin/env python3
"""Ostiary side by side with node-oidc-provider and glewlwyd, on loopback, in one run.

Every scenario starts a fresh server, pinned to CPU 1, and drives it with wrk on CPU 0 (32
connections, fixed duration, a warm-up first), Ostiary then each peer that has the scenario, and the
whole list again for each repetition (A B A B), so that this VM's drifting speed hits everyone
alike. The machine's limits are measured in the same run: `openssl speed` for RSA-2048, P-256 and
Ed25519 on the server's core, and the argon2id hash rate at Ostiary's cost (m = 19 MiB, t = 2,
p = 1). The measuring code (quiet-machine wait, RSA calibration, RSS and CPU sampling) is the shared
harness's, ../shared/peers/lib/bench.py.

    bench/compare.sh                                   # everything, 10 s per run, 2 repetitions
    DURATION=5 REPS=1 SCENARIOS="cc-opaque introspect" bench/compare.sh
    PEERS=none bench/compare.sh                        # Ostiary only

Writes bench/results/compare.jsonl (one line per run), bench/RESULTS.md and bench/ratios.svg.

SMOKE=1 (the test command's bounded mode): every Ostiary scenario for one second, no peers, no
limits, nothing written; fails when any request failed. OSTIARY_BIN picks the binary.
"""

import base64
import hashlib
import http.cookiejar
import importlib.util
import json
import os
import re
import secrets
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS_DIR = os.environ.get("PEERS_DIR", os.path.join(ROOT, "..", "shared", "peers"))
LUA = os.path.join(ROOT, "bench", "lua")
BIN = os.environ.get("OSTIARY_BIN", os.path.join(ROOT, "target", "release", "ostiary"))
OUT = os.path.join(ROOT, "bench", "results", "compare.jsonl")
SMOKE = os.environ.get("SMOKE") == "1"
DURATION = 1 if SMOKE else int(os.environ.get("DURATION", "10"))
REPS = 1 if SMOKE else int(os.environ.get("REPS", "2"))
CONNS, THREADS, SERVER_CPU, WRK_CPU = 32, 2, "1", "0"
PORT = 18500
ISSUER = f"http://127.0.0.1:{PORT}/oauth2"



def shared_harness():
    """../shared/peers/lib/bench.py: its quiet-machine wait and RSA calibration."""
    spec = importlib.util.spec_from_file_location("harness", os.path.join(PEERS_DIR, "lib", "bench.py"))
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    return harness


def rss_kb(pid, key="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith(key + ":")), 0)
    except FileNotFoundError:
        return 0


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except FileNotFoundError:
        return 0.0

# What each scenario is: (description, peers that have it). Ostiary runs them all.
SCENARIOS = {
    "cc-opaque": ("client_credentials, opaque token (durable row)", ["node-oidc-provider"]),
    "cc-jwt-RS256": ("client_credentials, JWT RS256", ["node-oidc-provider", "glewlwyd"]),
    "cc-jwt-ES256": ("client_credentials, JWT ES256", ["node-oidc-provider", "glewlwyd"]),
    "cc-jwt-EdDSA": ("client_credentials, JWT EdDSA", ["node-oidc-provider"]),
    "cc-jwt-ES256-A256KW": ("client_credentials, JWT ES256 signed + encrypted (A256KW, A256GCM)", []),
    # self_contained_client_tokens: the same tokens, no row written (the peer still stores its own).
    "cc-jwt-RS256-sc": ("client_credentials, JWT RS256, self-contained (no row)", ["node-oidc-provider"]),
    "cc-jwt-ES256-sc": ("client_credentials, JWT ES256, self-contained (no row)", ["node-oidc-provider"]),
    "cc-jwt-EdDSA-sc": ("client_credentials, JWT EdDSA, self-contained (no row)", ["node-oidc-provider"]),
    "refresh": ("refresh_token with rotation", []),
    "introspect": ("introspection of a valid token", ["node-oidc-provider", "glewlwyd"]),
    "introspect-unknown": ("introspection of an unknown token", ["node-oidc-provider", "glewlwyd"]),
    "userinfo": ("userinfo (token in the form body)", []),
    "jwks": ("JWKS document", ["node-oidc-provider", "glewlwyd"]),
    "discovery": ("discovery document", ["node-oidc-provider", "glewlwyd"]),
    "password": ("password grant (one argon2id verification each)", []),
    "pg-cc-opaque": ("PostgreSQL: client_credentials, opaque token", []),
    "pg-introspect": ("PostgreSQL: introspection of a valid token", []),
    "pg-refresh": ("PostgreSQL: refresh_token with rotation", []),
    "cc-opaque-1M": ("client_credentials, opaque, 1,000,000 live tokens in SQLite", []),
    "introspect-1M": ("introspection, 1,000,000 live tokens in SQLite", []),
    "code-flow": ("authorize → login → consent → token, PKCE (scripted client, flows/s)", []),
}

BENCH_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def basic(client_id, secret):
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def request(method, url, body=None, headers=None, opener=None):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with (opener or urllib.request.build_opener(NoRedirect)).open(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def wait_http(url, proc=None):
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.05)
    raise SystemExit(f"no answer from {url}")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------------
# Ostiary


class Ostiary:
    name = "ostiary"

    def __init__(self, work, postgres_url):
        self.work, self.postgres_url = work, postgres_url

    def cli(self, *args, stdin=None):
        done = subprocess.run([BIN, *args], input=stdin, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"ostiary {' '.join(args)}: {done.stderr}")
        return done.stdout

    def client(self, body):
        return json.loads(self.cli("admin", "client", "create", stdin=json.dumps(body))).get("client_secret")

    def start(self, name):
        # "-1M": the same scenario with a million live tokens in the database beforehand.
        scenario = name.removesuffix("-1M")
        self.env = dict(os.environ, OSTIARY_DATA_DIR=tempfile.mkdtemp(dir=self.work),
                        OSTIARY_BOOTSTRAP_ADMIN_PASSWORD="bench-admin", RUST_LOG="warn")
        if scenario.startswith("pg-"):
            if not self.postgres_url:
                return None
            psql(self.postgres_url, "DROP DATABASE IF EXISTS ostiary_bench")
            psql(self.postgres_url, "CREATE DATABASE ostiary_bench")
            # Plain TCP on loopback, as in the runs before scripts/postgres served TLS.
            self.env["OSTIARY_DATABASE"] = (self.postgres_url.rsplit("/", 1)[0]
                                            + "/ostiary_bench?sslmode=disable")
        settings = {
            "cc-jwt-RS256": ["access_token_format=jwt", "jwt.signing_alg=RS256"],
            "cc-jwt-ES256": ["access_token_format=jwt", "jwt.signing_alg=ES256"],
            "cc-jwt-EdDSA": ["access_token_format=jwt", "jwt.signing_alg=EdDSA"],
            "cc-jwt-ES256-A256KW": ["access_token_format=jwt", "jwt.signing_alg=ES256",
                                    "jwt.key_alg=A256KW", "jwt.enc_alg=A256GCM"],
            **{f"cc-jwt-{alg}-sc": ["access_token_format=jwt", f"jwt.signing_alg={alg}",
                                    "self_contained_client_tokens=true"]
               for alg in ("RS256", "ES256", "EdDSA")},
        }.get(scenario)
        self.cli("admin", "server-config", *(["set", *settings] if settings else ["show"]))
        run = {"scenario": name}
        cc_secret = self.client({"client_id": "bench-client", "grant_types": ["client_credentials"]})
        run["basic"] = basic("bench-client", cc_secret)
        if scenario in ("refresh", "pg-refresh", "userinfo", "password"):
            self.cli("admin", "user", "create", "bench-user", "--password-stdin",
                     "--claims", '{"name": "Bench User", "email": "bench@example.com"}',
                     stdin="bench-password\n")
            web = self.client({"client_id": "bench-web", "grant_types": ["password", "refresh_token"]})
            run["basic"] = basic("bench-web", web)
        if scenario == "code-flow":
            self.cli("admin", "user", "create", "bench-user", "--password-stdin", stdin="bench-password\n")
            self.client({"client_id": "bench-spa", "grant_types": ["authorization_code"],
                         "token_endpoint_auth_method": "none",
                         "redirect_uris": ["http://127.0.0.1:9/callback"]})
        if name.endswith("-1M"):
            fill_tokens(os.path.join(self.env["OSTIARY_DATA_DIR"], "ostiary.db"), 10_000 if SMOKE else 1_000_000)
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, BIN, "serve", "--listen", f"127.0.0.1:{PORT}", "--issuer", ISSUER],
            env=self.env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, "serve.log"), "a"))
        try:
            wait_http(f"http://127.0.0.1:{PORT}/readyz", self.proc)
        except SystemExit:
            with open(os.path.join(self.work, "serve.log")) as f:
                log(f.read()[-2000:])
            raise
        token_url = f"{ISSUER}/token"
        run.update(pid=self.proc.pid, url=token_url, lua="post.lua", body="grant_type=client_credentials")
        if scenario in ("introspect", "pg-introspect", "introspect-unknown"):
            token = "unknown-" + secrets.token_urlsafe(32)
            if scenario != "introspect-unknown":
                token = self.token(run["basic"], "grant_type=client_credentials")["access_token"]
            run.update(url=f"{ISSUER}/introspection", body=f"token={token}")
        elif scenario in ("refresh", "pg-refresh"):
            tokens = [self.token(run["basic"], "grant_type=password&username=bench-user&password=bench-password")["refresh_token"]
                      for _ in range(4 * CONNS)]
            path = os.path.join(self.work, "refresh-tokens")
            with open(path, "w") as f:
                f.write("\n".join(tokens) + "\n")
            run.update(lua="refresh.lua", body="", env={"TOKENS": path, "THREADS": str(THREADS)})
        elif scenario == "userinfo":
            token = self.token(run["basic"], "grant_type=password&username=bench-user&password=bench-password&scope=openid%20profile%20email")["access_token"]
            run.update(url=f"{ISSUER}/userinfo", body=f"access_token={token}", basic="")
        elif scenario == "password":
            run.update(body="grant_type=password&username=bench-user&password=bench-password")
        elif scenario == "jwks":
            run.update(url=f"{ISSUER}/jwks", lua="get.lua")
        elif scenario == "discovery":
            run.update(url=f"{ISSUER}/.well-known/openid-configuration", lua="get.lua")
        return run

    def token(self, auth, body):
        status, _, text = request("POST", f"{ISSUER}/token", body, {"Authorization": f"Basic {auth}"})
        if status != 200:
            raise SystemExit(f"token request failed: {status} {text}")
        return json.loads(text)

    def stop(self):
        stop(self.proc)


def fill_tokens(database, count):
    """`count` live access tokens of other clients, as a busy server would hold them."""
    subprocess.run(["sqlite3", database, f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
        INSERT INTO tokens (hash, kind, client_id, username, scope, family, grant_id, jti, audience,
                            issued_at, expires_at, revoked, extra)
        SELECT hex(randomblob(32)), 'access', 'client-' || (i % 1000), 'user-' || (i % 50000), 'openid',
               hex(randomblob(16)), NULL, hex(randomblob(16)), '["app"]', unixepoch(),
               unixepoch() + 86400, 0, '{{"properties":{{}}}}'
        FROM n;"""], check=True)


def psql(url, statement):
    psql_bin = shutil.which("psql") or next(iter(sorted(
        p for p in (os.path.join("/usr/lib/postgresql", v, "bin", "psql")
                    for v in os.listdir("/usr/lib/postgresql")) if os.path.exists(p))), "psql")
    subprocess.run([psql_bin, url, "-q", "-c", statement], check=True, capture_output=True)


# ---------------------------------------------------------------------------------------------
# Peers


def peer_run(scenario, pid, base, scope, introspection):
    """A peer's run of `scenario`: its client_credentials client (../shared/peers' bench-client),
    the token endpoint at {base}/token, introspection at {base}{introspection}, the documents."""
    auth = basic("bench-client", BENCH_SECRET)
    run = {"scenario": scenario, "pid": pid, "url": f"{base}/token", "lua": "post.lua",
           "basic": auth, "body": f"grant_type=client_credentials&scope={scope}"}
    if scenario.startswith("introspect"):
        token = "unknown-" + secrets.token_urlsafe(32)
        if scenario == "introspect":
            _, _, text = request("POST", f"{base}/token", run["body"], {"Authorization": f"Basic {auth}"})
            token = json.loads(text)["access_token"]
        run.update(url=f"{base}{introspection}", body=f"token={token}")
    elif scenario == "jwks":
        run.update(url=f"{base}/jwks", lua="get.lua")
    elif scenario == "discovery":
        run.update(url=f"{base}/.well-known/openid-configuration", lua="get.lua")
    return run


class NodeOidcProvider:
    """../shared/peers/node-oidc-provider: oidc-provider 9.13.3, in-memory adapter."""
    name = "node-oidc-provider"
    port = 3000

    def __init__(self, work):
        self.dir = os.path.join(work, "nop")
        os.makedirs(self.dir)
        src = os.path.join(PEERS_DIR, "node-oidc-provider")
        for f in ("package.json", "package-lock.json", "server.mjs"):
            shutil.copy(os.path.join(src, f), self.dir)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=self.dir, check=True,
                       stdout=subprocess.DEVNULL)

    def start(self, scenario):
        fmt, alg = "opaque", "RS256"
        if scenario.startswith("cc-jwt-"):
            fmt, alg = "jwt", scenario.split("-")[2]
        env = dict(os.environ, NODE_ENV="production", PORT=str(self.port), TOKEN_FORMAT=fmt, ALG=alg)
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, "node", "server.mjs"], cwd=self.dir, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{self.port}"
        wait_http(f"{base}/.well-known/openid-configuration", self.proc)
        return peer_run(scenario, self.proc.pid, base, "api:read", "/token/introspection")

    def stop(self):
        stop(self.proc)


class Glewlwyd:
    """../shared/peers/glewlwyd: glewlwyd 2.7.5 from Debian, SQLite; client secret PBKDF2 with one
    iteration (its default of 150,000 re-derived per request would measure PBKDF2 alone)."""
    name = "glewlwyd"

    def __init__(self, work):
        if not shutil.which("glewlwyd"):
            subprocess.run(["apt-get", "install", "-y", "-qq", "glewlwyd", "sqlite3"], check=True,
                           stdout=subprocess.DEVNULL)
        self.dir = os.path.join(work, "glewlwyd")
        shutil.copytree(os.path.join(PEERS_DIR, "glewlwyd"), self.dir)

    def start(self, scenario):
        alg = "ES256" if scenario.startswith("cc-jwt-ES256") else "RS256"
        env = dict(os.environ, ALG=alg, PBKDF2_ITER="1")
        subprocess.run([os.path.join(self.dir, "setup.sh")], env=env, check=True, capture_output=True)
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, "glewlwyd",
                                      f"--config-file={self.dir}/run/glewlwyd.conf"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http("http://127.0.0.1:4593/config", self.proc)
        return peer_run(scenario, self.proc.pid, "http://127.0.0.1:4593/api/oidc", "api", "/introspect")

    def stop(self):
        stop(self.proc)


# ---------------------------------------------------------------------------------------------
# Measuring


def measure(server, run, rep, run_id):
    """One wrk run by the shared harness's protocol: warm-up, quiet machine, calibration, run."""
    env = dict(os.environ, BODY=run.get("body", ""), BASIC=run.get("basic", ""), LUA_DIR=LUA, **run.get("env", {}))
    cmd = ["taskset", "-c", WRK_CPU, "wrk", "-t", str(THREADS), "-c", str(CONNS), "--timeout", "5s",
           "--latency", "-s", os.path.join(LUA, run["lua"])]
    quiet, calib = float("nan"), None
    if not SMOKE:
        if run["scenario"] not in ("refresh", "pg-refresh"):  # a warm-up would use the refresh tokens
            subprocess.run(cmd + ["-d", "3s", run["url"]], env=env, capture_output=True, timeout=60)
        harness = shared_harness()
        quiet, _ = harness.wait_quiet()
        calib = harness.calibrate(SERVER_CPU)
    pid = run["pid"]
    idle = rss_kb(pid)
    peak = {"rss": idle, "anon": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak["rss"] = max(peak["rss"], rss_kb(pid))
            peak["anon"] = max(peak["anon"], rss_kb(pid, "RssAnon"))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0, t0 = cpu_seconds(pid), time.time()
    out = subprocess.run(cmd + ["-d", f"{DURATION}s", run["url"]], env=env, capture_output=True, text=True,
                         timeout=DURATION + 60)
    wall, cpu = time.time() - t0, cpu_seconds(pid) - cpu0
    done.set()
    sampler.join()
    found = re.search(r"^JSON (\{.*\})$", out.stdout, re.M)
    if not found:
        raise SystemExit(f"wrk said: {out.stdout}{out.stderr}")
    result = json.loads(found.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    result.update(server=server, scenario=run["scenario"], rep=rep, run=run_id,
                  non_2xx=int(non2xx.group(1)) if non2xx else 0, rss_mb_idle=round(idle / 1024, 1),
                  rss_mb_peak=round(peak["rss"] / 1024, 1), rss_anon_mb_peak=round(peak["anon"] / 1024, 1),
                  server_cpu_pct=round(100 * cpu / wall, 1), calib_rsa2048_sign_per_s=calib,
                  pre_run_busy_pct=round(quiet, 1), ts=time.strftime("%Y-%m-%dT%H:%M:%S"))
    return result


def code_flows(run, rep, run_id, workers=4):
    """Complete authorization code flows with PKCE, each with a fresh cookie jar (so each signs in):
    GET /authorize → login form → POST /login → (consent form → POST /consent) → code → /token."""
    deadline = time.time() + DURATION
    latencies, failures = [], []

    def one_flow():
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar))
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": "bench-spa", "redirect_uri": "http://127.0.0.1:9/callback",
            "scope": "openid profile", "state": "s", "nonce": "n",
            "code_challenge": challenge, "code_challenge_method": "S256"})
        status, headers, page = request("GET", f"{ISSUER}/authorize?{query}", opener=opener)
        handle = re.search(r'name="handle" value="([^"]+)"', page).group(1)
        status, headers, page = request("POST", f"{ISSUER}/login", urllib.parse.urlencode({
            "handle": handle, "username": "bench-user", "password": "bench-password", "action": "login"}),
            opener=opener)
        if status == 200:
            handle = re.search(r'name="handle" value="([^"]+)"', page).group(1)
            status, headers, page = request("POST", f"{ISSUER}/consent", urllib.parse.urlencode({
                "handle": handle, "action": "accept"}), opener=opener)
        location = headers.get("Location") or headers.get("location") or ""
        code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query).get("code", [None])[0]
        if not code:
            raise RuntimeError(f"no code: {status} {location}")
        status, _, text = request("POST", f"{ISSUER}/token", urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/callback",
            "client_id": "bench-spa", "code_verifier": verifier}))
        if status != 200 or "id_token" not in text:
            raise RuntimeError(f"token: {status} {text}")

    one_flow()  # warm-up, and the consent is remembered from here on
    pid = run["pid"]
    cpu0, t0 = cpu_seconds(pid), time.time()

    def worker():
        while time.time() < deadline:
            start = time.time()
            try:
                one_flow()
                latencies.append(time.time() - start)
            except Exception as e:  # counted, reported
                failures.append(str(e))

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    latencies.sort()
    pct = lambda p: 1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")
    return {"server": "ostiary", "scenario": "code-flow", "rep": rep, "run": run_id,
            "requests": len(latencies), "rps": round(len(latencies) / wall, 1), "p50_ms": pct(0.5),
            "p99_ms": pct(0.99), "non_2xx": len(failures), "rss_mb_peak": round(rss_kb(pid) / 1024, 1),
            "rss_anon_mb_peak": round(rss_kb(pid, "RssAnon") / 1024, 1),
            "server_cpu_pct": round(100 * (cpu_seconds(pid) - cpu0) / wall, 1),
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S")}


def machine_limits():
    """Single-core rates on the server's core: openssl speed, and argon2id at Ostiary's cost."""
    out = subprocess.run(["taskset", "-c", SERVER_CPU, "openssl", "speed", "-seconds", "2",
                          "rsa2048", "ecdsap256", "ed25519"], capture_output=True, text=True).stdout
    limits = {}
    m = re.search(r"^rsa 2048 bits\s+\S+\s+\S+\s+([0-9.]+)\s+([0-9.]+)", out, re.M)
    if m:
        limits["RS256 sign"], limits["RS256 verify"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([0-9.]+)\s+([0-9.]+)", out)
    if m:
        limits["ES256 sign"], limits["ES256 verify"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"253 bits EdDSA \(Ed25519\)\s+\S+\s+\S+\s+([0-9.]+)\s+([0-9.]+)", out)
    if m:
        limits["EdDSA sign"], limits["EdDSA verify"] = float(m.group(1)), float(m.group(2))
    python = os.environ.get("BENCH_PYTHON", sys.executable)
    argon = subprocess.run(["taskset", "-c", SERVER_CPU, python, "-c", """
import time, argon2
h = argon2.low_level.hash_secret_raw
n, t0 = 0, time.time()
while time.time() - t0 < 3:
    h(b"bench-password", b"0123456789abcdef", time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, type=argon2.low_level.Type.ID)
    n += 1
print(n / (time.time() - t0))
"""], capture_output=True, text=True)
    if argon.returncode == 0:
        limits["argon2id hash"] = float(argon.stdout.strip())
    else:
        log("argon2id rate not measured (argon2-cffi missing):", argon.stderr.strip()[-200:])
    return limits


# ---------------------------------------------------------------------------------------------
# Report


def median(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


# Which machine limit bounds which scenario, for "fraction of the limit".
BOUND_BY = {"cc-jwt-RS256": "RS256 sign", "cc-jwt-ES256": "ES256 sign", "cc-jwt-EdDSA": "EdDSA sign",
            "cc-jwt-RS256-sc": "RS256 sign", "cc-jwt-ES256-sc": "ES256 sign", "cc-jwt-EdDSA-sc": "EdDSA sign",
            "password": "argon2id hash", "code-flow": "argon2id hash"}


def report(rows, limits, run_id):
    by = {}
    for r in rows:
        by.setdefault((r["scenario"], r["server"]), []).append(r)
    lines = [f"# Benchmark results ({run_id})", "",
             "Produced by `bench/compare.sh` (see `bench/README.md`): each server pinned to CPU 1, wrk on "
             f"CPU 0, {CONNS} connections, {DURATION} s per run after a 3 s warm-up, {REPS} interleaved "
             "repetitions; medians shown. Ratios are Ostiary's requests/s over the peer's in the same run.", "",
             "## Machine limits (one core, measured in this run)", "", "| operation | per second |", "|---|---:|"]
    lines += [f"| {k} | {v:,.0f} |" for k, v in limits.items()]
    lines += ["", "## Scenarios", "",
              "| scenario | server | req/s | p50 ms | p99 ms | peak RSS MiB (anon) | non-2xx | Ostiary / peer | fraction of limit |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    ratios = []
    for scenario, (description, _) in SCENARIOS.items():
        ours = by.get((scenario, "ostiary"))
        if not ours:
            continue
        ours_rps = median([r["rps"] for r in ours])
        for server in ["ostiary", "node-oidc-provider", "glewlwyd"]:
            runs = by.get((scenario, server))
            if not runs:
                continue
            rps = median([r["rps"] for r in runs])
            ratio = ""
            if server != "ostiary" and rps > 0:
                ratio = f"{ours_rps / rps:.1f}x"
                ratios.append((f"{scenario} vs {server}", ours_rps / rps))
            limit = ""
            if server == "ostiary" and BOUND_BY.get(scenario) in limits:
                limit = f"{rps / limits[BOUND_BY[scenario]]:.2f} of {BOUND_BY[scenario]}"
            label = f"{scenario}: {description}" if server == "ostiary" else ""
            lines.append(
                f"| {label} | {server} | {rps:,.0f} | "
                f"{median([r['p50_ms'] for r in runs]):.2f} | {median([r['p99_ms'] for r in runs]):.2f} | "
                f"{median([r['rss_mb_peak'] for r in runs]):.0f} ({median([r.get('rss_anon_mb_peak', float('nan')) for r in runs]):.0f}) | "
                f"{sum(r['non_2xx'] for r in runs)} | {ratio} | {limit} |")
    full = [(name.removesuffix("-1M"), name) for name in SCENARIOS if name.endswith("-1M")]
    full = [(empty, name) for empty, name in full if by.get((empty, "ostiary")) and by.get((name, "ostiary"))]
    if full:
        lines += ["", "With 1,000,000 live tokens in the database (target: p99 within 1.5x of the empty database's):", "",
                  "| scenario | p99 ms, empty | p99 ms, 1M tokens | ratio | req/s, empty | req/s, 1M tokens |",
                  "|---|---:|---:|---:|---:|---:|"]
        for empty, name in full:
            p99 = [median([r["p99_ms"] for r in by[(n, "ostiary")]]) for n in (empty, name)]
            rps = [median([r["rps"] for r in by[(n, "ostiary")]]) for n in (empty, name)]
            lines.append(f"| {empty} | {p99[0]:.2f} | {p99[1]:.2f} | {p99[1] / p99[0]:.2f} | {rps[0]:,.0f} | {rps[1]:,.0f} |")
    idle = {server: median([r["rss_mb_idle"] for r in rows if r["server"] == server and "rss_mb_idle" in r])
            for server in dict.fromkeys(r["server"] for r in rows)}
    lines += ["", "RSS before the measured run (started, configured, after the 3 s warm-up), median: " +
              ", ".join(f"{server} {mib:.1f} MiB" for server, mib in idle.items()) + "."]
    calib = [r["calib_rsa2048_sign_per_s"] for r in rows if r.get("calib_rsa2048_sign_per_s")]
    if calib:
        lines += ["", f"RSA-2048 sign/s calibration on CPU 1 before each run: {min(calib):,.0f} to {max(calib):,.0f} "
                  "(this VM's speed drifts; compare within a run)."]
    lines += ["", "![Ostiary / peer](ratios.svg)", ""]
    # Only a complete run replaces the committed results; a partial one goes beside the raw runs.
    complete = "SCENARIOS" not in os.environ and "PEERS" not in os.environ
    where = os.path.join(ROOT, "bench") if complete else os.path.dirname(OUT)
    with open(os.path.join(where, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(where, "ratios.svg"), "w") as f:
        f.write(svg(ratios))
    print("\n".join(lines))


def svg(ratios):
    """A horizontal bar chart of Ostiary / peer, log scale, 1x marked."""
    import math
    width, bar, left = 760, 22, 300
    height = 40 + bar * len(ratios)
    top = max([r for _, r in ratios] + [2])
    scale = (width - left - 60) / math.log10(top * 1.2)
    x = lambda v: left + max(0.0, math.log10(max(v, 1.0))) * scale
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             '<text x="10" y="18" font-weight="bold">Ostiary requests/s ÷ peer requests/s (log scale; right of the line = Ostiary faster)</text>']
    for i, (label, ratio) in enumerate(ratios):
        y = 30 + i * bar
        colour = "#2e7d32" if ratio >= 1 else "#c62828"
        w = abs(x(ratio) - left) if ratio >= 1 else 4
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{label}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{bar - 6}" fill="{colour}"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 15}">{ratio:.1f}x</text>')
    parts.append(f'<line x1="{left}" y1="26" x2="{left}" y2="{height - 4}" stroke="#000"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    wanted = os.environ.get("SCENARIOS", " ".join(SCENARIOS)).split()
    unknown = [s for s in wanted if s not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenarios: {unknown}; known: {list(SCENARIOS)}")
    peers_wanted = [] if SMOKE else os.environ.get("PEERS", "node-oidc-provider glewlwyd").split()
    work = tempfile.mkdtemp(prefix="ostiary-bench-")
    try:
        ostiary = Ostiary(work, os.environ.get("BENCH_POSTGRES_URL"))
        peers = {}
        if "node-oidc-provider" in peers_wanted:
            peers["node-oidc-provider"] = NodeOidcProvider(work)
        if "glewlwyd" in peers_wanted:
            peers["glewlwyd"] = Glewlwyd(work)
        run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        limits = {} if SMOKE else machine_limits()
        log("machine limits:", limits)
        rows = []
        os.makedirs(os.path.dirname(OUT), exist_ok=True)
        for rep in range(1, REPS + 1):
            for scenario in wanted:
                servers = [ostiary] + [peers[p] for p in SCENARIOS[scenario][1] if p in peers]
                for server in servers:
                    run = server.start(scenario)
                    if run is None:
                        log(f"skipped {scenario} (no BENCH_POSTGRES_URL)")
                        continue
                    try:
                        if scenario == "code-flow":
                            row = code_flows(run, rep, run_id)
                        else:
                            row = measure(server.name, run, rep, run_id)
                    finally:
                        server.stop()
                    log(f"{server.name:20} {scenario:22} {row['rps']:>10,.0f} req/s  p99 {row['p99_ms']:.2f} ms  "
                        f"non-2xx {row['non_2xx']}  RSS {row['rss_mb_peak']} MiB")
                    rows.append(row)
                    if not SMOKE:
                        with open(OUT, "a") as f:
                            f.write(json.dumps(row) + "\n")
        if SMOKE:
            failed = [r for r in rows if r["non_2xx"] or not r["requests"] or r.get("err_timeout")]
            if failed:
                raise SystemExit(f"benchmark smoke run: requests failed in {[r['scenario'] for r in failed]}")
            log(f"benchmark smoke run: {len(rows)} scenarios, no failed request")
            return
        report(rows, limits, run_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
