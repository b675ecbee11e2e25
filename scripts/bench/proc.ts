// CPU time by thread, and the PostgreSQL backends a process talks to, read from Linux's /proc.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import pg from 'pg';

// utime and stime are in clock ticks: 100 per second on Linux.
const MS_PER_TICK = 10;

/** utime + stime of a /proc stat file, in ms (0 if the process or thread is gone). */
function statMs(file: string): number {
  try {
    // The command name (field 2) may hold spaces: the fields that follow start after its ')'.
    const fields = readFileSync(file, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
  } catch {
    return 0;
  }
}

/** Each thread's CPU time so far (ms), by thread id. */
export function threadCpuMs(pid: number): Map<number, number> {
  const threads = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    threads.set(Number(tid), statMs(`/proc/${pid}/task/${tid}/stat`));
  }
  return threads;
}

export const processCpuMs = (pid: number): number => statMs(`/proc/${pid}/stat`);

export function peakRssMb(pid: number): number {
  // VmHWM is the process's peak resident set size so far.
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** The local ports of the TCP sockets a process holds (its side of each connection). */
function localPorts(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith('socket:[')) inodes.add(target.slice(8, -1));
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const columns = line.trim().split(/\s+/);
      if (columns.length > 9 && inodes.has(columns[9])) ports.add(parseInt(columns[1].split(':')[1], 16));
    }
  }
  return ports;
}

/** The pids of the PostgreSQL backends serving `pid`'s connections (matched by client port). */
export async function postgresBackends(pid: number, postgresUrl: string): Promise<number[]> {
  const ports = [...localPorts(pid)];
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])',
      [ports],
    );
    return rows.map((row) => row.pid);
  } finally {
    await client.end();
  }
}

/** The summed CPU time (ms) of processes, e.g. PostgreSQL backends (0 for those gone or unreadable). */
export const summedCpuMs = (pids: number[]): number => pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
