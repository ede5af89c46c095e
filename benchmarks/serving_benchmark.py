"""Serving benchmark: the prediction API under a bounded load (wrk), one worker, auth on.

Method: the shared snapshot is ingested into a fresh PostgreSQL database and ``game-logistic``
and ``player-ridge`` are trained, registered and promoted with the real CLI (not timed). The
service runs with ``nba-mlops serve`` (``bentoml serve``, one worker) on 127.0.0.1 with a Redis
of its own for the cache and the rate-limit counters, PostgreSQL for the prediction rows, log
level INFO (one access-log line per request) and the rate limit raised to 1,000,000/minute so
that it counts every request without refusing any. Every request carries a bearer token. wrk
(one thread per connection up to 2 threads) sends ``POST /api/predict/simple`` for the day after
the last stored game: the uncached runs (``NBA_CACHE_TTL_SECONDS=0``: every request looks the
cache up, misses and predicts) cycle through all 1,740 team pairs (home court and neutral site),
the cached run repeats one matchup (every answer a cache hit, checked on ``/api/metrics``), the
batch run sends slates of 10 different games, and a player run (no target) asks for the last
season's 20 best scorers in turn. Each run lasts ``--duration`` seconds after a
warm-up; wrk, the server, Redis and PostgreSQL share the machine's 2 cores with other work (the
load average is recorded before each run).

Usage: python benchmarks/serving_benchmark.py [--duration 15] [--pg-admin-url URL]
Writes benchmarks/results/serving.json and serving.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import as_markdown, describe

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv/bin/nba-mlops")
TARGETS = {
    "uncached_p50_ms_1_connection": ("<", 5.0),
    "uncached_requests_per_s_16_connections": (">=", 300.0),
    "cached_p50_ms_1_connection": ("<", 2.0),
    "batch_of_10_p95_ms_1_connection": ("<", 50.0),
}
USER, PASSWORD = "bench", "bench-password-1"

WRK_DONE = """
done = function(summary, latency, requests)
  io.write(string.format(
    "JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"status_errors\\":%d,\\"connect_errors\\":%d,"
    .. "\\"read_errors\\":%d,\\"write_errors\\":%d,\\"timeouts\\":%d,\\"p50_ms\\":%.3f,"
    .. "\\"p90_ms\\":%.3f,\\"p95_ms\\":%.3f,\\"p99_ms\\":%.3f,\\"max_ms\\":%.3f,\\"mean_ms\\":%.3f}\\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
"""


def wrk_script(kind: str, teams: list[str], day: str) -> str:
    """A wrk Lua script: ``uncached`` (every pair in turn), ``cached`` (one body), ``batch``."""
    team_list = ",".join(f'"{t}"' for t in teams)
    head = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local teams = {{{team_list}}}
local day = "{day}"
local bodies = {{}}
for _, neutral in ipairs({{"false", "true"}}) do
  for i = 1, #teams do
    for j = 1, #teams do
      if i ~= j then
        table.insert(bodies, string.format(
          '{{"home_team":"%s","away_team":"%s","game_date":"%s","neutral_site":%s}}',
          teams[i], teams[j], day, neutral))
      end
    end
  end
end
local n = 0
"""
    if kind == "uncached":
        body = """
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end
"""
    elif kind == "cached":
        body = """
wrk.body = bodies[1]
"""
    else:
        body = """
request = function()
  n = n + 1
  local games = {}
  for k = 0, 9 do
    table.insert(games, bodies[((n * 10 + k) % #bodies) + 1])
  end
  return wrk.format(nil, nil, nil, '{"games":[' .. table.concat(games, ",") .. ']}')
end
"""
    return head + body + WRK_DONE


def wrk_cycle_script(bodies: list[str]) -> str:
    """A wrk Lua script sending ``bodies`` in turn."""
    items = ",\n".join(f"[==[{b}]==]" for b in bodies)
    return (
        f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {{
{items}
}}
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end
"""
        + WRK_DONE
    )


def run_wrk(url: str, token: str, script: Path, connections: int, duration: int) -> dict:
    threads = min(connections, 2)
    proc = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("JSON "))
    doc = json.loads(line[5:])
    doc["requests_per_s"] = round(doc["requests"] / (doc["duration_us"] / 1e6), 1)
    doc["errors"] = sum(
        doc[k]
        for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    doc["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    return doc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(env: dict, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [CLI, *args], env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"nba-mlops {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return proc.stdout


@contextmanager
def redis_server():
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def pg_database(admin_url: str):
    from sqlalchemy import create_engine, text

    name = f"nba_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def server(env: dict, log_path: Path):
    port = free_port()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.perf_counter()
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited: {log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server was not ready within 300 s")
            time.sleep(0.5)
        yield base, time.perf_counter() - t0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def token_for(base: str) -> str:
    response = httpx.post(f"{base}/api/auth/login", json={"username": USER, "password": PASSWORD})
    response.raise_for_status()
    return response.json()["access_token"]


def cache_counts(base: str, token: str) -> dict[str, float]:
    text = httpx.get(f"{base}/api/metrics", headers={"Authorization": f"Bearer {token}"}).text
    out = {}
    for name in ("hits", "misses"):
        match = re.search(rf'nba_cache_{name}_total{{endpoint="simple"}} ([0-9.e+]+)', text)
        out[name] = float(match.group(1)) if match else 0.0
    return out


def setup_store(
    env: dict, models: str = "game-logistic,player-ridge"
) -> tuple[list[str], str, list[str]]:
    """Ingest and train; returns the team abbreviations, the day after the last game and player
    requests for that day (the 20 best scorers of the last season)."""
    from sqlalchemy import create_engine, func, select

    from core.db import Game, Team
    from ingest.storage import read_player_games

    cli(env, "ingest")
    cli(env, "train", "--models", models)
    cli(env, "users", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")
    engine = create_engine(env["NBA_DATABASE_URL"])
    with engine.connect() as conn:
        abbreviation = dict(conn.execute(select(Team.team_id, Team.abbreviation)).all())
        last = conn.execute(select(func.max(Game.game_date))).scalar()
        season = conn.execute(select(Game.season).where(Game.game_date == last)).scalars().first()
    players = read_player_games(engine, seasons=[season])
    engine.dispose()
    day = last.fromordinal(last.toordinal() + 1).isoformat()
    teams = sorted(abbreviation.values())
    best = players.groupby("player_id")["pts"].mean().nlargest(20).index
    latest = players.sort_values("game_date").groupby("player_id").last()
    bodies = []
    for player_id in best:
        own = abbreviation.get(int(latest.loc[player_id, "team_id"]))
        opponent = next(t for t in teams if t != own)
        bodies.append(
            json.dumps(
                {
                    "player": str(latest.loc[player_id, "player_name"]),
                    "opponent": opponent,
                    "home": len(bodies) % 2 == 0,
                    "game_date": day,
                }
            )
        )
    return teams, day, bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="Seconds per measured run.")
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    results: dict = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        pg_database(args.pg_admin_url) as db_url,
        redis_server() as redis_url,
    ):
        tmp_path = Path(tmp)
        env = {
            **os.environ,
            "NBA_STATE_DIR": str(tmp_path / "state"),
            "NBA_DATABASE_URL": db_url,
            "NBA_REDIS_URL": redis_url,
            "NBA_RATE_LIMIT": "1000000/minute",
            "NBA_JWT_SECRET": "benchmark-" + "s" * 40,
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        t0 = time.perf_counter()
        teams, day, player_bodies = setup_store(env)
        results["setup_s"] = round(time.perf_counter() - t0, 1)
        results["teams"], results["day"] = len(teams), day
        scripts = {}
        for kind in ("uncached", "cached", "batch"):
            scripts[kind] = tmp_path / f"{kind}.lua"
            scripts[kind].write_text(wrk_script(kind, teams, day))
        scripts["player"] = tmp_path / "player.lua"
        scripts["player"].write_text(wrk_cycle_script(player_bodies))

        uncached_env = {**env, "NBA_CACHE_TTL_SECONDS": "0"}
        with server(uncached_env, tmp_path / "uncached.log") as (base, ready_s):
            results["server_ready_s"] = round(ready_s, 1)
            token = token_for(base)
            simple = f"{base}/api/predict/simple"
            run_wrk(simple, token, scripts["uncached"], 1, 3)  # warm-up
            results["uncached_1"] = run_wrk(simple, token, scripts["uncached"], 1, args.duration)
            results["uncached_16"] = run_wrk(simple, token, scripts["uncached"], 16, args.duration)
            batch = f"{base}/api/predict/batch"
            run_wrk(batch, token, scripts["batch"], 1, 3)
            results["batch_1"] = run_wrk(batch, token, scripts["batch"], 1, args.duration)
            player = f"{base}/api/predict/player"
            run_wrk(player, token, scripts["player"], 1, 3)
            results["player_1"] = run_wrk(player, token, scripts["player"], 1, args.duration)
            results["uncached_cache_counts"] = cache_counts(base, token)

        with server(env, tmp_path / "cached.log") as (base, _):
            token = token_for(base)
            simple = f"{base}/api/predict/simple"
            run_wrk(simple, token, scripts["cached"], 1, 3)
            before = cache_counts(base, token)
            results["cached_1"] = run_wrk(simple, token, scripts["cached"], 1, args.duration)
            results["cached_16"] = run_wrk(simple, token, scripts["cached"], 16, args.duration)
            after = cache_counts(base, token)
            results["cached_hit_ratio"] = round(
                (after["hits"] - before["hits"])
                / max(1.0, after["hits"] + after["misses"] - before["hits"] - before["misses"]),
                4,
            )

    reached = {
        "uncached_p50_ms_1_connection": results["uncached_1"]["p50_ms"],
        "uncached_requests_per_s_16_connections": results["uncached_16"]["requests_per_s"],
        "cached_p50_ms_1_connection": results["cached_1"]["p50_ms"],
        "batch_of_10_p95_ms_1_connection": results["batch_1"]["p95_ms"],
    }
    errors = sum(
        results[k]["errors"]
        for k in ("uncached_1", "uncached_16", "cached_1", "cached_16", "batch_1")
    )
    met = {
        key: (reached[key] < target if op == "<" else reached[key] >= target)
        for key, (op, target) in TARGETS.items()
    }
    met["no_errors"] = errors == 0
    machine = describe(("bentoml", "scikit-learn", "pandas", "redis", "limits"))
    doc = {
        "benchmark": "serving",
        "method": " ".join(__doc__.split("\n\n")[1].split()),
        "targets": {k: f"{op} {v}" for k, (op, v) in TARGETS.items()},
        "reached": reached,
        "met": met,
        "errors": errors,
        "runs": results,
        "machine": machine,
    }
    out = ROOT / "benchmarks/results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "serving.md").write_text(render(doc))
    print(render(doc))


def render(doc: dict) -> str:
    runs = doc["runs"]
    lines = ["# Serving benchmark", "", doc["method"], "", "## Targets", ""]
    lines += ["| measure | reached | target | met |", "|---|---|---|---|"]
    for key, target in doc["targets"].items():
        lines.append(
            f"| {key} | {doc['reached'][key]} | {target} | {'yes' if doc['met'][key] else 'no'} |"
        )
    lines.append(
        f"| errors (all runs) | {doc['errors']} | 0 | {'yes' if doc['met']['no_errors'] else 'no'} |"
    )
    lines += ["", "## Runs", ""]
    lines += [
        "| run | connections | requests/s | p50 ms | p90 ms | p95 ms | p99 ms | max ms | errors | load before |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = {
        "uncached_1": ("simple, uncached", 1),
        "uncached_16": ("simple, uncached", 16),
        "cached_1": ("simple, cached", 1),
        "cached_16": ("simple, cached", 16),
        "batch_1": ("batch of 10, uncached", 1),
        "player_1": ("player, uncached (no target)", 1),
    }
    for key, (label, conns) in labels.items():
        r = runs[key]
        lines.append(
            f"| {label} | {conns} | {r['requests_per_s']} | {r['p50_ms']} | {r['p90_ms']} | "
            f"{r['p95_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['errors']} | {r['load_average_before']} |"
        )
    lines += [
        "",
        f"- store: {runs['teams']} teams; predictions for {runs['day']} (the day after the last stored game)",
        f"- cache hit ratio during the cached runs: {runs['cached_hit_ratio']}; "
        f"hits during the uncached runs: {runs['uncached_cache_counts']['hits']:.0f}",
        f"- setup (ingest, train two models, add a user): {runs['setup_s']} s; "
        f"server ready {runs['server_ready_s']} s after start",
        "",
        "## Machine",
        "",
        as_markdown(doc["machine"]),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
