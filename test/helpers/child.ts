import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { testCheckpointKeyFile } from './checkpointKeys';
import { TEST_SECRET } from './tokens';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The real service (`src/main.ts`) in its own process, as it runs in production. */
export interface ChildService {
  url: string;
  pid: number;
  process: ChildProcess;
  /** Everything it printed so far (pino JSON lines, stderr), for assertions and failure messages. */
  output(): string;
  /** Whether the process is still running (neither exited nor killed). */
  alive(): boolean;
  /** Settles when the process has exited. */
  exited: Promise<Exit>;
  /** Sends the signal and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
}

const running = new Set<ChildService>();
// The output kept per service: enough for assertions and failure messages, bounded for long soaks.
const OUTPUT_KEPT = 256 * 1024;

export interface SpawnOptions {
  env?: Record<string, string>;
  /** A command the service runs under, e.g. `['prlimit', '--fsize=…', '--']`; it must exec, keeping the pid. */
  wrapper?: string[];
}

/**
 * Starts the service on a free port and resolves with its URL once it logs that it is
 * listening. Kill what you start; `killServices()` in an after/afterEach hook catches the rest.
 */
export function spawnService(
  databaseUrl: string,
  // The source under tsx by default; the bench and the build test pass the built dist/main.js.
  { env = {}, wrapper = [], entry = 'src/main.ts' }: SpawnOptions & { entry?: string } = {},
): Promise<ChildService> {
  return spawnServer(entry, {
    env: {
      DATABASE_URL: databaseUrl,
      AUTH_JWT_SECRET: TEST_SECRET,
      CHECKPOINT_KEY_FILE: testCheckpointKeyFile(),
      ...env,
    },
    wrapper,
  });
}

/**
 * Starts any server script the way spawnService starts the service: PORT=0 on loopback,
 * ready once it prints a JSON line with its `url` (as the service's start-up log does).
 */
export function spawnServer(entry: string, { env = {}, wrapper = [] }: SpawnOptions = {}): Promise<ChildService> {
  // A built entry (dist/*.js) runs as `npm start` runs it; source runs under tsx.
  const loader = entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const command = [...wrapper, process.execPath, ...loader, entry];
  const child = spawn(command[0], command.slice(1), {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 2 * OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
  };
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', keep);
    child.stdout.on('data', (chunk: Buffer) => {
      keep(chunk);
      if (service) return; // ready already: only keep the output
      const url = /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1];
      if (!url) return;
      service = {
        url,
        pid: child.pid!,
        process: child,
        output: () => output,
        alive: () => child.exitCode === null && child.signalCode === null,
        exited,
        kill: (signal = 'SIGKILL') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      };
      running.add(service);
      void exited.then(() => running.delete(service!));
      resolve(service);
    });
    let service: ChildService | undefined;
    void exited.then(({ code, signal }) => {
      if (!service) reject(new Error(`${entry} exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
}

/** SIGKILLs every service still running; for after/afterEach hooks. */
export async function killServices(): Promise<void> {
  await Promise.all([...running].map((service) => service.kill('SIGKILL')));
}

// A test run that ends abruptly (mocha's --exit) must not leave servers behind.
process.once('exit', () => {
  for (const service of running) service.process.kill('SIGKILL');
});

/** npm run verify -- --offline …, as a user runs it: its exit code and output. */
export function verifyOffline(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/verify.ts', '--offline', ...args],
      { timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error.code as number) ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}
