"""Shared helpers for Blockyard's side-by-side benchmark scripts (tools/bench-*).

Each measured command runs as its own process; wall time, user+system CPU and peak RSS come
from wait4(2) for exactly that process. Peers are interleaved run by run so that load from
other processes hits all of them alike, and medians are reported.
"""
import os
import platform
import random
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_size(text):
    units = {"k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}
    t = text.strip().lower()
    for suffix in sorted(units, key=len, reverse=True):
        if t.endswith(suffix):
            return int(float(t[: -len(suffix)]) * units[suffix])
    return int(t)


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def build_blockyard():
    """Release build of the CLI; returns the binary path ($BLOCKYARD_BIN overrides)."""
    if os.environ.get("BLOCKYARD_BIN"):
        return os.environ["BLOCKYARD_BIN"]
    subprocess.run(["swift", "build", "-c", "release", "--product", "blockyard"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    bindir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.strip()
    return os.path.join(bindir, "blockyard")


def make_file(path, size, seed=1):
    """Deterministic pseudo-random file of `size` bytes (reused if already there)."""
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    rng = random.Random(seed)
    with open(path + ".tmp", "wb") as f:
        left = size
        while left:
            n = min(left, 4 << 20)
            f.write(rng.randbytes(n))
            left -= n
    os.replace(path + ".tmp", path)
    return path


def warm(path):
    """Reads the file once so every measured run starts with it in the page cache."""
    with open(path, "rb") as f:
        while f.read(4 << 20):
            pass


GNU_TIME = "/usr/bin/time"


def measure(argv):
    """Runs argv with stdout discarded; returns dict(wall, cpu, rss_kib).

    GNU time forks the command from its own small process, so the peak RSS is the command's
    own (a child forked from Python would inherit Python's high-water mark)."""
    if not os.path.exists(GNU_TIME):
        raise SystemExit("tools/bench-*: needs GNU time (apt-get install time)")
    report = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"blockyard-bench-time-{os.getpid()}")
    start = time.perf_counter()
    proc = subprocess.run([GNU_TIME, "-f", "%U %S %M", "-o", report] + argv,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.decode(errors='replace')}")
    with open(report) as f:
        user, system, rss = f.read().split()[-3:]
    os.unlink(report)
    return {"wall": wall, "cpu": float(user) + float(system), "rss_kib": int(rss)}


def run_interleaved(commands, runs):
    """commands: {label: argv}. Returns {label: [results…]}, runs interleaved."""
    results = {label: [] for label in commands}
    for _ in range(runs):
        for label, argv in commands.items():
            results[label].append(measure(argv))
    return results


def median(results, key):
    return statistics.median(r[key] for r in results)


def machine():
    cpu = "unknown CPU"
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == "unknown CPU":
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    interesting = [f for f in ("sha_ni", "avx2", "avx512f", "avx512vl") if f in flags]
    load = os.getloadavg()[0]
    return f"{cpu}, {os.cpu_count()} cores ({', '.join(interesting) or 'no SHA-NI/AVX flags'}), " \
           f"{platform.system()} {platform.release()}, load {load:.2f} at start"


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
