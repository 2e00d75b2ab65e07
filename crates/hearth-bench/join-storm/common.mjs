// Shared by the two Node room servers: arguments, room ids, the READY line and the stop
// rule, all the same as `hearth-bench serve`, so storm.mjs treats the three targets alike.
import { randomUUID } from 'node:crypto';

export function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

export function roomIds() {
  const n = Math.max(1, Number(argValue('--rooms', '1')));
  return Array.from({ length: n }, () => randomUUID());
}

export function ready(port, ids) {
  process.stdout.write(`READY ${port} ${ids.join(',')}\n`);
}

// The parent holds our stdin; its end (or SIGTERM) is the stop. Exit at once: the
// measurement is over, and a graceful close of 10,000 sockets would only cost time.
export function stopOnStdinEnd() {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
}
