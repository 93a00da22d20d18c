"""The scenarios of ``make bench``: each drives the servers through the load client and adds its rows.

bench/README.md says what each row measures and how.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from typing import Any

import requests

from bench.processes import PYTHON, CpuWatch, Server, rss_mb, run_json
from bench.report import (
    BURST,
    CALLBACK_CPU,
    SESSION,
    SUSTAINED,
    WHOLE_FLOW,
    Report,
    Row,
    median,
    percentile,
    seconds_text,
)
from callback_app.login.callback import FINISHED_KEPT
from tests.support.redis import RedisServer, round_trips
from tests.support.servers import ROOT

# Throughput is measured in rounds, and each ratio is taken within a round: on a shared
# machine, the neighbours' load drifts over a minute, not over a few seconds.
ROUNDS = 3
FLOW_PEOPLE = 64
FLOW_SECONDS = 5.0
BARE_SECONDS = 3.0
SESSION_PEOPLE = 32
SESSION_SECONDS = 3.0
SESSION_SERVICES = ["spotify", "appleMusic", "deezer"]
PROBE_REQUESTS = 100
BURST_SPREAD = 1.0
SOAK_PEOPLE = 32
RSS_SAMPLE_EVERY = 5.0
CALLBACK_CPU_TARGET_MS = 1.5
THROUGHPUT_TARGET = 1.5
BURST_P99_TARGET = 5.0
COOKIE_LOGIN = "acct-{service}"
REDIS_LOGIN = "sid"


def loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    timeout = spec.get("duration", 0) + spec.get("warmup", 0) + 2 * spec.get("timeout", 30) + 120
    return run_json([PYTHON, "-m", "bench.loadgen", json.dumps(spec)], timeout=timeout)


def callback_cpu(report: Report) -> None:
    result = run_json([PYTHON, "-m", "bench.micro"], timeout=300)
    callback = result["callback"]
    # The callback's own work: what it costs beyond the HTTP exchange it waits on (measured alone).
    own_p50 = callback["p50_ms"] - result["exchange_ms"]
    own_p99 = callback["p99_ms"] - result["exchange_ms"]
    row = report.add(
        Row(
            CALLBACK_CPU,
            "callback's own CPU, MusicAPI instant",
            "app, in-process",
            p50=f"{own_p50:.2f} ms",
            p99=f"{own_p99:.2f} ms",
            note=f"CPU of the process per callback, {result['callbacks']} callbacks through Flask's test client, "
            f"each from a new browser: {callback['p50_ms']:.2f} ms with the exchange, which costs "
            f"{result['exchange_ms']:.2f} ms alone (requests to a MusicAPI answering at once); "
            f"the test client on a bare Flask route alone {result['bare_flask_ms']:.2f} ms",
        )
    )
    row.check(f"median < {CALLBACK_CPU_TARGET_MS} ms", own_p50 < CALLBACK_CPU_TARGET_MS)


def closed_loop(server: Server, spec: dict[str, Any], people: int) -> dict[str, Any]:
    """One closed-loop run of ``people``, with the CPU the server and the client spent."""
    watch = CpuWatch([server])
    result = loadgen({"concurrency": people, "warmup": 1.0, "timeout": 30.0, "port": server.port, **spec})
    cpu = watch.finish(result["client_cpu_seconds"])
    # Over the whole run (warm-up included), so per unit of the run's own work.
    result["server_ms"] = cpu["servers_cpu"] / max(1, result["all_ok"]) * 1000
    result["client_share"] = cpu["client_cpu"] / cpu["wall"] if cpu["wall"] else 0.0
    result["background"] = cpu["background_share"]
    result["failures"] = result["failed"] + result["errors"]
    return result


def round_note(runs: list[dict[str, Any]], unit: str) -> str:
    rates = ", ".join(f"{run['per_second']:.0f}" for run in runs)
    note = (
        f"rounds {rates}/s; "
        f"server CPU {median([run['server_ms'] for run in runs]):.2f} ms per {unit}; "
        f"client {median([run['client_share'] for run in runs]):.0%} of a core; "
        f"other processes {median([run['background'] for run in runs]):.0%} of the machine"
    )
    failures = sum(run["failures"] for run in runs)
    if failures:
        note += f"; {failures} failed: {runs[-1]['error_kinds']}"
    return note


def within_rounds(numerators: list[dict[str, Any]], denominators: list[dict[str, Any]]) -> float:
    """The median over rounds of one rate divided by another measured in the same round."""
    return median(
        [top["per_second"] / bottom["per_second"] if bottom["per_second"] else math.inf
         for top, bottom in zip(numerators, denominators, strict=True)]
    )  # fmt: skip


def throughput(report: Report, *, app: Server, naive: Server, bare: Server, secret: str) -> None:
    """Rounds of bare route, app and naive peer; every person is a new browser doing the whole flow."""
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "app": [], "naive": []}
    for _ in range(ROUNDS):
        runs["bare"].append(closed_loop(bare, {"scenario": "bare", "duration": BARE_SECONDS}, FLOW_PEOPLE))
        for kind, server in (("app", app), ("naive", naive)):
            spec = {"scenario": "flow", "kind": kind, "secret": secret, "duration": FLOW_SECONDS}
            runs[kind].append(closed_loop(server, spec, FLOW_PEOPLE))
    scenario = f"whole flow x{FLOW_PEOPLE}, MusicAPI instant"
    vs_naive = within_rounds(runs["app"], runs["naive"])
    for kind, server in (("app", "app, cookies"), ("naive", "naive peer")):
        compared = f"{within_rounds(runs[kind], runs['bare']):.1%} of bare"
        if kind == "app":
            # Three decimals: a median of 1.499 must not read as the 1.50 it misses.
            compared = f"{vs_naive:.3f}x naive, {compared}"
        row = report.add(
            Row(
                WHOLE_FLOW,
                scenario,
                server,
                lost=str(sum(run["failures"] for run in runs[kind])),
                rate=f"{median([run['per_second'] for run in runs[kind]]):.0f} flows/s",
                compared=compared,
                note=round_note(runs[kind], "flow"),
            )
        )
        if kind == "app":
            row.check(f">= {THROUGHPUT_TARGET}x naive", vs_naive >= THROUGHPUT_TARGET)
    report.add(
        Row(
            WHOLE_FLOW,
            f"bare route x{FLOW_PEOPLE}, a request each",
            "bare route",
            rate=f"{median([run['per_second'] for run in runs['bare']]):.0f} req/s",
            note=round_note(runs["bare"], "request"),
        )
    )


def session_reads(
    report: Report, *, bare: Server, app: Server, app_redis: Server, redis: RedisServer, secret: str
) -> None:
    """/api/session of browsers with three accounts, on kept-alive connections, in both modes and on the bare route."""
    modes = (
        ("bare", bare, {"services": [], "path": "/"}),
        ("cookies", app, {"services": SESSION_SERVICES, "login_cookie": COOKIE_LOGIN}),
        ("redis", app_redis, {"services": SESSION_SERVICES, "login_cookie": REDIS_LOGIN}),
    )
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode, _, _ in modes}
    for _ in range(ROUNDS):
        for mode, server, extra in modes:
            spec = {"scenario": "session", "secret": secret, "duration": SESSION_SECONDS, **extra}
            runs[mode].append(closed_loop(server, spec, SESSION_PEOPLE))
    scenario = f"/api/session x{SESSION_PEOPLE}, {len(SESSION_SERVICES)} accounts"
    report.add(
        Row(
            SESSION,
            f"bare route x{SESSION_PEOPLE}, kept alive",
            "bare route",
            rate=f"{median([run['per_second'] for run in runs['bare']]):.0f} req/s",
            note=round_note(runs["bare"], "request"),
        )
    )
    for mode, server in (("cookies", "app, cookies"), ("redis", "app, Redis")):
        compared = f"{within_rounds(runs[mode], runs['bare']):.1%} of bare"
        if mode == "redis":
            compared += f", {within_rounds(runs['redis'], runs['cookies']):.2f}x cookies"
        report.add(
            Row(
                SESSION,
                scenario,
                server,
                rate=f"{median([run['per_second'] for run in runs[mode]]):.0f} req/s",
                compared=compared,
                note=round_note(runs[mode], "request"),
            )
        )
    trips = redis_round_trips(redis, app_redis.port, runs["redis"][-1]["probe_cookie"])
    row = report.add(
        Row(
            SESSION,
            "/api/session: Redis round trips",
            "app, Redis",
            rate=f"{trips:.2f} per request",
            note=f"redis MONITOR over {PROBE_REQUESTS} requests of one browser, one after another; "
            "a MULTI/EXEC block counts once, commands run inside a script not at all",
        )
    )
    row.check("one per request", trips <= 1.0)


def redis_round_trips(redis: RedisServer, port: int, cookie: str) -> float:
    """How many times the app waited for Redis per /api/session, as MONITOR lists the commands it sent."""

    def ask() -> None:
        for _ in range(PROBE_REQUESTS):
            response = requests.get(f"http://127.0.0.1:{port}/api/session", headers={"Cookie": cookie}, timeout=10)
            if response.status_code != 200:
                raise RuntimeError(f"/api/session answered {response.status_code} to the probe")

    return round_trips(redis.commands_during(ask)) / PROBE_REQUESTS


def fake_stats(musicapi_url: str) -> dict[str, int]:
    stats: dict[str, int] = requests.get(f"{musicapi_url}/_control/stats", timeout=10).json()
    return stats


def set_musicapi(musicapi_url: str, **settings: float) -> None:
    requests.post(f"{musicapi_url}/_control", json=settings, timeout=10).raise_for_status()


def burst(
    report: Report,
    server: Server,
    *,
    label: str,
    kind: str,
    login_cookie: str,
    secret: str,
    musicapi_url: str,
    users: int,
    latency: float,
    token_ttl: float,
) -> None:
    """``users`` browsers press Connect; then all their callbacks arrive within one second."""
    before = fake_stats(musicapi_url)
    watch = CpuWatch([server])
    result = loadgen(
        {"scenario": "callbacks", "port": server.port, "kind": kind, "secret": secret, "login_cookie": login_cookie,
         "users": users, "spread": BURST_SPREAD, "timeout": token_ttl + latency + 2, "pids": server.workers()}
    )  # fmt: skip
    cpu = watch.finish(result["client_cpu_seconds"])
    after = fake_stats(musicapi_url)
    callbacks = [
        {"started": started, "done": done, "status": status, "ok": bool(ok), "error": error}
        for started, done, status, ok, error in result["callbacks"]
    ]
    kept = sum(1 for callback in callbacks if callback["ok"])
    lost = users - kept
    # A callback never answered counts as infinitely slow: percentiles cannot hide it.
    latencies = [c["done"] - c["started"] if c["status"] else math.inf for c in callbacks]
    first = min(c["started"] for c in callbacks)
    drain = max(c["done"] for c in callbacks) - first
    answered = all(c["status"] for c in callbacks)
    p99 = percentile(latencies, 99)
    exchanges = ", ".join(f"{name} {after[name] - before[name]}" for name in ("ok", "expired", "replayed", "invalid"))
    note = (
        f"fired within {max(c['started'] for c in callbacks) - first:.2f} s after {result['prepare_seconds']:.1f} s "
        f"of landing + connect; {'all answered' if answered else 'not all answered'} within "
        f"{drain:.1f} s; outcomes {outcomes(callbacks)}; MusicAPI's answers: {exchanges}; "
        f"server CPU {result['fire_server_cpu_seconds'] / max(1, len(callbacks)) * 1000:.2f} ms per callback; "
        f"other processes {cpu['background_share']:.0%} of the machine"
    )
    if result["prepare_failures"]:
        note += f"; {result['prepare_failures']} never got past landing + connect"
    row = report.add(
        Row(
            BURST,
            f"burst {users} in {BURST_SPREAD:g} s, MusicAPI {latency:g} s, tokens {token_ttl:g} s",
            label,
            lost=f"{lost}/{users}",
            p50=seconds_text(percentile(latencies, 50)),
            p99=seconds_text(p99),
            rate=f"{kept / drain:.0f} logins/s" if drain else "",
            rss=rss_text(server),
            note=note,
        )
    )
    if kind == "app":
        row.check("0 lost", lost == 0)
        row.check(f"p99 < {BURST_P99_TARGET:g} s", p99 < BURST_P99_TARGET)


def outcomes(callbacks: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for callback in callbacks:
        key = "kept" if callback["ok"] else callback["error"] or str(callback["status"])
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items()))


def rss_text(server: Server) -> str:
    return " / ".join(f"{rss_mb(pid):.0f}" for pid in server.workers()) + " MB"


def soak(report: Report, app: Server, secret: str, seconds: float) -> None:
    """The whole flow for ``seconds`` at a steady load, the workers' RSS sampled every few seconds."""
    spec = {"scenario": "flow", "port": app.port, "kind": "app", "secret": secret,
            "concurrency": SOAK_PEOPLE, "duration": seconds, "warmup": 0.0, "timeout": 30.0}  # fmt: skip
    watch = CpuWatch([app])
    client = subprocess.Popen(
        [PYTHON, "-m", "bench.loadgen", json.dumps(spec)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    samples: list[tuple[float, list[float]]] = []
    began = time.monotonic()
    try:
        for _ in range(int(seconds / RSS_SAMPLE_EVERY) + 100):
            samples.append((time.monotonic() - began, [rss_mb(pid) for pid in app.workers()]))
            try:
                client.wait(RSS_SAMPLE_EVERY)
                break
            except subprocess.TimeoutExpired:
                continue
        output, errors = client.communicate(timeout=seconds + 60)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    if client.returncode != 0:
        raise RuntimeError(f"the load client failed:\n{errors[-3000:]}")
    result = json.loads(output)
    cpu = watch.finish(result["client_cpu_seconds"])
    # A worker keeps each finished login a while (a repeat of its callback gets the same answer), so
    # its memory rises until it forgets the first of them. Growth is judged after that, and after the
    # first quarter of the run (the allocator warming up): from the median of the first settled
    # samples to the median of the last ones, per worker.
    settled = [rss for at, rss in samples if at >= max(seconds / 4, FINISHED_KEPT + RSS_SAMPLE_EVERY)]
    judged = len(settled) >= 4
    window = settled if judged else [rss for _, rss in samples]
    quarter = max(1, len(window) // 4)
    growth = [
        median([sample[index] for sample in window[-quarter:]]) - median([sample[index] for sample in window[:quarter]])
        for index in range(min(len(sample) for sample in window))
    ]
    row = report.add(
        Row(
            SUSTAINED,
            f"sustained whole flow x{SOAK_PEOPLE}, {seconds:.0f} s",
            "app, cookies",
            lost=str(result["failed"] + result["errors"]),
            rate=f"{result['per_second']:.0f} flows/s",
            rss=rss_text(app),
            note=f"RSS growth per worker {', '.join(f'{g:+.1f} MB' for g in growth)} "
            f"({len(window)} of {len(samples)} samples); "
            f"server CPU {cpu['servers_cpu'] / max(1, result['all_ok']) * 1000:.2f} ms per flow; "
            f"other processes {cpu['background_share']:.0%} of the machine",
        )
    )
    if judged:
        allowed = max(2.0, 0.03 * max((max(sample) for _, sample in samples), default=0.0))
        row.check(f"RSS growth <= {allowed:.1f} MB", max(growth, default=0.0) <= allowed)
    else:
        row.note += f"; not judged: a worker forgets its first finished logins only after {FINISHED_KEPT} s"
