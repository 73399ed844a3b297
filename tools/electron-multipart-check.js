#!/usr/bin/env node
// Runs electron-updater-shaped multi-range downloads against a server with Node's own HTTP
// client, and reads every multipart body with a faithful port of electron-updater 6.8.9's
// multipart reader (DataSplitter, shared/specs/electron-updater.md "Known defects" 6), fed
// the chunks Node's HTTP stack delivers. The writable behind the reader is slow on purpose
// (as the real client's SHA-512 + file write are), so Node falls behind and reads 64 KiB at a
// time. A body the reader cannot finish within 10 s of its end counts as a fallback to a
// full download, as in the real client ("Response ends without calling any handlers").
//
//   tools/electron-multipart-check.js --url http://127.0.0.1:8080/big.bin --file big.bin \
//       [--runs 30] [--requests 4] [--parts 490] [--seed 1] [--json]
//
// Exit 0 when every run completed differentially with exact bytes, 1 otherwise, 2 on usage.
'use strict';
const http = require('http');
const fs = require('fs');
const { Writable } = require('stream');

function parseArgs(argv) {
  const args = { runs: 30, requests: 4, parts: 490, seed: 1, json: false };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') { args.json = true; continue; }
    const v = argv[++i];
    if (v === undefined) usage(`${a} needs a value`);
    if (a === '--url') args.url = v;
    else if (a === '--file') args.file = v;
    else if (['--runs', '--requests', '--parts', '--seed'].includes(a)) args[a.slice(2)] = Number(v);
    else usage(`unknown option ${a}`);
  }
  if (!args.url || !args.file) usage('--url and --file are required');
  return args;
}

function usage(message) {
  process.stderr.write(`electron-multipart-check: ${message}\n`);
  process.exit(2);
}

// SplitMix64 over BigInt: the same deterministic stream as the Swift tests.
function rng(seed) {
  let state = BigInt.asUintN(64, BigInt(seed));
  return () => {
    state = BigInt.asUintN(64, state + 0x9E3779B97F4A7C15n);
    let z = state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94D049BB133111EBn);
    return Number((z ^ (z >> 31n)) & 0xFFFFFFFFn);
  };
}

/// The reader: skip len(boundary)+2 bytes, find CRLFCRLF in the current chunk, take exactly
/// each requested length in request order, skip CRLF--boundary, repeat. A header whose end is
/// not in the current chunk is set aside, and the next chunk is searched from its start only.
class ElectronDataSplitterPort extends Writable {
  constructor(out, boundary, lengths, onFinish) {
    super();
    this.out = out;
    this.lengths = lengths;
    this.onFinish = onFinish;
    this.boundaryLength = boundary.length + 4;
    this.ignoreByteCount = this.boundaryLength - 2;
    this.remainingPartDataCount = 0;
    this.partIndex = -1;
    this.readState = 'start';
    this.actualPartLength = 0;
    this.received = 0;
    this.suspects = [];
  }

  get isFinished() { return this.partIndex === this.lengths.length; }

  _write(chunk, _encoding, callback) {
    if (this.isFinished) return; // trailing data: ignored, callback never called (as in the client)
    this.handle(chunk).then(() => callback(), callback);
  }

  async handle(chunk) {
    this.received += chunk.length;
    const tail = chunk.subarray(Math.max(0, chunk.length - 3)).toString('latin1');
    if (/\r$|\r\n$|\r\n\r$/.test(tail) && this.readState !== 'body') this.suspects.push(`${this.received}:${JSON.stringify(tail)}`);
    let start = 0;
    if (this.ignoreByteCount !== 0 && this.remainingPartDataCount !== 0) throw new Error('ERR_DATA_SPLITTER_BYTE_COUNT_MISMATCH');
    if (this.ignoreByteCount > 0) {
      const skip = Math.min(this.ignoreByteCount, chunk.length);
      this.ignoreByteCount -= skip;
      start = skip;
    } else if (this.remainingPartDataCount > 0) {
      const take = Math.min(this.remainingPartDataCount, chunk.length);
      this.remainingPartDataCount -= take;
      await this.data(chunk, 0, take);
      start = take;
    }
    if (start === chunk.length) return;
    if (this.readState === 'header') {
      const end = this.headerEnd(chunk, start);
      if (end === -1) return;
      start = end;
      this.readState = 'body';
    }
    for (;;) {
      if (this.readState === 'body') {
        this.readState = 'start';
      } else {
        this.partIndex++;
        if (this.isFinished) {
          this.partEnded();
          this.onFinish();
          return;
        }
        start = this.headerEnd(chunk, start);
        if (start === -1) {
          this.readState = 'header';
          return;
        }
      }
      const length = this.lengths[this.partIndex];
      const end = start + length;
      const effectiveEnd = Math.min(end, chunk.length);
      if (this.partIndex !== 0) this.partEnded();
      await this.data(chunk, start, effectiveEnd);
      this.remainingPartDataCount = length - (effectiveEnd - start);
      if (this.remainingPartDataCount > 0) return;
      start = end + this.boundaryLength;
      if (start >= chunk.length) {
        this.ignoreByteCount = this.boundaryLength - (chunk.length - end);
        return;
      }
    }
  }

  headerEnd(chunk, from) {
    const at = chunk.indexOf('\r\n\r\n', from);
    return at === -1 ? -1 : at + 4;
  }

  partEnded() {
    const expected = this.lengths[this.partIndex - 1];
    if (this.actualPartLength !== expected) throw new Error(`ERR_DATA_SPLITTER_LENGTH_MISMATCH: ${expected} != ${this.actualPartLength}`);
    this.actualPartLength = 0;
  }

  data(chunk, start, end) {
    this.actualPartLength += end - start;
    const piece = chunk.subarray(start, end);
    if (this.out.write(piece)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.out.once('error', reject);
      this.out.once('drain', resolve);
    });
  }
}

/// Collects what the reader wrote and works slowly, like hashing and writing a file.
class SlowSink extends Writable {
  constructor() {
    super({ highWaterMark: 64 * 1024 });
    this.pieces = [];
    this.count = 0;
  }
  _write(chunk, _encoding, callback) {
    this.pieces.push(Buffer.from(chunk));
    this.count++;
    if (this.count % 8 === 0) setTimeout(callback, 1); else setImmediate(callback);
  }
}

function plan(random, size, parts) {
  const ranges = [];
  let position = random() % 4096;
  for (let i = 0; i < parts; i++) {
    const length = 50000 + (random() % 150001);
    if (position + length > size) break;
    ranges.push([position, position + length - 1]);
    position += length + 1 + (random() % 40000);
  }
  return ranges;
}

function fetchOnce(url, ranges, file) {
  return new Promise((resolve) => {
    const headers = {
      accept: '*/*', 'User-Agent': 'electron-builder', 'Cache-Control': 'no-cache',
      Range: 'bytes=' + ranges.map(([a, b]) => `${a}-${b}`).join(', '),
    };
    const request = http.get(url, { headers, agent: keepAlive }, (response) => {
      if (response.statusCode !== 206) {
        response.resume();
        return resolve({ ok: false, why: `status ${response.statusCode}` });
      }
      const match = /^multipart\/.+?\s*;\s*boundary=(?:"([^"]+)"|([^\s";]+))\s*$/i.exec(response.headers['content-type'] || '');
      if (!match) {
        response.resume();
        return resolve({ ok: false, why: 'not multipart' });
      }
      const boundary = match[1] || match[2];
      const sink = new SlowSink();
      let done = false;
      let timer = null;
      const finish = (result) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        resolve(result);
      };
      const reader = new ElectronDataSplitterPort(sink, boundary, ranges.map(([a, b]) => b - a + 1), () => {
        sink.end(() => {
          const got = Buffer.concat(sink.pieces);
          const want = Buffer.concat(ranges.map(([a, b]) => file.subarray(a, b + 1)));
          finish(got.equals(want) ? { ok: true } : { ok: false, why: 'bytes differ' });
        });
      });
      reader.on('error', (error) => finish({ ok: false, why: String(error) }));
      response.on('end', () => {
        timer = setTimeout(() => finish({ ok: false, why: 'Response ends without calling any handlers' +
          ` (reader at part ${reader.partIndex + 1} of ${ranges.length}, ${reader.readState}, ${reader.remainingPartDataCount} bytes of it left,` +
          ` ${reader.writableLength} bytes queued for it, body offsets of its chunks ending near a header: ${reader.suspects.slice(0, 3).join(', ')})` }), 10000);
      });
      response.pipe(reader);
    });
    request.on('error', (error) => resolve({ ok: false, why: String(error) }));
  });
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

async function main() {
  const args = parseArgs(process.argv);
  const file = fs.readFileSync(args.file);
  const random = rng(args.seed);
  const report = { runs: args.runs, requestsPerRun: args.requests, differential: 0, fallbacks: 0, failures: [], parts: 0, bytes: 0 };
  for (let run = 0; run < args.runs; run++) {
    let ok = true;
    for (let r = 0; r < args.requests && ok; r++) {
      const ranges = plan(random, file.length, args.parts);
      report.parts += ranges.length;
      report.bytes += ranges.reduce((sum, [a, b]) => sum + b - a + 1, 0);
      const result = await fetchOnce(args.url, ranges, file);
      if (!result.ok) {
        ok = false;
        report.failures.push({ run, request: r, why: result.why });
      }
    }
    if (ok) report.differential++; else report.fallbacks++;
  }
  keepAlive.destroy();
  if (args.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
  } else {
    process.stdout.write(`${report.differential} of ${report.runs} runs differential, ${report.fallbacks} fell back` +
      ` (${report.parts} parts, ${(report.bytes / 1e6).toFixed(1)} MB)\n`);
    for (const f of report.failures) process.stdout.write(`  run ${f.run} request ${f.request}: ${f.why}\n`);
  }
  process.exit(report.fallbacks === 0 ? 0 : 1);
}

main();
