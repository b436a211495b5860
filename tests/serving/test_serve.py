"""``digitgan serve``: the API draws what ``digitgan sample`` and ``interpolate`` draw, byte
for byte; bad input is a one-line 422; bodies, header floods and overload are bounded; the
server binds loopback unless told otherwise; a damaged run fails at start."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from live_server import live_server
from PIL import Image
from procs import run_cli

from digitgan.cli.main import main
from digitgan.serving.app import create_app
from digitgan.serving.limits import MAX_DIGITS_PER_REQUEST
from digitgan.serving.loaded import load_runs


@pytest.fixture(scope="module")
def runs(preset_runs):
    """An unconditional MLP run (seed), a conditional MLP run (cgan), a conditional conv run."""
    return {name: preset_runs[name] for name in ("seed", "cgan", "cdcgan")}


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app(load_runs(list(runs.values())))) as c:
        yield c


def name(run_dir) -> str:
    return run_dir.name


SAME_AS_SAMPLE = {
    "conditional, one digit": (
        "cdcgan",
        {"digit": 7, "n": 12, "seed": 5},
        ["--digit", "7", "--n", "12", "--seed", "5"],
    ),
    "conditional, per digit": (
        "cgan",
        {"per_digit": "true", "n": 3, "seed": 2},
        ["--per-digit", "--n", "3", "--seed", "2"],
    ),
    "conditional, balanced": ("cgan", {"n": 20, "seed": 9}, ["--n", "20", "--seed", "9"]),
    "unconditional": ("seed", {"n": 64, "seed": 123}, ["--n", "64", "--seed", "123"]),
}


@pytest.mark.parametrize("case", SAME_AS_SAMPLE)
def test_generate_gives_the_bytes_of_digitgan_sample(case, client, runs, tmp_path):
    preset, query, flags = SAME_AS_SAMPLE[case]
    response = client.get("/api/generate", params={"run": name(runs[preset]), **query})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    out = tmp_path / "cli.png"
    assert main(["sample", str(runs[preset]), *flags, "--out", str(out)]) == 0
    assert response.content == out.read_bytes()
    assert Image.open(io.BytesIO(response.content)).mode == "L"  # one channel


def test_json_holds_each_digit_of_the_grid(client, runs, tmp_path):
    query = {"run": name(runs["cdcgan"]), "digit": 4, "n": 6, "seed": 11}
    grid = np.array(Image.open(io.BytesIO(client.get("/api/generate", params=query).content)))
    body = client.get("/api/generate", params={**query, "format": "json"}).json()
    assert body["seed"] == 11 and [d["index"] for d in body["images"]] == list(range(6))
    assert all(d["digit"] == 4 and d["seed"] == 11 for d in body["images"])
    for i, d in enumerate(body["images"]):
        digit = np.array(Image.open(io.BytesIO(base64.b64decode(d["png"]))))
        row, col = divmod(i, 3)  # 6 digits: a 3-column grid, 2 px padding
        assert np.array_equal(digit, grid[2 + 30 * row : 30 + 30 * row, 2 + 30 * col : 30 + 30 * col])


@pytest.mark.parametrize("kind", ["seeds", "digits"])
def test_interpolate_gives_the_bytes_of_digitgan_interpolate(kind, client, runs, tmp_path):
    run = runs["cgan"]
    out = tmp_path / "walk.png"
    pair = ["3", "8"]
    assert (
        main(["interpolate", str(run), f"--{kind}", *pair, "--steps", "7", "--seed", "4", "--out", str(out)])
        == 0
    )
    for fmt, path in (("png", out), ("gif", out.with_suffix(".gif"))):
        query = {"run": name(run), kind: ",".join(pair), "steps": 7, "seed": 4, "format": fmt}
        response = client.get("/api/interpolate", params=query)
        assert response.status_code == 200 and response.headers["content-type"] == f"image/{fmt}"
        assert response.content == path.read_bytes()


BAD = {
    "digit 10": ("/api/generate", {"digit": 10}, "digit"),
    "n 0": ("/api/generate", {"n": 0}, "n:"),
    "n too many": ("/api/generate", {"n": MAX_DIGITS_PER_REQUEST + 1}, "n:"),
    "per digit too many": ("/api/generate", {"per_digit": "true", "n": 26}, "at most 25"),
    "digit and per digit": ("/api/generate", {"per_digit": "true", "digit": 1}, "not both"),
    "seed not a number": ("/api/generate", {"seed": "1.5"}, "seed:"),
    "seed too large": ("/api/generate", {"seed": 2**31}, "seed:"),
    "digit on an unconditional run": ("/api/generate", {"run": "seed", "digit": 3}, "unconditional"),
    "unknown run": ("/api/generate", {"run": "../../etc/passwd"}, "00002-cgan"),
    "no run": ("/api/generate", {"run": None}, "run:"),
    "unknown format": ("/api/generate", {"format": "jpeg"}, "format:"),
    "steps 33": ("/api/interpolate", {"seeds": "1,2", "steps": 33}, "steps:"),
    "seeds malformed": ("/api/interpolate", {"seeds": "1,x"}, "such as 3,8"),
    "digits 12": ("/api/interpolate", {"digits": "1,12"}, "between 0 and 9"),
    "no walk": ("/api/interpolate", {}, "seeds=A,B"),
    "digits on an unconditional run": ("/api/interpolate", {"run": "seed", "digits": "1,2"}, "unconditional"),
    "handwrite on a GAN run": ("/api/handwrite", {"text": "12"}, "cyclegan"),
    "handwrite, text too long": ("/api/handwrite", {"text": "1" * 41}, "text:"),
    # whole numbers in ASCII digits alone, as the CLI takes them (pydantic alone takes all these)
    "digit 3.0": (
        "/api/generate",
        {"digit": "3.0"},
        "digit: expected a whole number written with the digits 0-9",
    ),
    "digit +3": ("/api/generate", {"digit": "+3"}, "digit: expected a whole number"),
    "n 1_0": ("/api/generate", {"n": "1_0"}, "n: expected a whole number"),
    "seed in Arabic-Indic digits": ("/api/generate", {"seed": "\u0663"}, "seed: expected a whole number"),
    "steps in full-width digits": ("/api/interpolate", {"seeds": "1,2", "steps": "\uff15"}, "steps:"),
    "seeds in Arabic-Indic digits": ("/api/interpolate", {"seeds": "\u0663,1"}, "such as 3,8"),
    "seed given twice": ("/api/generate", [("seed", "1"), ("seed", "2")], "seed: given more than once"),
    "digit given twice": ("/api/generate", [("digit", "1"), ("digit", "1")], "digit: given more than once"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_one_line_422(case, client, runs):
    path, query, words = BAD[case]
    if isinstance(query, list):  # a parameter given twice
        params = [("run", name(runs["cgan"])), *query]
    else:
        query = {"run": name(runs["cgan"]), **query}
        if query["run"] == "seed":
            query["run"] = name(runs["seed"])
        params = {k: v for k, v in query.items() if v is not None}
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and words in detail, detail


def test_runs_list_presets_and_evaluation(client, runs, tmp_path):
    listed = {r["name"]: r for r in client.get("/api/runs").json()}
    assert listed[name(runs["cgan"])]["conditional"] and not listed[name(runs["seed"])]["conditional"]
    assert listed[name(runs["cdcgan"])]["preset"] == "cdcgan" and listed[name(runs["seed"])]["epochs"] == 1
    assert all(r["evaluation"] is None for r in listed.values())  # none evaluated yet
    report = {"n": 100, "metrics": {"fid": 50.0, "is": 5.0}, "real_floor": {"fid": 2.0, "is": 9.8}}
    copy = tmp_path / name(runs["seed"])
    shutil.copytree(runs["seed"], copy)
    (copy / "metrics.json").write_text(json.dumps(report))
    with TestClient(create_app(load_runs([copy]))) as c:
        assert c.get("/api/runs").json()[0]["evaluation"] == report


def test_page_and_docs_need_no_other_server(client):
    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/app.js", "/style.css"):
        assert client.get(asset).status_code == 200 and f'"{asset}"' in page.text
    assert "http" not in page.text.replace('href="/docs"', "")  # nothing from another origin
    docs = client.get("/docs").text
    assert "/docs/swagger-ui-bundle.js" in docs and "cdn" not in docs
    assert client.get("/docs/swagger-ui-bundle.js").status_code == 200
    assert set(client.get("/openapi.json").json()["paths"]) == {
        "/api/runs",
        "/api/generate",
        "/api/interpolate",
        "/api/handwrite",
    }


def test_a_request_body_is_refused_unread(client, runs):
    response = client.request("GET", "/api/runs", content=b"x" * 1000)
    assert response.status_code == 413 and "query string" in response.json()["detail"]
    assert client.post("/api/generate", content=b"{}").status_code == 413


@pytest.mark.parametrize("damage", ["truncate", "missing"])
def test_a_damaged_run_fails_at_start(damage, runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["cgan"], run)
    weights = run / "checkpoints" / "G_ema.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:500])
    else:
        shutil.rmtree(run / "checkpoints")
    result = run_cli("serve", str(runs["seed"]), str(run), "--port", "0")
    err = result.stderr.strip()
    assert result.returncode == 2 and len(err.splitlines()) == 1 and "run" in err, result


def test_a_taken_port_is_a_one_line_error(runs):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = run_cli("serve", str(runs["seed"]), "--port", str(taken.getsockname()[1]))
    assert result.returncode == 2 and "choose another --port" in result.stderr, result


def read_until_closed(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_live_server_binds_loopback_and_answers_floods(runs):
    """Header floods get 431 and a 10 MB request line 414, read by the client as answers
    (the server drains what is still coming instead of resetting), and it still serves."""
    with live_server(str(runs["seed"])) as (proc, url):
        assert url.startswith("http://127.0.0.1:")
        host, port = url.removeprefix("http://").split(":")
        for size in (40, 400):  # 40 KiB arrive in one read (the app's check), 400 KiB in many (h11's)
            flooded = httpx.get(f"{url}/api/runs", headers={f"x-{i}": "y" * 1000 for i in range(size)})
            assert flooded.status_code == 431, size
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"GET /api/runs?q=" + b"a" * 10_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 414 ") and b"request line over 16 KiB" in answer
        assert httpx.get(f"{url}/api/runs").status_code == 200


def test_slow_loris_clients_cannot_lock_out_real_requests(runs):
    """Idle and half-sent connections, more than --limit-concurrency and more than
    --max-connections: real requests get 200 throughout (idle sockets hold no work places,
    and the oldest idle one makes room for a newcomer); after the head timeout every
    loris connection is closed, a half-sent head with 408."""
    from digitgan.serving.limits import HEAD_TIMEOUT

    seed = runs["seed"].name
    with live_server(str(runs["seed"]), "--limit-concurrency", "2", "--max-connections", "24") as (_, url):
        host, port = url.removeprefix("http://").split(":")
        idle = [socket.create_connection((host, int(port))) for _ in range(15)]
        half = [socket.create_connection((host, int(port))) for _ in range(15)]
        for sock in half:
            sock.sendall(b"GET /api/runs HTTP/1.1\r\nHost: x\r\n")  # no blank line: never complete
        time.sleep(0.2)
        statuses = [
            httpx.get(f"{url}/api/generate", params={"run": seed, "n": 4}).status_code for _ in range(8)
        ]
        assert statuses == [200] * 8
        start = time.monotonic()
        answers = [read_until_closed(sock, HEAD_TIMEOUT + 5) for sock in idle + half]
        assert time.monotonic() - start < HEAD_TIMEOUT + 5
        assert answers[:15] == [b""] * 15  # the idle ones: closed without a word
        late = [a for a in answers[15:] if a]  # the half-sent ones still open got 408
        assert late and all(a.startswith(b"HTTP/1.1 408 ") for a in late)
        for sock in idle + half:
            sock.close()
        assert httpx.get(f"{url}/api/runs").status_code == 200


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc (Linux)")
def test_a_burst_is_answered_in_bounded_memory(runs):
    """200 requests for 256 digits each, 40 at a time: all answered, and the server's memory
    after the burst within 200 MB of before (it grew by 340-390 MB when each of AnyIO's 40
    threads kept a malloc arena of digits; 35 MB with the drawing on as many threads as
    torch has, 2-core AMD EPYC)."""
    import asyncio

    async def burst(url: str) -> list[int]:
        params = [{"run": runs["seed"].name, "n": 256, "seed": i} for i in range(200)]
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=40)) as client:
            answers = await asyncio.gather(*(client.get(f"{url}/api/generate", params=p) for p in params))
        return [a.status_code for a in answers]

    with live_server(str(runs["seed"])) as (proc, url):
        before = rss_mb(proc.pid)
        assert asyncio.run(burst(url)) == [200] * 200
        assert rss_mb(proc.pid) - before < 200


def test_requests_over_the_limit_get_503_and_one_log_line(caplog):
    """With 2 requests in flight, the other 28 of a burst are answered 503 at once, and the
    refusals are one warning, not 28."""
    import asyncio

    from digitgan.serving.http_guards import RequestLimit

    async def slow_app(scope, receive, send):
        await asyncio.sleep(0.2)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=RequestLimit(slow_app, limit=2))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [r.status_code for r in await asyncio.gather(*(client.get("/") for _ in range(30)))]

    with caplog.at_level("WARNING", logger="uvicorn.error"):
        statuses = asyncio.run(burst())
    assert sorted(statuses) == [200] * 2 + [503] * 28
    warnings = [r.getMessage() for r in caplog.records if "answered 503" in r.getMessage()]
    assert len(warnings) == 1 and "over the limit of 2 in flight" in warnings[0], warnings


def test_another_host_is_announced(runs):
    with live_server(str(runs["seed"]), "--host", "0.0.0.0") as (proc, url):
        assert url.startswith("http://0.0.0.0:")
        assert any(
            "reachable from other machines" in line for line in proc.first_lines + [proc.stdout.readline()]
        )


def test_accepted_connections_answer_without_nagle_delay():
    """The listening socket says it is TCP, so asyncio sets TCP_NODELAY on each accepted
    connection; without it a keep-alive client waited 40 ms per answer (Nagle + delayed ACK)."""
    import asyncio

    from digitgan.serving.app import bind

    sock = bind("127.0.0.1", 0)

    async def nodelay_of_accepted() -> int:
        loop = asyncio.get_running_loop()
        seen = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport):
                seen.set_result(
                    transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                )

        server = await loop.create_server(Probe, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(nodelay_of_accepted()) != 0
