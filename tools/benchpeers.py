"""Delta-transfer peers for tools/bench: a private nginx on 127.0.0.1 and one function per tool.

Every client that downloads does so over HTTP from the same nginx, whose access log (a custom
format with $bytes_sent = headers + body, $body_bytes_sent = body) is the single source of
truth for bytes on the wire and the number of requests. Blockyard's and electron-updater's
plans are replayed against the same server exactly as each client batches its range
requests, so every row of the delta table is counted the same way.

Each peer function returns a dict:
    payload    body bytes of the data requests (the delta itself)
    index      body bytes of the metadata the client fetches first (.zsync, .caibx, zck header,
               .blockmap), 0 when there is none
    wire       every byte nginx sent for this update (headers + bodies, index included)
    requests   HTTP requests (index included)
    client     {wall, cpu, rss_kib} of the client process(es), or None
    note       a short remark for the report
or raises PeerFailed(reason), which the report prints as "not measured: <reason>".
"""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time

import benchlib as b


class PeerFailed(Exception):
    pass


def _chmod_readable(path):
    """nginx workers run as `nobody` when started by root: make the served tree traversable."""
    p = os.path.abspath(path)
    while p and p != "/":
        try:
            mode = os.stat(p).st_mode
            if not mode & 0o001:
                return False
        except OSError:
            return False
        p = os.path.dirname(p)
    return True


class Nginx:
    """nginx serving `root` on 127.0.0.1:<free port>, with its own prefix, pid and logs."""

    LOG_RE = re.compile(r'^(\S+) "([^"]*)" (\d+) (\d+) (\d+) "([^"]*)"$')

    def __init__(self, workdir, root):
        self.prefix = os.path.join(workdir, "nginx")
        self.root = os.path.abspath(root)
        for d in ("logs", "tmp"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        self.log = os.path.join(self.prefix, "logs", "access.log")
        self.proc = None
        self.port = None

    def start(self):
        last = ""
        for _ in range(5):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            self._write_conf()
            self.proc = subprocess.Popen(["nginx", "-p", self.prefix, "-c", os.path.join(self.prefix, "nginx.conf")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        return self
                except OSError:
                    time.sleep(0.05)
            last = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else "no answer"
            self.stop()
        raise PeerFailed(f"nginx did not start: {last.strip()[:200]}")

    def _write_conf(self):
        user = "" if os.geteuid() != 0 or _chmod_readable(self.root) else "user root root;\n"
        tmp = os.path.join(self.prefix, "tmp")
        conf = f"""daemon off;
master_process on;
worker_processes 1;
{user}pid {self.prefix}/nginx.pid;
error_log {self.prefix}/logs/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log off;
  log_format bench '$request_method "$uri" $status $bytes_sent $body_bytes_sent "$http_range"';
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  # electron-updater's multi-range headers exceed nginx's 8 KB default (spec: allow >= 16 KB).
  large_client_header_buffers 4 64k;
  sendfile on;
  keepalive_requests 100000;
  types {{ }}
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{self.port};
    root {self.root};
    access_log {self.log} bench;
  }}
}}
"""
        with open(os.path.join(self.prefix, "nginx.conf"), "w") as f:
            f.write(conf)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def url(self, path):
        rel = os.path.relpath(os.path.abspath(path), self.root)
        if rel.startswith(".."):
            raise ValueError(f"{path} is not under {self.root}")
        return f"http://127.0.0.1:{self.port}/{rel}"

    def mark(self):
        return os.path.getsize(self.log) if os.path.exists(self.log) else 0

    def entries(self, since):
        """Access-log entries written after mark `since`: dicts method, uri, status, sent, body, range."""
        time.sleep(0.05)  # nginx writes the log line when the response completes
        out = []
        if not os.path.exists(self.log):
            return out
        with open(self.log) as f:
            f.seek(since)
            for line in f:
                m = self.LOG_RE.match(line.strip())
                if m:
                    out.append({"method": m[1], "uri": m[2], "status": int(m[3]), "sent": int(m[4]),
                                "body": int(m[5]), "range": m[6]})
        return out


def summarize(entries, is_index):
    """Splits log entries into index and payload; returns (payload, index, wire, requests)."""
    payload = index = wire = 0
    for e in entries:
        if e["status"] >= 400:
            raise PeerFailed(f"nginx answered {e['status']} to {e['uri']}")
        wire += e["sent"]
        if is_index(e):
            index += e["body"]
        else:
            payload += e["body"]
    return payload, index, wire, len(entries)


def same_file(a, b_):
    """Byte-for-byte equality (cmp(1): much faster than filecmp's 8 KiB reads on GiB files)."""
    if os.path.getsize(a) != os.path.getsize(b_):
        return False
    return subprocess.run(["cmp", "-s", a, b_]).returncode == 0


def _rm(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def _publish(nginx, new, www, name):
    """Makes `new` servable as www/name (a symlink; nginx follows it)."""
    dest = os.path.join(www, name)
    _rm(dest)
    os.symlink(os.path.abspath(new), dest)
    return dest


# ----------------------------------------------------------------------------- zsync

def zsync(old, new, www, client_dir, nginx, name):
    """zsyncmake on the new file, then `zsync -i OLD` against http://…/NAME.zsync."""
    published = _publish(nginx, new, www, name)
    control = published + ".zsync"
    try:
        publish = b.measure(["zsyncmake", "-o", control, "-u", name, published])
    except b.CommandFailed as e:
        raise PeerFailed(e.short())
    out = os.path.join(client_dir, "zsync.out")
    _rm(out)
    mark = nginx.mark()
    try:
        client = b.measure(["zsync", "-q", "-i", old, "-o", out, nginx.url(control)], cwd=client_dir)
    except b.CommandFailed as e:
        raise PeerFailed(e.short())
    entries = nginx.entries(mark)
    if not same_file(out, new):
        raise PeerFailed("zsync output differs from the new file")
    _rm(out)
    _rm(out + ".zs-old")
    payload, index, wire, requests = summarize(entries, lambda e: e["uri"].endswith(".zsync"))
    blocksize = _zsync_blocksize(control)
    return {"payload": payload, "index": index, "wire": wire, "requests": requests, "client": client,
            "publish": publish, "note": f"block size {blocksize}" if blocksize else ""}


def _zsync_blocksize(control):
    with open(control, "rb") as f:
        for raw in f:
            if not raw.strip():
                break
            if raw.startswith(b"Blocksize:"):
                return int(raw.split(b":")[1])
    return None


# ----------------------------------------------------------------------------- casync

def casync_scratch(size_hint):
    """casync keeps one file per chunk in its store and one directory + symlink per chunk in
    its seed cache ($TMPDIR, else /var/tmp). Those go on tmpfs when there is room, so that the
    filesystem's metadata speed is not what is measured. Returns (directory, on_tmpfs)."""
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
        if st.f_bavail * st.f_frsize > 3 * size_hint + (1 << 30):
            path = os.path.join(shm, f"blockyard-bench-casync-{os.getpid()}")
            os.makedirs(path, exist_ok=True)
            os.chmod(path, 0o755)
            return path, True
    except OSError:
        pass
    return None, False


def casync(old, new, www, client_dir, nginx, name, scratch=None):
    """`casync make` of the new file into a chunk store served by nginx, then `casync extract
    --seed=OLD` from http://…/castore; chunks fetched are counted in nginx's log. With
    `scratch` (a tmpfs directory) the store and casync's seed cache live there."""
    link = os.path.join(www, "castore")
    if scratch:
        store = os.path.join(scratch, "castore")
        tmp = os.path.join(scratch, "tmp")
        os.makedirs(tmp, exist_ok=True)
        _rm(link)
        os.symlink(store, link)
        env = dict(os.environ, TMPDIR=tmp)
    else:
        store, env = link, None
    os.makedirs(store, exist_ok=True)
    index = os.path.join(www, name + ".caibx")
    try:
        publish = b.measure(["casync", "make", f"--store={store}", index, new], env=env)
        out = os.path.join(client_dir, "casync.out")
        _rm(out)
        mark = nginx.mark()
        try:
            client = b.measure(["casync", "extract", f"--store={nginx.url(link)}", f"--seed={old}",
                                nginx.url(index), out], cwd=client_dir, env=env)
        except b.CommandFailed as e:
            raise PeerFailed(e.short())
        entries = nginx.entries(mark)
        if not same_file(out, new):
            raise PeerFailed("casync output differs from the new file")
        _rm(out)
    except b.CommandFailed as e:
        raise PeerFailed(e.short())
    finally:
        _rm(store)
        _rm(link)
    payload, idx, wire, requests = summarize(entries, lambda e: e["uri"].endswith(".caibx"))
    return {"payload": payload, "index": idx, "wire": wire, "requests": requests, "client": client,
            "publish": publish, "note": "64 KiB average chunks, one GET per chunk"}


# ----------------------------------------------------------------------------- zchunk

ZCK_FLAGS = ["--compression-format=none"]


def zck_make(src, dest):
    try:
        return b.measure(["zck"] + ZCK_FLAGS + ["-o", dest, src])
    except b.CommandFailed as e:
        raise PeerFailed(e.short())


DELTA_SIZE_RE = re.compile(r"Would download (\d+) of (\d+) bytes")


def zchunk(old_zck, new, www, client_dir, nginx, name, http=False):
    """`zck` of the new file; then `zck_delta_size OLD.zck NEW.zck` (default: the bytes zckdl
    would fetch — lead, header and missing chunks — computed from the two headers), or with
    http=True a real `zckdl -s OLD.zck` from http://…/NAME.zck counted in nginx's log.
    zchunk's client needs the old version as a .zck (`old_zck`, made once by the caller)."""
    published = os.path.join(www, name + ".zck")
    publish = zck_make(new, published)
    if not http:
        try:
            proc = subprocess.run(["zck_delta_size", old_zck, published], capture_output=True, text=True)
        finally:
            pass
        m = DELTA_SIZE_RE.search(proc.stdout + proc.stderr)
        if proc.returncode != 0 or not m:
            raise PeerFailed(f"zck_delta_size: {(proc.stderr or proc.stdout).strip()[:160]}")
        header = _zck_header_size(published)
        total = int(m.group(1))
        _rm(published)
        return {"payload": total - header, "index": header, "wire": total, "requests": None, "client": None,
                "publish": publish, "note": "zck_delta_size: bytes only (lead + header + missing chunks), "
                                            "no HTTP headers; uncompressed chunks"}
    out_dir = os.path.join(client_dir, "zck")
    _rm(out_dir)
    os.makedirs(out_dir)
    mark = nginx.mark()
    try:
        client = b.measure(["zckdl", "-q", "-s", old_zck, nginx.url(published)], cwd=out_dir)
    except b.CommandFailed as e:
        raise PeerFailed(e.short())
    entries = nginx.entries(mark)
    out = os.path.join(out_dir, os.path.basename(published))
    if not os.path.exists(out) or not same_file(out, published):
        raise PeerFailed("zckdl output differs from the published .zck")
    _rm(out_dir)
    # The first two requests read the lead and the header (chunk index); the rest is data.
    header_uris = 0
    is_index = []
    for e in entries:
        is_index.append(header_uris < 2 and e["range"].count(",") == 0)
        header_uris += 1
    flags = iter(is_index)
    payload, idx, wire, requests = summarize(entries, lambda e: next(flags))
    _rm(published)
    return {"payload": payload, "index": idx, "wire": wire, "requests": requests, "client": client,
            "publish": publish, "note": "zckdl over HTTP; uncompressed chunks (--compression-format=none)"}


def _zck_header_size(path):
    """Lead + header bytes of a .zck (what a client fetches before any chunk): the lead is
    "\\0ZCK1", compint hash type, compint header length, header digest (zchunk format 1)."""
    with open(path, "rb") as f:
        lead = f.read(128)
    if lead[:5] != b"\0ZCK1":
        raise PeerFailed(f"{path}: not a zchunk file")
    pos = 5

    def compint():
        nonlocal pos
        value, shift = 0, 0
        while True:
            byte = lead[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte & 0x80:
                return value
    hash_type = compint()
    header_len = compint()
    digest = {0: 20, 1: 32, 2: 64, 3: 16}.get(hash_type, 32)  # SHA-1, SHA-256, SHA-512, SHA-512/128
    return pos + digest + header_len


# ----------------------------------------------------------------------------- rsync

STAT_RE = re.compile(r"^(Literal data|Matched data|Total bytes sent|Total bytes received): ([\d,]+)", re.M)


def rsync(old, new, client_dir, flags=()):
    """`rsync --no-whole-file --stats NEW DEST` where DEST starts as a copy of OLD: the rsync
    algorithm as a pull would run it. Download = bytes the sender sends, upload = checksums.
    flags: extra rsync options (["-z"]: literal data compressed, counted compressed)."""
    dest = os.path.join(client_dir, "rsync.dest")
    shutil.copyfile(old, dest)
    stats = os.path.join(client_dir, "rsync.stats")
    try:
        client = b.measure(["rsync", "--no-whole-file", "--stats"] + list(flags) + [new, dest], stdout=stats)
    except b.CommandFailed as e:
        raise PeerFailed(e.short())
    with open(stats) as f:
        text = f.read()
    found = {k: int(v.replace(",", "")) for k, v in STAT_RE.findall(text)}
    if not same_file(dest, new):
        raise PeerFailed("rsync output differs from the new file")
    _rm(dest)
    _rm(stats)
    if "Total bytes sent" not in found:
        raise PeerFailed("no --stats output")
    return {"payload": found.get("Literal data", 0), "index": 0, "wire": found["Total bytes sent"],
            "requests": 1, "client": client, "upload": found.get("Total bytes received", 0),
            "note": f"client uploads {b.human(found.get('Total bytes received', 0))} of block checksums; "
                    "one connection, no HTTP" + ("; literal data compressed" if "-z" in flags else "")}


# ----------------------------------------------------------------------------- xdelta3

# Level 0 and no secondary compression: on incompressible tensors this is both the fastest and
# the smallest delta (measured on the corpus: -9 or the default secondary compressor only add
# time and a few bytes).
XDELTA3_FLAGS = ["-0", "-S", "none"]
# Encoding a pair with nothing in common is xdelta3's slowest case (the quantized sibling).
XDELTA3_LIMIT_S = 600


def xdelta3(old, new, www, client_dir, nginx, name):
    """`xdelta3 -e -s OLD NEW` with a source window covering the whole old file: the delta a
    server would precompute for exactly this pair (the binary-diff floor). The client GETs it
    and decodes it (`xdelta3 -d -s OLD`)."""
    delta = os.path.join(www, name + ".vcdiff")
    window = 1 << max(24, (os.path.getsize(old) - 1).bit_length())
    window = min(window, 1 << 31)
    try:
        encode = b.measure(["timeout", str(XDELTA3_LIMIT_S), "xdelta3", "-e", "-f"] + XDELTA3_FLAGS +
                           ["-B", str(window), "-s", old, new, delta])
    except b.CommandFailed as e:
        _rm(delta)
        if e.returncode == 124:
            raise PeerFailed(f"xdelta3 -e did not finish within {XDELTA3_LIMIT_S} s")
        raise PeerFailed(e.short())
    mark = nginx.mark()
    local = os.path.join(client_dir, "delta.vcdiff")
    _http_get(nginx, delta, local)
    entries = nginx.entries(mark)
    out = os.path.join(client_dir, "xdelta3.out")
    try:
        client = b.measure(["xdelta3", "-d", "-f", "-B", str(window), "-s", old, local, out])
    except b.CommandFailed as e:
        raise PeerFailed(e.short())
    if not same_file(out, new):
        raise PeerFailed("xdelta3 output differs from the new file")
    _rm(out)
    _rm(local)
    payload, idx, wire, requests = summarize(entries, lambda e: False)
    _rm(delta)
    return {"payload": payload, "index": idx, "wire": wire, "requests": requests, "client": client,
            "publish": encode, "note": f"per-pair delta made by the server in {encode['wall']:.1f} s "
                                      f"({encode['rss_kib'] / 1024:.0f} MiB)"}


def _http_get(nginx, path, dest):
    conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=120)
    try:
        conn.request("GET", "/" + os.path.relpath(path, nginx.root))
        resp = conn.getresponse()
        if resp.status != 200:
            raise PeerFailed(f"GET {path}: HTTP {resp.status}")
        with open(dest, "wb") as f:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                f.write(chunk)
    finally:
        conn.close()


# ----------------------------------------------------------------------------- plan replay

def request_groups(plan):
    """The Range requests a client makes for a `blockyard plan --json` plan, as byte-range
    lists in the new file's coordinates.

    blockyard mode: the fetch ranges in order, up to costModel.maxRangesPerRequest per request.
    electron-updater mode: operations in batches of 1000; a batch's DOWNLOAD ops form one
    request (one range: a plain Range request; several: one multi-range request)."""
    ops = plan["operations"]
    fetch = lambda op: (op["sourceOffset"], op["length"])
    groups = []
    if plan["mode"] == "electron-updater":
        for start in range(0, len(ops), 1000):
            ranges = [fetch(op) for op in ops[start:start + 1000] if op["kind"] == "fetch" and op["length"] > 0]
            if ranges:
                groups.append(ranges)
    else:
        per = plan["costModel"]["maxRangesPerRequest"]
        ranges = [fetch(op) for op in ops if op["kind"] == "fetch" and op["length"] > 0]
        groups = [ranges[i:i + per] for i in range(0, len(ranges), per)]
    return groups


def replay(nginx, path, groups, separator=", "):
    """Issues the requests over one keep-alive connection and reads every response fully."""
    conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=300)
    uri = "/" + os.path.relpath(os.path.abspath(path), nginx.root)
    try:
        for ranges in groups:
            header = "bytes=" + separator.join(f"{o}-{o + n - 1}" for o, n in ranges)
            conn.request("GET", uri, headers={"Range": header, "User-Agent": "electron-builder",
                                              "Accept": "*/*", "Cache-Control": "no-cache"})
            resp = conn.getresponse()
            if resp.status != 206:
                raise PeerFailed(f"range request answered {resp.status}")
            while resp.read(1 << 20):
                pass
    finally:
        conn.close()


def replay_plan(nginx, new_published, blockmap_published, plan):
    """GET the new .blockmap, then the plan's range requests; returns the peer dict (no client)."""
    mark = nginx.mark()
    _http_get(nginx, blockmap_published, os.devnull)
    replay(nginx, new_published, request_groups(plan))
    entries = nginx.entries(mark)
    payload, idx, wire, requests = summarize(entries, lambda e: e["uri"].endswith(".blockmap"))
    if payload < plan["totals"]["fetchBytes"]:
        raise PeerFailed(f"server sent {payload} payload bytes, plan says {plan['totals']['fetchBytes']}")
    return {"payload": payload, "index": idx, "wire": wire, "requests": requests}


# ----------------------------------------------------------------------------- versions

def versions():
    def first_line(argv, pattern=None):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            text = (p.stdout + p.stderr).strip()
            if pattern:
                m = re.search(pattern, text)
                return m.group(0) if m else text.splitlines()[0]
            return text.splitlines()[0] if text else "?"
        except (OSError, subprocess.TimeoutExpired, IndexError):
            return "missing"
    return {
        "openssl": first_line(["openssl", "version"], r"OpenSSL \S+"),
        "sha256sum": "coreutils " + first_line(["sha256sum", "--version"], r"coreutils\) [\d.]+").split()[-1],
        "zsync": first_line(["zsync", "-V"], r"zsync v\S+"),
        "casync": "casync " + first_line(["casync", "--version"]).split()[-1],
        "zchunk": first_line(["zck", "--version"], r"zchunk \S+"),
        "rsync": "rsync " + first_line(["rsync", "--version"], r"version \S+").split()[-1],
        "xdelta3": "xdelta3 " + first_line(["xdelta3", "-V"], r"version [\d.]+").split()[-1],
        "nginx": "nginx " + first_line(["nginx", "-v"], r"nginx/\S+").split("/")[-1],
    }
