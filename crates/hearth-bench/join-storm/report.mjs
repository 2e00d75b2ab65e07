#!/usr/bin/env node
// Reads storm.mjs results (one JSON object a line, in run order) and prints the table,
// the medians per target over the runs that passed, and the Hearth/ws and Hearth/Socket.IO
// ratios. Usage: node report.mjs RESULTS.jsonl [--json]
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const asJson = process.argv.includes('--json');
const runs = readFileSync(file, 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));

// Runs are numbered per target in the order they ran.
const seen = {};
for (const r of runs) r.run = seen[r.target] = (seen[r.target] ?? 0) + 1;

const mib = (kib) => (kib == null ? null : kib / 1024);
const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

const cols = [
  ['target', 8, (r) => r.target],
  ['run', 4, (r) => r.run],
  ['storm_s', 8, (r) => fx(r.storm_s, 2)],
  ['joins/s', 8, (r) => fx(r.joins_per_s, 0)],
  ['p50ms', 8, (r) => fx(r.p50_ms, 1)],
  ['p90ms', 8, (r) => fx(r.p90_ms, 1)],
  ['p99ms', 8, (r) => fx(r.p99_ms, 1)],
  ['maxms', 8, (r) => fx(r.max_ms, 1)],
  ['rss0MiB', 8, (r) => fx(mib(r.rss_before_kib), 1)],
  ['rss1MiB', 8, (r) => fx(mib(r.rss_after_kib), 1)],
  ['KiB/conn', 9, (r) => fx(r.kib_per_conn, 2)],
  ['srvCPU', 7, (r) => fx(r.server_cpu_storm_s, 2)],
  ['genCPU', 7, (r) => fx(r.gen_cpu_storm_s, 2)],
  ['othCPU', 7, (r) => fx(r.other_cpu_storm_s, 2)],
  ['presence', 9, (r) => (r.presence_received == null ? '-' : r.presence_received)],
  ['ok', 4, (r) => (r.ok ? 'ok' : 'FAIL')],
];

function fx(x, d) {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-';
}

function row(values) {
  return values.map((v, i) => String(v).padStart(cols[i][1])).join(' ');
}

const targets = [...new Set(runs.map((r) => r.target))];
const keys = [
  'storm_s',
  'joins_per_s',
  'p50_ms',
  'p90_ms',
  'p99_ms',
  'max_ms',
  'rss_before_kib',
  'rss_after_kib',
  'kib_per_conn',
  'server_cpu_storm_s',
  'gen_cpu_storm_s',
  'other_cpu_storm_s',
];
const medians = {};
for (const t of targets) {
  const ok = runs.filter((r) => r.target === t && r.ok);
  medians[t] = { runs: ok.length };
  for (const k of keys) medians[t][k] = median(ok.map((r) => r[k]));
}
const ratio = (a, b, k) =>
  medians[a]?.[k] != null && medians[b]?.[k] ? medians[a][k] / medians[b][k] : null;
const ratios = {};
for (const other of ['ws', 'socketio']) {
  if (medians.hearth && medians[other]) {
    ratios[`hearth/${other}`] = {
      storm_s: ratio('hearth', other, 'storm_s'),
      kib_per_conn: ratio('hearth', other, 'kib_per_conn'),
    };
  }
}

if (asJson) {
  process.stdout.write(`${JSON.stringify({ runs, medians, ratios }, null, 2)}\n`);
} else {
  const out = [];
  out.push(row(cols.map((c) => c[0])));
  for (const r of runs) out.push(row(cols.map((c) => c[2](r))));
  for (const t of targets) {
    const m = { ...medians[t], target: `${t}`, ok: true };
    const line = cols.map((c) => c[2](m));
    line[0] = t;
    line[1] = 'med';
    line[cols.length - 2] = '';
    line[cols.length - 1] = `${medians[t].runs} ok`;
    out.push(row(line));
  }
  for (const [name, r] of Object.entries(ratios)) {
    out.push(
      `${name}: storm time ${fx(r.storm_s, 2)}x, KiB/conn ${fx(r.kib_per_conn, 2)}x`,
    );
  }
  const failed = runs.filter((r) => !r.ok);
  for (const r of failed) out.push(`FAILED ${r.target} run ${r.run}: ${r.error}`);
  process.stdout.write(`${out.join('\n')}\n`);
}
