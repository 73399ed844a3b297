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


class CommandFailed(SystemExit):
    """A measured command exited non-zero (uncaught, it ends the script with the message)."""

    def __init__(self, argv, returncode, stderr):
        self.argv, self.returncode, self.stderr = argv, returncode, stderr
        super().__init__(f"benchmark command failed ({returncode}): {' '.join(argv)}\n{stderr}")

    def short(self):
        lines = [l for l in self.stderr.strip().splitlines() if l.strip() and "Command exited with" not in l]
        return f"{os.path.basename(self.argv[0])} exited {self.returncode}" + (f": {lines[-1][:160]}" if lines else "")


def measure(argv, cwd=None, stdout=None, env=None):
    """Runs argv (stdout discarded, or written to the path `stdout`); returns dict(wall, cpu, rss_kib).

    GNU time forks the command from its own small process, so the peak RSS is the command's
    own (a child forked from Python would inherit Python's high-water mark). Raises
    CommandFailed when the command fails."""
    if not os.path.exists(GNU_TIME):
        raise SystemExit("tools/bench-*: needs GNU time (apt-get install time)")
    report = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"blockyard-bench-time-{os.getpid()}")
    out = open(stdout, "wb") if stdout else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        proc = subprocess.run([GNU_TIME, "-f", "%U %S %M", "-o", report] + list(argv), cwd=cwd, env=env,
                              stdout=out, stderr=subprocess.PIPE)
        wall = time.perf_counter() - start
    finally:
        if stdout:
            out.close()
    if proc.returncode != 0:
        raise CommandFailed(list(argv), proc.returncode, proc.stderr.decode(errors="replace"))
    with open(report) as f:
        user, system, rss = f.read().split()[-3:]
    os.unlink(report)
    return {"wall": wall, "cpu": float(user) + float(system), "rss_kib": int(rss)}


def run_interleaved(commands, runs, before=None, after=None):
    """commands: {label: argv or callable(run) -> argv}. Returns {label: [results…]}, runs
    interleaved. before/after(label, run) are called around each measured run (not timed)."""
    results = {label: [] for label in commands}
    for run in range(runs):
        for label, argv in commands.items():
            if before:
                before(label, run)
            results[label].append(measure(argv(run) if callable(argv) else argv))
            if after:
                after(label, run)
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


def hash_commands(by, path):
    """The hash-limit peers and `blockyard hash`, as in tools/bench-hash."""
    return {
        "openssl dgst -sha512": ["openssl", "dgst", "-sha512", path],
        "openssl dgst -sha256": ["openssl", "dgst", "-sha256", path],
        "sha256sum": ["sha256sum", path],
        "blockyard hash (both)": [by, "hash", path],
    }


def blockmap_commands(by, path, outdir=None):
    """`blockyard blockmap` in both generations, as in tools/bench-blockmap."""
    base = os.path.join(outdir, os.path.basename(path)) if outdir else path
    return {
        "blockyard blockmap": [by, "blockmap", "--input", path, "--output", base + ".blockmap"],
        "blockyard blockmap --compat app-builder": [by, "blockmap", "--input", path, "--output",
                                                    base + ".ab.blockmap", "--compat", "app-builder"],
    }


HASH_LIMIT = "openssl dgst -sha512"


def throughput_rows(results, size, baseline=HASH_LIMIT, prefix=()):
    """Rows [*prefix, label, wall s, MB/s, CPU s, peak RSS MiB, throughput / baseline]."""
    base = median(results[baseline], "wall")
    rows = []
    for label, rs in results.items():
        wall = median(rs, "wall")
        rows.append(list(prefix) + [label, f"{wall:.2f}", f"{size / wall / 1e6:.0f}", f"{median(rs, 'cpu'):.2f}",
                                    f"{median(rs, 'rss_kib') / 1024:.0f}", f"{base / wall:.2f}"])
    return rows


THROUGHPUT_HEADERS = ["command", "wall s", "MB/s", "CPU s", "peak RSS MiB", "throughput / openssl-sha512"]


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
