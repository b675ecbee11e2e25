// `npm run verify -- --offline`: verifies an export against a signed checkpoint with nothing but the
// client package's checks (src/client), as anyone holding the files and the verifier key can: no
// network, no database, none of the server's code.
//   npm run verify -- --offline --key KEY [--key KEY…] [--checkpoint FILE] --export FILE [--max-problems N]
// Exit status: 0 everything verifies, 1 something does not (one line per problem), 2 any other error.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  createTreeBuilder,
  leafHashOf,
  originIsForTenant,
  parseVerifierKey,
  verifyCheckpoint,
  verifyInclusion,
  VerificationError,
  type Checkpoint,
  type StoredAuditEvent,
  type VerifierKey,
} from '../src/client/index';

export const OFFLINE_USAGE =
  'usage: npm run verify -- --offline --key KEY|KEY_FILE [--key …] [--checkpoint CHECKPOINT_FILE] --export EXPORT_FILE [--max-problems N]';
const DEFAULT_MAX_PROBLEMS = 20;

/** Anything that is not a verification result: bad arguments, unreadable files, malformed JSON (exit 2). */
class UsageError extends Error {}

/** Where the command writes: stdout for results and problems, stderr for exit-2 errors. */
export interface Output {
  log(line: string): void;
  error(line: string): void;
}

/** Runs the offline verification and returns its exit status. */
export async function verifyOffline(argv: readonly string[], out: Output = console): Promise<number> {
  try {
    const options = readOptions(argv);
    return await verifyExport(options, out);
  } catch (error) {
    // Anything unforeseen is "any other error" too, never the exit 1 of a broken log.
    out.error(
      error instanceof UsageError ? `verify: ${error.message}` : `verify: unexpected error: ${(error as Error).stack}`,
    );
    return 2;
  }
}

interface Options {
  keys: VerifierKey[];
  checkpointFile?: string;
  exportFile: string;
  maxProblems: number;
}

function readOptions(argv: readonly string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        offline: { type: 'boolean' },
        key: { type: 'string', multiple: true },
        checkpoint: { type: 'string' },
        export: { type: 'string' },
        'max-problems': { type: 'string' },
      },
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${OFFLINE_USAGE}`);
  }
  if (!values.export) throw new UsageError(`--export is required\n${OFFLINE_USAGE}`);
  if (!values.key?.length) throw new UsageError(`--key is required\n${OFFLINE_USAGE}`);
  const maxProblems = values['max-problems'] === undefined ? DEFAULT_MAX_PROBLEMS : Number(values['max-problems']);
  if (!Number.isSafeInteger(maxProblems) || maxProblems < 1) {
    throw new UsageError(`--max-problems must be a positive integer, not ${values['max-problems']}`);
  }
  return {
    keys: values.key.flatMap(readKeys),
    checkpointFile: values.checkpoint,
    exportFile: values.export,
    maxProblems,
  };
}

/**
 * A --key value: a file of verifier keys, one a line (blank lines and # comments skipped), as
 * GET /audits/checkpoint/key answers them; or else one key's text.
 */
function readKeys(value: string): VerifierKey[] {
  const isFile = statSync(value, { throwIfNoEntry: false })?.isFile() ?? false;
  const lines = isFile
    ? readText(value, '--key')
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('#'))
    : [value];
  if (lines.length === 0) throw new UsageError(`--key ${value}: the file holds no verifier key`);
  return lines.map((line, i) => {
    try {
      return parseVerifierKey(line);
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      const where = isFile ? `--key ${value}, line ${i + 1}` : `--key ${value}`;
      throw new UsageError(`${where}: ${error.message}${isFile ? '' : ' (and no such file)'}`);
    }
  });
}

function readText(file: string, what: string): string {
  return readBytes(file, what).toString('utf8');
}

function readBytes(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UsageError(`${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The problems found so far; past the limit, verification stops. */
class Problems {
  count = 0;
  constructor(
    private readonly out: Output,
    private readonly limit: number,
  ) {}

  add(line: string): void {
    this.count++;
    this.out.log(line);
  }

  get full(): boolean {
    return this.count >= this.limit;
  }
}

async function verifyExport(options: Options, out: Output): Promise<number> {
  const problems = new Problems(out, options.maxProblems);
  const given = options.checkpointFile === undefined ? undefined : readBytes(options.checkpointFile, '--checkpoint');
  const lines = exportLines(options.exportFile);

  try {
    return await verifyLines(options, out, problems, given, lines);
  } finally {
    await lines.return(undefined); // closes the file when verification stops early
  }
}

async function verifyLines(
  options: Options,
  out: Output,
  problems: Problems,
  given: Buffer | undefined,
  lines: AsyncGenerator<{ number: number; json: unknown }>,
): Promise<number> {
  const first = await lines.next();
  const firstLine = first.done ? undefined : first.value;
  const headed = firstLine !== undefined && isRecord(firstLine.json) && 'checkpoint' in firstLine.json;
  if (headed && typeof (firstLine.json as { checkpoint: unknown }).checkpoint !== 'string') {
    throw new UsageError(`${options.exportFile}, line 1: "checkpoint" is not a string`);
  }
  const noteOf = (note: string | Uint8Array, what: string): Checkpoint | undefined => {
    try {
      return verifyCheckpoint(note, options.keys);
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      problems.add(`${what}: ${error.message}`);
      return undefined;
    }
  };
  const fromExport = headed
    ? noteOf((firstLine.json as { checkpoint: string }).checkpoint, 'the export’s checkpoint')
    : undefined;
  const fromFile = given && noteOf(given, `--checkpoint ${options.checkpointFile}`);
  if (!headed && given === undefined) {
    throw new UsageError(
      `${options.exportFile} does not start with a checkpoint line (export with proofs=true), so --checkpoint is needed`,
    );
  }
  if ((headed && !fromExport) || (given && !fromFile)) return broken(out, problems);
  const checkpoint = (fromFile ?? fromExport)!;
  if (fromFile && fromExport) {
    if (fromFile.treeSize === fromExport.treeSize && fromFile.rootHash !== fromExport.rootHash) {
      problems.add(
        `checkpoint: the export's checkpoint and --checkpoint both sign tree size ${checkpoint.treeSize} with different roots: the log was forked`,
      );
      return broken(out, problems);
    }
    if (fromFile.treeSize !== fromExport.treeSize) {
      throw new UsageError(
        `the export was cut against a checkpoint of tree size ${fromExport.treeSize}, --checkpoint is of size ${fromFile.treeSize}: ` +
          'omit --checkpoint, or verify an export cut against it',
      );
    }
  }

  const size = checkpoint.treeSize;
  const seen = new Uint8Array(Math.ceil(size / 8)); // one bit per seq, so that duplicates and gaps show
  // With proofs, each event is proved on its own, and while the export runs in seq order a frontier
  // (O(log n)) also recomputes the root. Without proofs only the root vouches for the events, and
  // exports run in timestamp order, so every leaf hash is kept by seq (32 bytes per event).
  const inOrder = createTreeBuilder();
  let ordered = true;
  const leaves = headed ? undefined : allocateLeaves(size);
  let distinct = 0;

  for (let next = headed ? await lines.next() : first; !next.done && !problems.full; next = await lines.next()) {
    const { number, json } = next.value;
    if (!isRecord(json)) throw new UsageError(`${options.exportFile}, line ${number}: not a JSON object`);
    const { inclusionProof, ...event } = json;
    const seq = event.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
      problems.add(`line ${number}: its seq is not a positive integer`);
      continue;
    }
    const at = `seq ${seq}`;
    if (typeof event.imsOrgId !== 'string' || !originIsForTenant(checkpoint.origin, event.imsOrgId)) {
      problems.add(
        `${at}: it is of tenant ${String(event.imsOrgId)}, not of the checkpoint's log ${checkpoint.origin}`,
      );
      continue;
    }
    if (seq > size) {
      problems.add(`${at}: it is past the checkpoint's tree of ${size} events`);
      continue;
    }
    const [byte, bit] = [Math.floor((seq - 1) / 8), 1 << ((seq - 1) % 8)];
    if (seen[byte] & bit) {
      problems.add(`${at}: it appears more than once`);
      continue;
    }
    seen[byte] |= bit;
    distinct++;
    let leaf: string;
    try {
      leaf = leafHashOf(event as StoredAuditEvent);
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      problems.add(`${at}: ${error.message}`);
      continue;
    }
    if (leaf !== event.leafHash) {
      problems.add(`${at}: its content does not match its leafHash: it was changed after it was logged`);
      continue;
    }
    if (leaves) {
      leaves.set(Buffer.from(leaf, 'base64'), (seq - 1) * 32);
      continue;
    }
    if (ordered && seq === inOrder.size + 1) inOrder.append(leaf);
    else ordered = false;
    if (inclusionProof === undefined) {
      problems.add(`${at}: it has no inclusionProof`);
      continue;
    }
    const proved = verifyInclusion({
      leafHash: leaf,
      leafIndex: seq - 1,
      treeSize: size,
      proof: inclusionProof as string[],
      rootHash: checkpoint.rootHash,
    });
    if (!proved) problems.add(`${at}: its inclusionProof does not lead to the checkpoint's root`);
  }
  if (problems.full) {
    out.log(`stopped after ${problems.count} problems (--max-problems)`);
    return broken(out, problems);
  }

  const signed = `checkpoint ${checkpoint.origin} tree size ${size}, signed by ${checkpoint.keyName}+${checkpoint.keyId}`;
  if (distinct === size) {
    const root = leaves ? rootOf(leaves, size) : ordered ? inOrder.root() : undefined;
    if (root !== undefined && root !== checkpoint.rootHash) {
      problems.add(`the export's ${size} events do not make the checkpoint's root`);
    }
    if (problems.count > 0) return broken(out, problems);
    const how = root === undefined ? 'each by its inclusion proof' : 'and they make its root';
    out.log(`OK: the export is the whole log at ${signed}: all ${size} events verified, ${how}`);
    return 0;
  }
  if (leaves) {
    // Without proofs only the whole tree proves anything: a missing event is a broken log (or a
    // filtered export, which cannot be checked this way).
    const missing: number[] = [];
    for (let seq = 1; seq <= size && missing.length < 10; seq++) {
      if (!(seen[(seq - 1) >> 3] & (1 << ((seq - 1) & 7)))) missing.push(seq);
    }
    problems.add(
      `the export holds ${distinct} of the ${size} events of the checkpoint's tree (missing: seq ${missing.join(', ')}` +
        `${size - distinct > missing.length ? ', …' : ''}): they were deleted, or the export was filtered ` +
        '(export the whole tenant, or with proofs=true)',
    );
  }
  if (problems.count > 0) return broken(out, problems);
  out.log(
    `OK: ${distinct} events verified by their inclusion proofs to ${signed} (a partial export: ${size - distinct} of the log's events are not in it)`,
  );
  return 0;
}

function broken(out: Output, problems: Problems): number {
  out.log(`BROKEN: ${problems.count} ${problems.count === 1 ? 'problem' : 'problems'}`);
  return 1;
}

/** Room for every leaf hash of a tree, for an export without proofs. */
function allocateLeaves(size: number): Uint8Array {
  if (size > MAX_PROOFLESS_EVENTS) {
    throw new UsageError(
      `a tree of ${size} events is too large to verify without inclusion proofs (at most ${MAX_PROOFLESS_EVENTS}): export with proofs=true`,
    );
  }
  return new Uint8Array(size * 32);
}

/** 2^26 leaf hashes are 2 GiB. */
const MAX_PROOFLESS_EVENTS = 2 ** 26;

function rootOf(leaves: Uint8Array, size: number): string {
  const tree = createTreeBuilder();
  for (let i = 0; i < size; i++) tree.append(Buffer.from(leaves.subarray(i * 32, (i + 1) * 32)).toString('base64'));
  return tree.root();
}

/** The export's lines, parsed one at a time as they are read: the file is never held whole. */
async function* exportLines(file: string): AsyncGenerator<{ number: number; json: unknown }> {
  const stream = createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (error) {
    throw new UsageError(`--export ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const reader = createInterface({ input: stream, crlfDelay: Infinity });
  let number = 0;
  try {
    for await (const line of readLines(reader, file)) {
      number++;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch (error) {
        throw new UsageError(`${file}, line ${number}: malformed JSON (${(error as Error).message})`);
      }
      yield { number, json };
    }
  } finally {
    reader.close();
    stream.destroy();
  }
}

/** The reader's lines; a read error (a directory, an I/O fault) is a usage error, exit 2. */
async function* readLines(reader: AsyncIterable<string>, file: string): AsyncGenerator<string> {
  try {
    yield* reader;
  } catch (error) {
    throw new UsageError(`--export ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
