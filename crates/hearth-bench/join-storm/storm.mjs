#!/usr/bin/env node
// One join storm against one fresh server: starts the server (so its PID, and so its RSS,
// is known), opens N clients over R rooms round robin with a bounded number of connects in
// flight, waits until every client is joined and every presence frame has arrived, reads
// the server's RSS, stops it. Prints a summary on stderr and one JSON result on stdout;
// exits 1 if any client failed or closed, or a presence frame is missing or extra.
//
//   node storm.mjs --target hearth|ws|socketio [--clients 10000] [--rooms 100]
//                  [--concurrency 1000] [--source-ips 0] [--timeout 600] [--idle-ms 1000]
//                  [--hearth-pipeline] [--client raw|lib]
//                  [--wait-quiet SECONDS] [--no-presence (ws, socketio: a diagnostic)]
//
// Hearth's binary: $HEARTH_BENCH_BIN, else target/release/hearth-bench, else target/debug.
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { io as ioClient } from 'socket.io-client';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');

const opts = parseArgs(process.argv.slice(2));
const TARGET = opts.target;
const N = opts.clients;
const R = opts.rooms;

function parseArgs(argv) {
  const o = {
    target: '',
    clients: 10000,
    rooms: 100,
    concurrency: 1000,
    sourceIps: 0,
    timeout: 600,
    idleMs: 1000,
    hearthPipeline: false,
    client: 'raw',
    waitQuiet: 0,
    noPresence: false,
  };
  const num = (v, name) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) die(`${name} wants a non-negative integer, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--target') o.target = v();
    else if (a === '--clients') o.clients = num(v(), a);
    else if (a === '--rooms') o.rooms = Math.max(1, num(v(), a));
    else if (a === '--concurrency') o.concurrency = Math.max(1, num(v(), a));
    else if (a === '--source-ips') o.sourceIps = Math.min(254, num(v(), a));
    else if (a === '--timeout') o.timeout = num(v(), a);
    else if (a === '--idle-ms') o.idleMs = num(v(), a);
    else if (a === '--hearth-pipeline') o.hearthPipeline = true;
    else if (a === '--no-presence') o.noPresence = true;
    else if (a === '--client') o.client = v();
    else if (a === '--wait-quiet') o.waitQuiet = num(v(), a);
    else die(`unknown argument ${a}`);
  }
  if (!['hearth', 'ws', 'socketio'].includes(o.target)) die('--target hearth|ws|socketio');
  if (o.clients < 1) die('--clients must be at least 1');
  if (!['lib', 'raw'].includes(o.client)) die('--client raw|lib');
  if (o.noPresence && o.target === 'hearth') die('--no-presence is for the Node servers only');
  return o;
}

function die(msg) {
  process.stderr.write(`storm: ${msg}\n`);
  process.exit(2);
}

const log = (msg) => process.stderr.write(`[${TARGET}] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// The server process

function hearthBin() {
  if (process.env.HEARTH_BENCH_BIN) return path.resolve(process.env.HEARTH_BENCH_BIN);
  const release = path.join(repo, 'target/release/hearth-bench');
  return existsSync(release) ? release : path.join(repo, 'target/debug/hearth-bench');
}

async function startServer() {
  let cmd;
  let args;
  let dataDir = null;
  if (TARGET === 'hearth') {
    cmd = hearthBin();
    if (!existsSync(cmd)) die(`no hearth-bench binary at ${cmd} (set HEARTH_BENCH_BIN)`);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-join-storm-'));
    args = ['serve', '--kind', 'hearth', '--rooms', String(R), '--data-dir', dataDir];
  } else {
    cmd = process.execPath;
    // e.g. STORM_SERVER_NODE_ARGS=--cpu-prof to profile the Node servers.
    const nodeArgs = (process.env.STORM_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    args = [...nodeArgs, path.join(here, `${TARGET}-server.mjs`), '--rooms', String(R)];
    if (opts.noPresence) args.push('--no-presence');
  }
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  // Keep the tail of its stderr to show if it fails; echo nothing otherwise.
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-8192);
  });
  let exited = null;
  const exit = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    }),
  );
  const line = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('no READY line within 30 s')), 30000);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    child.on('error', (e) => reject(e));
    child.on('exit', () => reject(new Error(`the server exited before READY: ${stderr}`)));
  });
  const [word, port, list] = line.trim().split(/\s+/);
  if (word !== 'READY' || !port || !list) throw new Error(`bad READY line: ${line}`);
  return {
    child,
    pid: child.pid,
    port: Number(port),
    rooms: list.split(','),
    cmd: [cmd, ...args].join(' '),
    stderrTail: () => stderr,
    exitedEarly: () => exited,
    async stop() {
      child.stdin.end(); // the stop signal of all three servers
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      const e = await exit;
      clearTimeout(t);
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      return e;
    },
  };
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
  } catch {
    return 100;
  }
})();

function proc(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // utime and stime are fields 14 and 15; the command name (field 2) may hold spaces.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = (Number(f[11]) + Number(f[12])) / CLK_TCK;
  return { rssKiB: rss, cpuSec: cpu, threads };
}

// Busy CPU seconds of the whole machine (all cores), from /proc/stat: what the server and
// the generator did not use of it is other work on this shared machine, i.e. noise.
function machineBusy() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / CLK_TCK;
}

// Waits (at most `max` seconds) until the machine has been nearly idle for 3 s in a row.
async function waitQuiet(max) {
  const cores = os.cpus().length;
  const until = performance.now() + max * 1000;
  let calm = 0;
  let prev = machineBusy();
  while (performance.now() < until) {
    await sleep(1000);
    const now = machineBusy();
    calm = now - prev < 0.15 * cores ? calm + 1 : 0;
    prev = now;
    if (calm >= 3) return true;
  }
  return false;
}

function fdLimit() {
  const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : Infinity;
}

// ---------------------------------------------------------------------------------------
// The clients

const PREFIX = Buffer.from('{"type":"');
// Hearth and ws-server frames start with {"type":"<type>": the letter after the prefix
// tells the few types apart without parsing 500,000 presence frames.
function typeOf(buf) {
  if (Buffer.isBuffer(buf) && buf.length > 10 && buf.compare(PREFIX, 0, 9, 0, 9) === 0) {
    switch (buf[9]) {
      case 0x70: // p
        return buf.subarray(9, 18).toString() === 'presence"' ? 'presence' : parseType(buf);
      case 0x6a: // j
        return buf.subarray(9, 16).toString() === 'joined"' ? 'joined' : parseType(buf);
      case 0x77: // w
        return buf.subarray(9, 17).toString() === 'welcome"' ? 'welcome' : parseType(buf);
      default:
        return parseType(buf);
    }
  }
  return parseType(buf);
}

function parseType(buf) {
  try {
    return JSON.parse(buf.toString()).type ?? '?';
  } catch {
    return '?';
  }
}

const t0 = new Float64Array(N); // connect started
const tOpen = new Float64Array(N); // WebSocket open (upgrade done)
const tReady = new Float64Array(N); // Hearth: welcome; Socket.IO: connect; ws: = open
const tJoined = new Float64Array(N);
const clients = new Array(N);
let started = 0;
let inFlight = 0;
let joined = 0;
let presence = 0;
let lastPresence = 0;
let stopping = false;
let firstError = null;
let errors = 0;
let finish; // resolves the storm
const stormDone = new Promise((r) => {
  finish = r;
});

function fail(i, why) {
  if (stopping) return;
  errors++;
  if (!firstError) {
    firstError = `client ${i}: ${why}`;
    finish();
  }
}

function joinedNow(i) {
  tJoined[i] = performance.now();
  joined++;
  inFlight--;
  if (joined === N) finish();
  else pump();
}

function onPresence() {
  presence++;
  lastPresence = performance.now();
}

// Source addresses 127.0.0.1..K, so that many runs in a row never run out of
// ephemeral ports (each source address has its own range); 0 = the kernel's choice.
function localAddress(i) {
  return opts.sourceIps > 0 ? `127.0.0.${1 + (i % opts.sourceIps)}` : undefined;
}

// The Hearth / ws-server conversation of one client, whatever carries the frames:
// `send(text)` writes one text message; returns the handlers for open and each message.
function session(i, roomId, send) {
  const userId = randomUUID();
  const name = `bench${i}`;
  let state = 0; // 0 connecting, 1 waiting for welcome, 2 waiting for joined, 3 joined
  const joinHearth = () =>
    send(JSON.stringify({ type: 'join', payload: { room_id: roomId } }));
  return {
    open() {
      tOpen[i] = performance.now();
      if (TARGET === 'hearth') {
        send(JSON.stringify({ type: 'hello', payload: { protocol: 1, user_id: userId, name } }));
        state = 1;
        if (opts.hearthPipeline) {
          // Not waiting for welcome: the host reads a connection's frames in order.
          joinHearth();
          state = 2;
        }
      } else {
        tReady[i] = tOpen[i];
        send(JSON.stringify({ type: 'join', payload: { room_id: roomId, user_id: userId, name } }));
        state = 2;
      }
    },
    message(data) {
      const type = typeOf(data);
      if (type === 'presence') {
        onPresence();
      } else if (type === 'welcome') {
        tReady[i] = performance.now();
        if (state === 1) {
          joinHearth();
          state = 2;
        }
      } else if (type === 'joined' && state === 2) {
        state = 3;
        joinedNow(i);
      } else if (type === 'error') {
        fail(i, `error frame ${data.toString().slice(0, 300)}`);
      }
    },
  };
}

// The `ws` package's client: what a Node application would use.
function startWs(i, url, roomId) {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    localAddress: localAddress(i),
    handshakeTimeout: 60000,
    maxPayload: 0, // no limit: Hearth's joined and welcome frames can be large
  });
  clients[i] = ws;
  const s = session(i, roomId, (text) => ws.send(text));
  ws.on('open', s.open);
  ws.on('message', s.message);
  ws.on('error', (e) => fail(i, `error ${e.code ?? ''} ${e.message}`));
  ws.on('close', (code, reason) => fail(i, `closed ${code} ${reason}`));
}

// A minimal RFC 6455 client on a bare TCP socket (--client raw): no HTTP client, no
// per-frame events, to check that the `ws` client is not what limits the storm.
function clientFrame(text) {
  const payload = Buffer.from(text);
  const n = payload.length;
  const h = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.alloc(h + 4 + n); // the mask key stays 0: legal, payload unchanged
  out[0] = 0x81;
  if (h === 2) out[1] = 0x80 | n;
  else if (h === 4) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(out, h + 4);
  return out;
}

// One read buffer for every raw socket (net's `onread`): reads are handled synchronously,
// so only a frame cut off at the end of a read is copied out. This spares the generator
// a Buffer and a stream event per read; half a million presence frames are reads.
const READ_BUF = Buffer.allocUnsafe(256 * 1024);

// Opens a raw WebSocket at `path`; `make(send)` returns the {open, message} handlers.
function rawWebSocket(i, port, path, make) {
  let upgraded = false;
  let rest = null; // an incomplete frame (or HTTP response) from the previous read, copied
  let frags = null;
  const sock = net.connect({
    host: '127.0.0.1',
    port,
    localAddress: localAddress(i),
    onread: { buffer: READ_BUF, callback: (n, b) => onRead(b.subarray(0, n)) },
  });
  clients[i] = sock;
  sock.setNoDelay(true);
  const s = make((text) => sock.write(clientFrame(text)));
  sock.on('connect', () =>
    sock.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        'Sec-WebSocket-Version: 13\r\n\r\n',
    ),
  );
  function onRead(d) {
    let buf = rest ? Buffer.concat([rest, d]) : d;
    rest = null;
    if (!upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        rest = Buffer.from(buf);
        return;
      }
      if (buf.toString('latin1', 0, 12) !== 'HTTP/1.1 101') {
        fail(i, `upgrade refused: ${buf.toString('latin1', 0, Math.min(end, 200))}`);
        return;
      }
      upgraded = true;
      buf = buf.subarray(end + 4);
      s.open();
    }
    let off = 0;
    while (buf.length - off >= 2) {
      const b0 = buf[off];
      let len = buf[off + 1] & 0x7f;
      let h = 2;
      if (len === 126) {
        if (buf.length - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        h = 4;
      } else if (len === 127) {
        if (buf.length - off < 10) break;
        len = Number(buf.readBigUInt64BE(off + 2));
        h = 10;
      }
      if (buf.length - off < h + len) break;
      const payload = buf.subarray(off + h, off + h + len);
      off += h + len;
      const op = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (op === 1 || op === 0) {
        // Hearth sends text over 4 KiB as fragments: reassemble (copies: the buffer is shared).
        if (op === 1 && fin) s.message(payload);
        else if (op === 1) frags = [Buffer.from(payload)];
        else if (frags) {
          frags.push(Buffer.from(payload));
          if (fin) {
            const whole = Buffer.concat(frags);
            frags = null;
            s.message(whole);
          }
        }
      } else if (op === 9) {
        const pong = clientFrame(payload.toString('latin1'));
        pong[0] = 0x8a; // answer pings: Hearth's heartbeat
        sock.write(pong);
      } else if (op === 8) {
        fail(i, `closed ${len >= 2 ? payload.readUInt16BE(0) : ''} ${payload.toString('utf8', 2)}`);
      }
    }
    if (off < buf.length) rest = Buffer.from(buf.subarray(off));
  }
  sock.on('error', (e) => fail(i, `error ${e.code ?? ''} ${e.message}`));
  sock.on('close', () => fail(i, 'connection closed'));
}

function startRaw(i, port, roomId) {
  rawWebSocket(i, port, '/', (send) => session(i, roomId, send));
}

// Socket.IO's wire format by hand (engine.io 4 + socket.io 5 packets in text frames):
//   <- 0{open}   -> 40 (connect to "/")   <- 40{sid}   -> 420["join",{...}] (ack id 0)
//   <- 430[{joined}]   <- 42["presence",{...}]   <- 2 (ping) -> 3 (pong)
// the same exchange socket.io-client makes, without its per-connection Manager and engine.
function startRawSocketIo(i, port, roomId) {
  const join = `420${JSON.stringify(['join', { room_id: roomId, user_id: randomUUID(), name: `bench${i}` }])}`;
  rawWebSocket(i, port, '/socket.io/?EIO=4&transport=websocket', (send) => {
    let state = 0; // 0 upgraded, 1 connect sent, 2 join sent, 3 joined
    return {
      open() {
        tOpen[i] = performance.now();
      },
      message(data) {
        const c0 = data[0];
        const c1 = data[1];
        if (c0 === 0x34 /* 4 message */ && c1 === 0x32 /* 2 event */) {
          if (data.toString('latin1', 2, 13) === '["presence"') onPresence();
        } else if (c0 === 0x34 && c1 === 0x33 /* 3 ack */ && state === 2) {
          if (data.toString('latin1', 3, 12) === '[{"error"') fail(i, `join refused ${data}`);
          else {
            state = 3;
            joinedNow(i);
          }
        } else if (c0 === 0x30 /* 0 open */ && state === 0) {
          send('40');
          state = 1;
        } else if (c0 === 0x34 && c1 === 0x30 /* 0 connect */ && state === 1) {
          tReady[i] = performance.now();
          send(join);
          state = 2;
        } else if (c0 === 0x32 /* 2 ping */) {
          send('3');
        } else if (c0 === 0x31 || (c0 === 0x34 && (c1 === 0x31 || c1 === 0x34))) {
          fail(i, `closed by the server: ${data.toString().slice(0, 200)}`);
        }
      },
    };
  });
}

function startSocketIo(i, url, roomId) {
  const s = ioClient(url, {
    transports: ['websocket'],
    forceNew: true, // one connection (Manager) per client, not one multiplexed socket
    reconnection: false,
    perMessageDeflate: false,
    localAddress: localAddress(i),
    timeout: 60000,
  });
  clients[i] = s;
  s.on('connect', () => {
    tOpen[i] = tReady[i] = performance.now();
  });
  s.on('connect_error', (e) => fail(i, `connect_error ${e.message}`));
  s.on('disconnect', (reason) => fail(i, `disconnect ${reason}`));
  s.on('presence', onPresence);
  // Buffered by the client until the connection is up, as applications use it.
  s.emit('join', { room_id: roomId, user_id: randomUUID(), name: `bench${i}` }, (res) => {
    if (res?.error) fail(i, `join refused: ${res.error}`);
    else joinedNow(i);
  });
}

let startClient;

function pump() {
  while (inFlight < opts.concurrency && started < N && !firstError) {
    const i = started++;
    inFlight++;
    t0[i] = performance.now();
    startClient(i);
  }
}

// ---------------------------------------------------------------------------------------
// The run

function pct(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function expectedPresence() {
  if (opts.noPresence) return 0;
  // Every member hears of each later member once: m(m-1)/2 per room of m members.
  let total = 0;
  for (let r = 0; r < R; r++) {
    const m = Math.floor(N / R) + (r < N % R ? 1 : 0);
    total += (m * (m - 1)) / 2;
  }
  return total;
}

async function main() {
  const limit = fdLimit();
  if (limit < N + 256) {
    die(`open-file limit ${limit} is too low for ${N} clients (ulimit -n ${N + 256}, or more)`);
  }
  const quiet = opts.waitQuiet > 0 ? await waitQuiet(opts.waitQuiet) : null;
  const server = await startServer();
  const url = `ws://127.0.0.1:${server.port}/`;
  const rooms = server.rooms;
  if (rooms.length < R) die(`the server has ${rooms.length} rooms, wanted ${R}`);
  const room = (i) => rooms[i % R];
  if (opts.client === 'raw') {
    if (TARGET === 'socketio') startClient = (i) => startRawSocketIo(i, server.port, room(i));
    else startClient = (i) => startRaw(i, server.port, room(i));
  } else if (TARGET === 'socketio') startClient = (i) => startSocketIo(i, url, room(i));
  else startClient = (i) => startWs(i, url, room(i));

  await sleep(500); // let the server finish starting before "before"
  const before = proc(server.pid);
  const genCpu0 = process.cpuUsage();
  const busy0 = machineBusy();
  const begin = performance.now();
  const timer = setTimeout(() => {
    if (!firstError) {
      firstError = `timeout: ${joined} of ${N} joined after ${opts.timeout} s`;
      errors++;
      finish();
    }
  }, opts.timeout * 1000);
  // Thread count while the storm runs (e.g. blocking-pool threads a server spawns).
  let threadsMax = before.threads;
  const sampler = setInterval(() => {
    try {
      threadsMax = Math.max(threadsMax, proc(server.pid).threads);
    } catch {}
  }, 100);
  pump();
  await stormDone;
  clearInterval(sampler);
  const stormEnd = performance.now();
  const atJoined = proc(server.pid);
  const genStorm = process.cpuUsage(genCpu0);
  const busyStorm = machineBusy() - busy0;

  // Presence frames may still be on their way: wait for all of them (or a quiet second).
  const want = expectedPresence();
  while (!firstError && presence < want) {
    const seen = presence;
    await sleep(1000);
    if (presence === seen && performance.now() - Math.max(lastPresence, stormEnd) > 10000) break;
  }
  if (!firstError && presence !== want) {
    errors++;
    firstError = `presence frames: received ${presence}, expected ${want}`;
  }
  const settled = performance.now();
  const presenceSeen = presence; // before the stop: closing makes servers send leaves
  const lastPresenceSeen = lastPresence;
  await sleep(opts.idleMs); // idle: nobody sends
  const after = proc(server.pid);
  const genCpu = process.cpuUsage(genCpu0);
  clearTimeout(timer);

  stopping = true;
  const early = server.exitedEarly();
  const stopT = performance.now();
  const stopped = await server.stop();
  const stopSec = (performance.now() - stopT) / 1000;
  if (early && !firstError) firstError = `the server exited during the run: ${JSON.stringify(early)}`;

  const lat = [];
  for (let i = 0; i < N; i++) if (tJoined[i] > 0) lat.push(tJoined[i] - t0[i]);
  lat.sort((a, b) => a - b);
  const phase = (from, to) => {
    const v = [];
    for (let i = 0; i < N; i++) if (to[i] > 0 && from[i] > 0) v.push(to[i] - from[i]);
    v.sort((a, b) => a - b);
    return { p50: round(pct(v, 50), 2), p99: round(pct(v, 99), 2) };
  };
  let last = 0;
  for (let i = 0; i < N; i++) last = Math.max(last, tJoined[i]);
  if (last === 0) last = stormEnd;
  const stormSec = (last - begin) / 1000;
  const res = {
    target: TARGET,
    ok: !firstError,
    error: firstError,
    errors,
    clients: N,
    rooms: R,
    concurrency: opts.concurrency,
    source_ips: opts.sourceIps,
    client: opts.client === 'raw' ? 'raw' : TARGET === 'socketio' ? 'socket.io-client' : 'ws',
    hearth_pipeline: TARGET === 'hearth' ? opts.hearthPipeline : undefined,
    no_presence: opts.noPresence || undefined,
    joined,
    storm_s: round(stormSec, 3),
    joins_per_s: round(joined / stormSec, 0),
    p50_ms: round(pct(lat, 50), 2),
    p90_ms: round(pct(lat, 90), 2),
    p99_ms: round(pct(lat, 99), 2),
    max_ms: round(lat.at(-1) ?? 0, 2),
    // Where a client's time went: queueing for accept + upgrade, handshake, join.
    phase_connect_ms: phase(t0, tOpen),
    phase_handshake_ms: phase(tOpen, tReady),
    phase_join_ms: phase(tReady, tJoined),
    presence_expected: want,
    presence_received: presenceSeen,
    presence_settle_s: round((Math.max(lastPresenceSeen, last) - begin) / 1000, 3),
    threads_before: before.threads,
    threads_max: threadsMax,
    rss_before_kib: before.rssKiB,
    rss_joined_kib: atJoined.rssKiB,
    rss_after_kib: after.rssKiB,
    kib_per_conn: round((after.rssKiB - before.rssKiB) / N, 2),
    server_cpu_storm_s: round(atJoined.cpuSec - before.cpuSec, 2),
    server_cpu_total_s: round(after.cpuSec - before.cpuSec, 2),
    gen_cpu_storm_s: round((genStorm.user + genStorm.system) / 1e6, 2),
    gen_cpu_s: round((genCpu.user + genCpu.system) / 1e6, 2),
    // CPU seconds used by other processes during the storm (the machine is shared).
    other_cpu_storm_s: round(
      busyStorm - (atJoined.cpuSec - before.cpuSec) - (genStorm.user + genStorm.system) / 1e6,
      2,
    ),
    waited_for_quiet: quiet,
    settle_wait_s: round((settled - stormEnd) / 1000, 2),
    server_stop_s: round(stopSec, 2),
    server_exit: stopped,
    server: server.cmd,
  };
  if (!res.ok) log(`server stderr tail:\n${server.stderrTail()}`);
  log(
    `${res.ok ? 'ok' : 'FAILED'}: ${joined}/${N} joined in ${res.storm_s} s ` +
      `(${res.joins_per_s}/s), p50 ${res.p50_ms} p99 ${res.p99_ms} max ${res.max_ms} ms, ` +
      `RSS ${(before.rssKiB / 1024).toFixed(1)} -> ${(after.rssKiB / 1024).toFixed(1)} MiB ` +
      `(${res.kib_per_conn} KiB/conn), presence ${presenceSeen}/${want}, ` +
      `CPU in the storm: server ${res.server_cpu_storm_s} s, generator ${res.gen_cpu_storm_s} s, ` +
      `others ${res.other_cpu_storm_s} s` +
      (firstError ? `\n  first error: ${firstError} (${errors} errors)` : ''),
  );
  process.stdout.write(`${JSON.stringify(res)}\n`);
  process.exit(res.ok ? 0 : 1);
}

function round(x, d) {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

main().catch((e) => {
  process.stderr.write(`storm: ${e.stack ?? e}\n`);
  process.exit(1);
});
