// The keys that sign checkpoints, read at start-up: CHECKPOINT_KEY_FILE, or in dev mode a key
// generated once under the data directory. Key material never appears in an error or a warning.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { ConfigError, type CheckpointKeysConfig } from './config';
import { CheckpointNotary, type NotaryOptions } from './domain/checkpoints';
import { AuditError } from './domain/errors';
import { generateSignerKey, parseSignerKey, verifierKeyOf, type Signer } from './domain/note';

/** The name of the dev-mode key, and so the first part of every dev log's origin. */
export const DEV_KEY_NAME = 'audit.localhost';

export interface LoadOptions extends NotaryOptions {
  /** Told about a key file that group or others may read (e.g. the service logger's warn). */
  warn?: (message: string) => void;
}

/**
 * The notary for the configured keys. Throws ConfigError naming the file (and the line) when the
 * file cannot be read or holds anything but private keys of one name; warns, but starts, when the
 * file's mode lets group or others in, since mounted secrets (Kubernetes' default 0644) often do.
 */
export function loadCheckpointNotary(
  { checkpointKeys }: { checkpointKeys: CheckpointKeysConfig },
  { warn = () => {}, ...options }: LoadOptions = {},
): CheckpointNotary {
  const { file } = checkpointKeys;
  const label = checkpointKeys.mode === 'file' ? `CHECKPOINT_KEY_FILE ${file}` : `dev checkpoint key file ${file}`;
  if (checkpointKeys.mode === 'dev' && !existsSync(file)) {
    try {
      createDevKeyFile(file);
    } catch (error) {
      throw new ConfigError(`${label}: cannot create it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  }
  const { text, mode } = readKeyFile(file, label);
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    warn(`${label} has mode ${(mode & 0o777).toString(8)}: group or others may read the signing keys; chmod 600 it`);
  }
  return new CheckpointNotary(parseKeyFile(text, label), options);
}

/**
 * The signers of a key file's text, in its order (newest first): one Go note private key
 * (`PRIVATE+KEY+<name>+<id>+<key>`) a line; blank lines and lines starting with '#' are skipped.
 * `label` names the file in errors.
 */
export function parseKeyFile(text: string, label: string): Signer[] {
  const signers: { signer: Signer; line: number }[] = [];
  for (const [index, raw] of text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .entries()) {
    const line = index + 1;
    const entry = raw.trim();
    if (entry === '' || entry.startsWith('#')) continue;
    const signer = parseKey(entry, `${label} line ${line}`);
    const first = signers[0];
    if (first && signer.name !== first.signer.name) {
      throw new ConfigError(
        `${label} line ${line}: key name "${signer.name}" differs from line ${first.line}'s "${first.signer.name}"; ` +
          'all keys of a log share its name, which is part of every checkpoint origin',
      );
    }
    const twin = signers.find((other) => other.signer.keyId === signer.keyId);
    if (twin) throw new ConfigError(`${label} line ${line}: the same key as line ${twin.line}`);
    signers.push({ signer, line });
  }
  if (signers.length === 0)
    throw new ConfigError(`${label} holds no key (expected PRIVATE+KEY+<name>+<id>+<key> lines)`);
  return signers.map(({ signer }) => signer);
}

/** A signer key line, or a ConfigError naming `where` and the problem (parseSignerKey's messages hold no key). */
function parseKey(entry: string, where: string): Signer {
  if (!entry.startsWith('PRIVATE+KEY+') && /^[^+\s]+\+[0-9a-fA-F]{8}\+/.test(entry)) {
    throw new ConfigError(`${where}: this is a verifier (public) key; the file holds private keys (npm run keygen)`);
  }
  try {
    return parseSignerKey(entry);
  } catch (error) {
    if (error instanceof AuditError) throw new ConfigError(`${where}: ${error.message}`);
    throw error;
  }
}

function readKeyFile(file: string, label: string): { text: string; mode: number } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new ConfigError(`${label}: cannot open it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  try {
    // The mode and the text of one open file, not of two lookups of its name.
    return { mode: fstatSync(fd).mode, text: readFileSync(fd, 'utf8') };
  } catch (error) {
    throw new ConfigError(`${label}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  } finally {
    closeSync(fd);
  }
}

/** Creates the dev-mode key file, mode 0600, unless it exists; of processes starting at once, one key wins. */
function createDevKeyFile(file: string): void {
  const key = generateSignerKey(DEV_KEY_NAME);
  const comment =
    `# Dev-mode checkpoint key, generated ${new Date().toISOString()}; its verifier key is\n` +
    `# ${verifierKeyOf(parseSignerKey(key))}\n`;
  writeFileOnce(file, `${comment}${key}\n`);
}

/**
 * Publishes `content` at `file` unless something is there already, and says whether it did.
 * The content is written in full to a private temporary file first and then hard-linked into
 * place, which fails if the name exists: a reader never sees a partly written file (as it could
 * after open(O_EXCL) and before write), and of concurrent writers exactly one wins.
 */
export function writeFileOnce(file: string, content: string): boolean {
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      writeFileSync(fd, content);
      // A key that checkpoints were signed with must not vanish in a crash.
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temporary, file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  } finally {
    rmSync(temporary, { force: true });
  }
}
