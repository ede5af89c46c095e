"""Load and soak benchmark: a mixed workload against a real ``bentoml serve``, auth on.

Method: the store, the models and the user are set up as in ``serving_benchmark.py`` (the shared
snapshot ingested into a fresh PostgreSQL database; ``game-logistic``, ``game-tree`` and
``player-ridge`` trained, registered and promoted with the real CLI; not timed), and the service
runs the same way (``nba-mlops serve``, one worker, 127.0.0.1, a Redis of its own for the cache
and the rate-limit counters, the cache on with its default lifetime, log level INFO, the rate
limit raised to 1,000,000/minute). Every request carries a bearer token and an ``X-Request-ID``
naming its run, endpoint and sequence number. One wrk process per endpoint (one thread each,
all at once) makes the mix: ``simple`` cycles through every team pair on seven dates after the
last stored game (a mix of cache hits and misses), ``player`` through the last season's 20 best
scorers on those dates, ``compare`` through the pairs, ``batch`` sends slates of 10 games,
``models`` and ``health`` are GETs. The mixed run gives the endpoints 12, 6, 4, 4, 2 and 4
connections (32) for ``--duration`` seconds after a warm-up; each wrk writes the request ID and
status of every answer it receives. Overall percentiles are those of the union of the
per-endpoint latency distributions (each read from wrk at 0.5- and, above p99, 0.01-percentile
steps). The soak gives each endpoint one connection that waits ``--soak-delay-ms`` between
requests, for ``--soak-duration`` seconds, while the resident memory (RSS) of every process of
the service (``nba-mlops serve``, ``bentoml serve`` and its worker) is summed every
``--sample-seconds``; growth is the median of the last minute's samples over the median of the
minute after the warm-up. After each run the service's buffer of prediction rows is flushed
(``nba_records_pending`` 0 and ``nba_records_written_total`` steady on ``/api/metrics``) and
the ``predictions`` table is read. Rule checked, per request ID: a prediction answered 200,
cached or not, has exactly one row for ``simple`` and ``player``, one per game for ``batch``
(10) and one per game model answering for ``compare`` (2 here); a request answered otherwise
has none; a request the client never saw answered (in flight when wrk stopped, answered by the
server after the client closed; at most one per connection) has the same rows as a 200. wrk,
the server, Redis and PostgreSQL share the machine's 2 cores with other work (the load average
is recorded before each run).

Usage: python benchmarks/load_benchmark.py [--duration 120] [--soak-duration 600]
Writes benchmarks/results/load.json and load.md.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import as_markdown, describe
from serving_benchmark import ROOT, pg_database, redis_server, server, setup_store, token_for

MODELS = "game-logistic,game-tree,player-ridge"
DATES = 7
BATCH_SIZE = 10
# Percentiles read from each wrk run; overall percentiles come from their union.
GRID = [round(0.5 * i, 2) for i in range(198)] + [round(99 + 0.01 * i, 2) for i in range(101)]


@dataclass(frozen=True)
class Endpoint:
    kind: str
    method: str
    path: str
    connections: int  # in the mixed run
    rows_per_request: int  # prediction rows per answered request (0: not a prediction)


def endpoints(game_models: int) -> list[Endpoint]:
    return [
        Endpoint("simple", "POST", "/api/predict/simple", 12, 1),
        Endpoint("player", "POST", "/api/predict/player", 6, 1),
        Endpoint("compare", "POST", "/api/predict/compare", 4, game_models),
        Endpoint("batch", "POST", "/api/predict/batch", 4, BATCH_SIZE),
        Endpoint("models", "GET", "/api/models", 2, 0),
        Endpoint("health", "GET", "/api/health", 4, 0),
    ]


def request_bodies(teams: list[str], day: str, player_bodies: list[str]) -> dict[str, list[str]]:
    """The JSON bodies each endpoint cycles through."""
    first = date.fromisoformat(day)
    days = [(first + timedelta(days=k)).isoformat() for k in range(DATES)]
    games = [
        {"home_team": h, "away_team": a, "game_date": d}
        for d in days
        for h in teams
        for a in teams
        if h != a
    ]
    players = [{**json.loads(b), "game_date": d} for d in days for b in player_bodies]
    batches = [games[i : i + BATCH_SIZE] for i in range(0, len(games) - BATCH_SIZE, BATCH_SIZE)]
    return {
        "simple": [json.dumps(g) for g in games],
        "compare": [json.dumps(g) for g in games[::7]],
        "player": [json.dumps(p) for p in players],
        "batch": [json.dumps({"games": b}) for b in batches],
        "models": [],
        "health": [],
    }


def lua_script(
    endpoint: Endpoint, bodies: list[str], prefix: str, delay_ms: int, answers: Path
) -> str:
    """A wrk script (for one wrk thread): the endpoint's bodies in turn, a request ID each,
    every answer's request ID and status written to ``answers``, and a JSON line with the
    summary, the statuses and the latency percentiles."""
    items = ",\n".join(f"[==[{b}]==]" for b in bodies)
    grid = ", ".join(str(p) for p in GRID)
    pacing = f"function delay() return {delay_ms} end\n" if delay_ms > 0 else ""
    return f"""
wrk.method = "{endpoint.method}"
wrk.headers["Content-Type"] = "application/json"
local bodies = {{
{items}
}}
local grid = {{{grid}}}
local threads = {{}}
local n = 0
local headers = nil
local answers = nil
statuses = {{}}
function setup(thread) table.insert(threads, thread) end
function request()
  if headers == nil then  -- wrk.format replaces wrk.headers (the token) with the table given
    headers = {{}}
    for k, v in pairs(wrk.headers) do headers[k] = v end
  end
  n = n + 1
  headers["X-Request-ID"] = "{prefix}" .. n
  local body = nil
  if #bodies > 0 then body = bodies[(n % #bodies) + 1] end
  return wrk.format(nil, "{endpoint.path}", headers, body)
end
function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if answers == nil then answers = io.open("{answers}", "w") end
  answers:write(headers["x-request-id"] or "-", " ", key, "\\n")  -- flushed when wrk exits
end
{pacing}function done(summary, latency, requests)
  local counts = {{}}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do counts[k] = (counts[k] or 0) + v end
  end
  local parts = {{}}
  for k, v in pairs(counts) do table.insert(parts, string.format('"%s":%d', k, v)) end
  local q = {{}}
  for _, p in ipairs(grid) do  -- percentile(100) answers 0: the maximum instead
    local v = latency.max
    if p < 100 then v = latency:percentile(p) end
    table.insert(q, string.format("%.1f", v))
  end
  io.write(string.format(
    'JSON {{"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,'
    .. '"write_errors":%d,"timeouts":%d,"non_2xx":%d,"max_us":%d,"mean_us":%.1f,'
    .. '"statuses":{{%s}},"percentiles_us":[%s]}}\\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status, latency.max,
    latency.mean, table.concat(parts, ","), table.concat(q, ",")))
end
"""


def at(percentiles_us: list[float], p: float) -> float:
    return percentiles_us[GRID.index(p)]


def cdf(percentiles_us: list[float], x: float) -> float:
    """The share of requests at or below ``x`` microseconds (linear between grid points)."""
    i = bisect.bisect_right(percentiles_us, x)
    if i == 0:
        return 0.0
    if i >= len(percentiles_us):
        return 1.0
    lo, hi = percentiles_us[i - 1], percentiles_us[i]
    frac = 0.0 if hi == lo else (x - lo) / (hi - lo)
    return (GRID[i - 1] + frac * (GRID[i] - GRID[i - 1])) / 100


def overall_percentile(runs: list[dict], p: float) -> float:
    """The ``p`` percentile (microseconds) of all requests of ``runs`` together."""
    total = sum(r["requests"] for r in runs)
    lo, hi = 0.0, max(r["percentiles_us"][-1] for r in runs)
    for _ in range(60):
        mid = (lo + hi) / 2
        share = sum(r["requests"] * cdf(r["percentiles_us"], mid) for r in runs) / total
        lo, hi = (mid, hi) if share < p / 100 else (lo, mid)
    return hi


def run_mix(
    base: str,
    token: str,
    scripts: dict[str, Path],
    connections: dict[str, int],
    duration: int,
) -> dict[str, dict]:
    """Every endpoint's wrk at once; their parsed JSON lines by endpoint kind."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    procs = {
        kind: subprocess.Popen(
            [
                "wrk",
                "-t1",
                f"-c{connections[kind]}",
                f"-d{duration}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                "-H",
                f"Authorization: Bearer {token}",
                base,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind, script in scripts.items()
    }
    out = {}
    for kind, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=duration + 120)
        if proc.returncode != 0:
            raise SystemExit(f"wrk ({kind}) failed: {stderr[-2000:]}")
        line = next((x for x in stdout.splitlines() if x.startswith("JSON ")), None)
        if line is None:  # e.g. an error in the script: wrk falls back to its plain request
            raise SystemExit(f"wrk ({kind}) gave no summary: {stdout[-1000:]} {stderr[-1000:]}")
        doc = json.loads(line[5:])
        doc["connections"] = connections[kind]
        doc["load_average_before"] = load_before
        out[kind] = doc
    return out


def summarize(runs: dict[str, dict]) -> dict:
    """Per endpoint and overall: requests/s, percentiles (ms), errors by kind."""
    per = {}
    for kind, r in runs.items():
        seconds = r["duration_us"] / 1e6
        ok = r["statuses"].get("200", 0)
        errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
        per[kind] = {
            "connections": r["connections"],
            "requests": r["requests"],
            "requests_per_s": round(r["requests"] / seconds, 1),
            "p50_ms": round(at(r["percentiles_us"], 50) / 1000, 3),
            "p95_ms": round(at(r["percentiles_us"], 95) / 1000, 3),
            "p99_ms": round(at(r["percentiles_us"], 99) / 1000, 3),
            "max_ms": round(r["max_us"] / 1000, 3),
            "statuses": r["statuses"],
            "ok": ok,
            "errors": errors + r["non_2xx"],
        }
    all_runs = list(runs.values())
    seconds = max(r["duration_us"] for r in all_runs) / 1e6
    overall = {
        "connections": sum(r["connections"] for r in all_runs),
        "requests": sum(r["requests"] for r in all_runs),
        "requests_per_s": round(sum(r["requests"] for r in all_runs) / seconds, 1),
        **{f"p{p}_ms": round(overall_percentile(all_runs, p) / 1000, 3) for p in (50, 95, 99)},
        "max_ms": round(max(r["max_us"] for r in all_runs) / 1000, 3),
        "errors": sum(v["errors"] for v in per.values()),
        "load_average_before": all_runs[0]["load_average_before"],
    }
    return {"overall": overall, "endpoints": per}


def metric_value(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} ([0-9.e+\-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def wait_for_flush(base: str, token: str, timeout: float = 120.0) -> float:
    """Wait until the service wrote every buffered row; the rows written so far."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    last = -1.0
    while time.monotonic() < deadline:
        text = httpx.get(f"{base}/api/metrics", headers=headers, timeout=10).text
        pending = metric_value(text, "nba_records_pending")
        written = metric_value(text, "nba_records_written_total", '{table="predictions"}')
        if pending == 0 and written == last:
            return written
        last = written
        time.sleep(1.0)
    raise SystemExit("the service did not flush its prediction rows in time")


def game_models_serving(base: str, token: str) -> int:
    text = httpx.get(
        f"{base}/api/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).text
    return len(set(re.findall(r'^nba_model_serving\{model="(game-[^"]+)"', text, re.MULTILINE)))


def read_answers(path: Path) -> dict[str, str]:
    """The status of each answered request, by request ID (as the wrk script wrote them)."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        request_id, _, status = line.partition(" ")
        out[request_id] = status
    return out


def compare_rows(
    answers: dict[str, str], rows: dict[str, int], per_request: int, connections: int
) -> dict:
    """One endpoint's answers (request ID -> status) against its rows (request ID -> count).

    Rule: a request answered 200 has exactly ``per_request`` rows, a request answered otherwise
    none. A request with rows but no answer was in flight when wrk stopped (the server answered
    it after the client closed): allowed for at most one request per connection, and with
    exactly ``per_request`` rows too."""
    ok = [rid for rid, status in answers.items() if status == "200"]
    unseen = [rid for rid in rows if rid not in answers]
    doc = {
        "answered_200": len(ok),
        "answered_other": len(answers) - len(ok),
        "rows_per_request": per_request,
        "rows": sum(rows.values()),
        "rows_of_200_answers": sum(rows.get(rid, 0) for rid in ok),
        "200_answers_with_a_wrong_row_count": sum(
            1 for rid in ok if rows.get(rid, 0) != per_request
        ),
        "other_answers_with_rows": sum(
            1 for rid, status in answers.items() if status != "200" and rid in rows
        ),
        "in_flight_at_stop_with_rows": len(unseen),
        "in_flight_with_a_wrong_row_count": sum(1 for rid in unseen if rows[rid] != per_request),
    }
    doc["match"] = (
        doc["200_answers_with_a_wrong_row_count"] == 0
        and doc["other_answers_with_rows"] == 0
        and doc["in_flight_at_stop_with_rows"] <= connections
        and doc["in_flight_with_a_wrong_row_count"] == 0
    )
    return doc


def check_rows(db_url: str, prefix: str, scripts: dict[str, Path], eps: list[Endpoint]) -> dict:
    """Compare the ``predictions`` rows of a run (by request-ID prefix) with its answers."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT endpoint, request_id, count(*) FROM predictions "
                "WHERE request_id LIKE :prefix GROUP BY endpoint, request_id"
            ),
            {"prefix": prefix + "%"},
        ).all()
    engine.dispose()
    rows: dict[str, dict[str, int]] = {}
    foreign = 0
    for endpoint, request_id, count in found:
        kind = request_id[len(prefix) :].split("-", 1)[0]
        foreign += kind != endpoint
        rows.setdefault(kind, {})[request_id] = count
    out: dict = {"rows_of_another_endpoint": foreign, "endpoints": {}}
    for ep in eps:
        answers = read_answers(scripts[ep.kind].with_suffix(".answers"))
        out["endpoints"][ep.kind] = compare_rows(
            answers, rows.get(ep.kind, {}), ep.rows_per_request, ep.connections
        )
    out["mismatches"] = foreign + sum(not d["match"] for d in out["endpoints"].values())
    return out


def service_processes(port: int):
    """The ``nba-mlops serve`` process on ``port`` and its descendants (bentoml, the worker)."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if any(c.endswith("nba-mlops") for c in cmd) and "serve" in cmd and str(port) in cmd:
            return [proc, *proc.children(recursive=True)]
    raise SystemExit(f"no nba-mlops serve process on port {port}")


class RssSampler(threading.Thread):
    """Sums the RSS of the service's processes every ``interval`` seconds."""

    def __init__(self, port: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.samples: list[tuple[float, int, int]] = []  # (seconds, processes, bytes)
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        t0 = time.monotonic()
        while not self._stop_event.is_set():
            total, count = 0, 0
            for proc in service_processes(self.port):
                try:
                    total += proc.memory_info().rss
                    count += 1
                except psutil.NoSuchProcess:
                    pass
            self.samples.append((round(time.monotonic() - t0, 1), count, total))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(30)


def rss_growth(samples: list[tuple[float, int, int]], warmup: float, window: float) -> dict:
    after = [s[2] for s in samples if warmup <= s[0] < warmup + window]
    end_at = samples[-1][0]
    last = [s[2] for s in samples if s[0] > end_at - window]
    baseline, final = statistics.median(after), statistics.median(last)
    mb = 1024 * 1024
    return {
        "warmup_s": warmup,
        "window_s": window,
        "samples": len(samples),
        "processes": sorted({s[1] for s in samples}),
        "start_mb": round(samples[0][2] / mb, 1),
        "after_warmup_mb": round(baseline / mb, 1),
        "end_mb": round(final / mb, 1),
        "max_mb": round(max(s[2] for s in samples) / mb, 1),
        "growth_after_warmup_pct": round(100 * (final - baseline) / baseline, 2),
    }


def progress(*parts) -> None:
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


def write_scripts(tmp: Path, run: str, bodies, eps, delay_ms: int) -> dict[str, Path]:
    scripts = {}
    for ep in eps:
        path = tmp / f"{run}-{ep.kind}.lua"
        path.write_text(
            lua_script(
                ep, bodies[ep.kind], f"{run}-{ep.kind}-", delay_ms, path.with_suffix(".answers")
            )
        )
        scripts[ep.kind] = path
    return scripts


def measure(args, tmp: Path, db_url: str, env: dict, results: dict) -> None:
    teams, day, player_bodies = setup_store(env, MODELS)
    results["day"], results["teams"] = day, len(teams)
    progress("store and models ready", day)
    bodies = request_bodies(teams, day, player_bodies)
    results["bodies"] = {k: len(v) for k, v in bodies.items()}
    with server(env, tmp / "server.log") as (base, ready_s):
        results["server_ready_s"] = round(ready_s, 1)
        port = int(base.rsplit(":", 1)[1])
        token = token_for(base)
        eps = endpoints(game_models_serving(base, token))
        results["rows_per_request"] = {ep.kind: ep.rows_per_request for ep in eps}

        warm = write_scripts(tmp, "warm", bodies, eps, 0)
        run_mix(base, token, warm, {ep.kind: 1 for ep in eps}, args.warmup)
        mixed = write_scripts(tmp, "mixed", bodies, eps, 0)
        raw = run_mix(base, token, mixed, {ep.kind: ep.connections for ep in eps}, args.duration)
        results["mixed"] = summarize(raw)
        wait_for_flush(base, token)
        results["mixed"]["rows"] = check_rows(db_url, "mixed-", mixed, eps)
        progress("mixed run", results["mixed"]["overall"], results["mixed"]["rows"]["mismatches"])

        soak = write_scripts(tmp, "soak", bodies, eps, args.soak_delay_ms)
        sampler = RssSampler(port, args.sample_seconds)
        sampler.start()
        raw = run_mix(base, token, soak, {ep.kind: 1 for ep in eps}, args.soak_duration)
        sampler.stop()
        results["soak"] = summarize(raw)
        results["soak"]["delay_ms"] = args.soak_delay_ms
        warmup = min(args.soak_warmup, args.soak_duration / 5)
        window = min(60.0, args.soak_duration / 5)
        results["soak"]["memory"] = rss_growth(sampler.samples, warmup, window)
        results["soak"]["rss_samples"] = sampler.samples
        results["soak"]["written_before_check"] = wait_for_flush(base, token)
        results["soak"]["rows"] = check_rows(db_url, "soak-", soak, eps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=120, help="Seconds of the mixed run.")
    parser.add_argument("--soak-duration", type=int, default=600, help="Seconds of the soak.")
    parser.add_argument("--soak-delay-ms", type=int, default=50, help="Pause per connection.")
    parser.add_argument("--soak-warmup", type=float, default=60.0, help="Soak warm-up seconds.")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="RSS sampling period.")
    parser.add_argument("--warmup", type=int, default=10, help="Warm-up before the mixed run.")
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    machine = describe(("bentoml", "scikit-learn", "pandas", "redis", "sqlalchemy", "psutil"))
    results: dict = {}
    t0 = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        pg_database(args.pg_admin_url) as db_url,
        redis_server() as redis_url,
    ):
        env = {
            **os.environ,
            "NBA_STATE_DIR": str(Path(tmp) / "state"),
            "NBA_DATABASE_URL": db_url,
            "NBA_REDIS_URL": redis_url,
            "NBA_RATE_LIMIT": "1000000/minute",
            "NBA_JWT_SECRET": "benchmark-" + "s" * 40,
            "PREFECT_HOME": str(Path(tmp) / "prefect"),
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        measure(args, Path(tmp), db_url, env, results)
    results["total_s"] = round(time.perf_counter() - t0, 1)
    reached = {
        "errors_mixed_run": results["mixed"]["overall"]["errors"],
        "rss_growth_after_warmup_pct": results["soak"]["memory"]["growth_after_warmup_pct"],
        "row_mismatches": results["mixed"]["rows"]["mismatches"]
        + results["soak"]["rows"]["mismatches"],
    }
    met = {
        "errors_mixed_run": reached["errors_mixed_run"] == 0,
        "rss_growth_after_warmup_pct": reached["rss_growth_after_warmup_pct"] < 10.0,
        "row_mismatches": reached["row_mismatches"] == 0,
        "errors_soak": results["soak"]["overall"]["errors"] == 0,
    }
    doc = {
        "benchmark": "load",
        "method": " ".join(__doc__.split("\n\n")[1].split()),
        "options": vars(args) | {"pg_admin_url": None},
        "targets": {
            "errors_mixed_run": "== 0",
            "errors_soak": "== 0",
            "rss_growth_after_warmup_pct": "< 10",
            "row_mismatches": "== 0",
        },
        "reached": reached | {"errors_soak": results["soak"]["overall"]["errors"]},
        "met": met,
        "runs": results,
        "machine": machine,
    }
    out = ROOT / "benchmarks/results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "load.md").write_text(render(doc))
    print(render(doc))


def _table(summary: dict) -> list[str]:
    lines = [
        "| endpoint | connections | requests | requests/s | p50 ms | p95 ms | p99 ms | max ms "
        "| statuses | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in summary["endpoints"].items():
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        lines.append(
            f"| {kind} | {r['connections']} | {r['requests']} | {r['requests_per_s']} | "
            f"{r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['max_ms']} | {statuses} | "
            f"{r['errors']} |"
        )
    o = summary["overall"]
    lines.append(
        f"| **all** | {o['connections']} | {o['requests']} | **{o['requests_per_s']}** | "
        f"{o['p50_ms']} | {o['p95_ms']} | **{o['p99_ms']}** | {o['max_ms']} | | **{o['errors']}** |"
    )
    return lines


def _rows(check: dict) -> list[str]:
    lines = [
        "| endpoint | answered 200 | answered otherwise | rows per request | rows | rows of the "
        "200 answers | 200 answers with a wrong row count | other answers with rows | in flight "
        "at the stop, with rows | match |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in check["endpoints"].items():
        lines.append(
            f"| {kind} | {r['answered_200']} | {r['answered_other']} | {r['rows_per_request']} | "
            f"{r['rows']} | {r['rows_of_200_answers']} | "
            f"{r['200_answers_with_a_wrong_row_count']} | {r['other_answers_with_rows']} | "
            f"{r['in_flight_at_stop_with_rows']} | {'yes' if r['match'] else 'no'} |"
        )
    return lines


def render(doc: dict) -> str:
    runs = doc["runs"]
    mem = runs["soak"]["memory"]
    lines = ["# Load and soak benchmark", "", doc["method"], "", "## Targets", ""]
    lines += ["| measure | reached | target | met |", "|---|---|---|---|"]
    for key, target in doc["targets"].items():
        lines.append(
            f"| {key} | {doc['reached'][key]} | {target} | {'yes' if doc['met'][key] else 'no'} |"
        )
    lines += [
        "",
        f"## Mixed workload: {doc['options']['duration']} s, "
        f"{runs['mixed']['overall']['connections']} connections",
        "",
        f"Load average before: {runs['mixed']['overall']['load_average_before']}.",
        "",
        *_table(runs["mixed"]),
        "",
        "Prediction rows of the mixed run:",
        "",
        *_rows(runs["mixed"]["rows"]),
        "",
        f"## Soak: {doc['options']['soak_duration']} s, one connection per endpoint, "
        f"{runs['soak']['delay_ms']} ms pause between requests",
        "",
        f"Load average before: {runs['soak']['overall']['load_average_before']}.",
        "",
        *_table(runs["soak"]),
        "",
        f"Memory (RSS summed over {mem['processes']} processes, {mem['samples']} samples): "
        f"{mem['start_mb']} MB at the start, {mem['after_warmup_mb']} MB after the "
        f"{mem['warmup_s']:.0f} s warm-up (median of {mem['window_s']:.0f} s), {mem['end_mb']} MB "
        f"at the end (median of the last {mem['window_s']:.0f} s), peak {mem['max_mb']} MB: "
        f"**{mem['growth_after_warmup_pct']}%** growth after warm-up.",
        "",
        "Prediction rows of the soak (read after the service flushed its buffer):",
        "",
        *_rows(runs["soak"]["rows"]),
        "",
        f"- store: {runs['teams']} teams; predictions for {DATES} dates from {runs['day']} (the "
        f"day after the last stored game); bodies per endpoint: {runs['bodies']}",
        f"- server ready {runs['server_ready_s']} s after start; whole benchmark "
        f"{runs['total_s']} s",
        "",
        "## Machine",
        "",
        as_markdown(doc["machine"]),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
