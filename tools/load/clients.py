#!/usr/bin/env python3
"""Clients of tools/bench-load (Python standard library only).

    clients.py verify    --port P --path /app.bin --file F --seconds S
        Beside wrk's load: whole-file, single-range and 50-range requests for S seconds on a
        keep-alive connection, every body compared byte for byte with the file (multipart
        bodies parsed part by part). Prints one line of JSON: checked, mismatches, latencies.

    clients.py slowloris --port P --path /app.bin --file F --idle N --trickle N --seconds S
        Opens N idle connections (connected, nothing sent) and N trickling ones (half a request
        head, then one more header byte every 2 s), and meanwhile times normal requests (a new
        connection each, one 64 KiB range, checked byte for byte) for S seconds; also before
        the slow connections, for comparison. Prints one line of JSON.
"""
import argparse
import http.client
import json
import mmap
import random
import resource
import socket
import sys
import time


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ms(values):
    return {k: round(percentile(values, p) * 1000, 2) for k, p in (("p50", 50), ("p99", 99), ("max", 100))} if values else {}


def multipart_parts(body, boundary):
    """[(start, end inclusive, data)] of a multipart/byteranges body."""
    parts = []
    delimiter = b"\r\n--" + boundary
    position = 0
    while True:
        at = body.find(delimiter, position)
        if at < 0:
            raise ValueError("no closing boundary")
        after = at + len(delimiter)
        if body[after:after + 2] == b"--":
            return parts
        head_end = body.find(b"\r\n\r\n", after)
        head = body[after:head_end].decode("latin-1")
        line = next(l for l in head.split("\r\n") if l.lower().startswith("content-range:"))
        span = line.split("bytes", 1)[1].strip().split("/")[0]
        start, end = (int(x) for x in span.split("-"))
        data = body[head_end + 4:head_end + 4 + end - start + 1]
        parts.append((start, end, data))
        position = head_end + 4 + end - start + 1


def verify(args):
    rng = random.Random(args.seed)
    with open(args.file, "rb") as f:
        file = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    size = len(file)
    checked = mismatches = 0
    first = ""
    latencies = []
    connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        kind = rng.random()
        headers = {}
        if kind < 0.1:
            expected = [(0, size - 1)]
        elif kind < 0.55:
            length = rng.randint(1, 262144)
            start = rng.randint(0, size - length)
            expected = [(start, start + length - 1)]
            headers["Range"] = f"bytes={start}-{start + length - 1}"
        else:
            slot = size // 50
            expected = []
            for i in range(50):
                length = rng.randint(1, min(16384, slot))
                start = i * slot + rng.randint(0, slot - length)
                expected.append((start, start + length - 1))
            headers["Range"] = "bytes=" + ",".join(f"{a}-{b}" for a, b in expected)
        began = time.monotonic()
        try:
            connection.request("GET", args.path, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            mismatches += 1
            first = first or f"request failed: {error}"
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
            continue
        latencies.append(time.monotonic() - began)
        checked += 1
        try:
            if len(expected) == 1 and "Range" not in headers:
                ok = response.status == 200 and body == file[:]
            elif len(expected) == 1:
                a, b = expected[0]
                ok = response.status == 206 and body == file[a:b + 1] \
                    and response.getheader("Content-Range") == f"bytes {a}-{b}/{size}"
            else:
                boundary = response.getheader("Content-Type").split("boundary=")[1].encode()
                parts = multipart_parts(body, boundary)
                ok = response.status == 206 and [(a, b) for a, b, _ in parts] == expected \
                    and all(data == file[a:b + 1] for a, b, data in parts)
        except (ValueError, IndexError, AttributeError, StopIteration) as error:
            ok = False
            first = first or f"unparseable answer: {error}"
        if not ok:
            mismatches += 1
            first = first or f"{response.status} for {headers.get('Range', 'the whole file')[:80]}"
    print(json.dumps({"checked": checked, "mismatches": mismatches, "first_mismatch": first, "latency_ms": ms(latencies)}))
    return 0 if mismatches == 0 and checked > 0 else 1


def normal_requests(args, file, seconds, rng):
    """A new connection per request, one 64 KiB range, for `seconds`: latencies, failures."""
    size = len(file)
    latencies, failures = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = rng.randint(0, size - 65536)
        began = time.monotonic()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
            connection.request("GET", args.path, headers={"Range": f"bytes={start}-{start + 65535}"})
            response = connection.getresponse()
            body = response.read()
            connection.close()
            ok = response.status == 206 and body == file[start:start + 65536]
        except (OSError, http.client.HTTPException):
            ok = False
        if ok:
            latencies.append(time.monotonic() - began)
        else:
            failures += 1
        time.sleep(0.02)
    return latencies, failures


def slowloris(args):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.idle + args.trickle + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    rng = random.Random(args.seed)
    with open(args.file, "rb") as f:
        file = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    before, before_failures = normal_requests(args, file, args.baseline_seconds, rng)
    idle, trickling = [], []
    opened_at = time.monotonic()
    for i in range(args.idle + args.trickle):
        s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
        if i < args.trickle:
            s.sendall(f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode())
            trickling.append(s)
        else:
            idle.append(s)
    open_seconds = time.monotonic() - opened_at
    # Trickle from a second thread of control: interleave with the normal requests by time.
    import threading
    stop = threading.Event()

    def trickle():
        while not stop.wait(2):
            for s in trickling:
                try:
                    s.send(b"a")
                except OSError:
                    pass

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    during, during_failures = normal_requests(args, file, args.seconds, rng)
    stop.set()
    thread.join()

    def still_open(sockets):
        count = 0
        for s in sockets:
            s.setblocking(False)
            try:
                count += s.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                count += 1
            except OSError:
                pass
        return count

    result = {
        "idle": args.idle, "trickling": args.trickle, "opened_in_s": round(open_seconds, 2),
        "before": {"requests": len(before), "failures": before_failures, "latency_ms": ms(before)},
        "during": {"requests": len(during), "failures": during_failures, "latency_ms": ms(during)},
        "still_open": {"idle": still_open(idle), "trickling": still_open(trickling)},
    }
    for s in idle + trickling:
        s.close()
    print(json.dumps(result))
    return 0 if during and during_failures == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("verify", "slowloris"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--path", default="/app.bin")
        p.add_argument("--file", required=True)
        p.add_argument("--seconds", type=float, default=60)
        p.add_argument("--seed", type=int, default=18)
    sub.choices["slowloris"].add_argument("--idle", type=int, default=500)
    sub.choices["slowloris"].add_argument("--trickle", type=int, default=500)
    sub.choices["slowloris"].add_argument("--baseline-seconds", type=float, default=5)
    args = ap.parse_args()
    return verify(args) if args.command == "verify" else slowloris(args)


if __name__ == "__main__":
    sys.exit(main())
