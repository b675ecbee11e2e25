// The load generator for `npm run bench`: wrk when it is installed (it costs a third to half of
// autocannon's CPU per request on the same cores), autocannon otherwise. Both report the same
// figures, including their own CPU time, so the bench can say what the load itself cost.
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';

export type Generator = 'wrk' | 'autocannon';

export interface Load {
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  seconds: number;
  /** Run on this core only (taskset), or anywhere. */
  core?: number;
}

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  /** The load generator's own CPU time (user + system) in ms. */
  cpuMs: number;
}

export function wrkInstalled(): boolean {
  try {
    accessSync('/usr/bin/wrk', constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const runLoad = (generator: Generator, load: Load): Promise<LoadResult> =>
  generator === 'wrk' ? runWrk(load) : runAutocannon(load);

/** autocannon runs in this process: its CPU is this process's over the run. */
async function runAutocannon(load: Load): Promise<LoadResult> {
  const before = process.cpuUsage();
  const result = await autocannon({
    url: load.url,
    method: 'POST',
    headers: load.headers,
    body: load.body,
    connections: load.connections,
    duration: load.seconds,
  });
  const used = process.cpuUsage(before);
  return {
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    cpuMs: (used.user + used.system) / 1000,
  };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
const duration = (text: string | undefined) => {
  const match = /([\d.]+)(us|ms|s|m)/.exec(text ?? '');
  return match ? Number(match[1]) * UNIT_MS[match[2]] : NaN;
};

/** wrk (one thread) in a shell whose `times` then prints its children's CPU time. */
async function runWrk(load: Load): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-wrk-'));
  try {
    const script = path.join(dir, 'post.lua');
    const headers = Object.entries(load.headers)
      .map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`)
      .join('\n');
    writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(load.body)}\n${headers}\n`);
    const wrk = [
      ...(load.core === undefined ? [] : ['taskset', '-c', String(load.core)]),
      'wrk',
      '-t1',
      `-c${load.connections}`,
      `-d${load.seconds}s`,
      '--timeout',
      '10s',
      '--latency',
      '-s',
      script,
      load.url,
    ];
    const quoted = wrk.map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ');
    const output = await new Promise<string>((resolve, reject) =>
      execFile('sh', ['-c', `${quoted} && times`], { maxBuffer: 1 << 20 }, (error, stdout, stderr) =>
        error ? reject(new Error(`wrk failed: ${stderr || error.message}`)) : resolve(stdout),
      ),
    );
    // `times`: the shell's own user and system time, then its children's (wrk's), as 0m1.230000s.
    const children = output.trim().split('\n').at(-1)!;
    const cpuMs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
      (sum, [, minutes, seconds]) => sum + (Number(minutes) * 60 + Number(seconds)) * 1000,
      0,
    );
    const requests = Number(/(\d+) requests in/.exec(output)?.[1]);
    const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
    return {
      requests,
      requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1]),
      p50Ms: duration(/ 50%\s+(\S+)/.exec(output)?.[1]),
      p99Ms: duration(/ 99%\s+(\S+)/.exec(output)?.[1]),
      non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0),
      errors: errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
      cpuMs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
