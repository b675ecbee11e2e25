import type { ErrorDetail } from '../domain/api';

/** Enough to fix a request by; more would only make a 400 large and slow. */
export const MAX_LISTED_PROBLEMS = 100;
/** A path into a deeply nested body, or a message quoting a long key, is cut to this. */
const MAX_PATH_LENGTH = 200;
const MAX_MESSAGE_LENGTH = 300;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The problems found in one request, every kind together (text rules, schema errors), listed up
 * to a bound and counted beyond it, so that no input can make an error body large.
 */
export class ProblemList {
  readonly listed: ErrorDetail[] = [];
  private unlisted = 0;

  constructor(private readonly max = MAX_LISTED_PROBLEMS) {}

  add(path: string, message: string): void {
    if (this.full) this.unlisted++;
    else this.listed.push({ path: clip(path, MAX_PATH_LENGTH), message: clip(message, MAX_MESSAGE_LENGTH) });
  }

  /** Once full, a problem need only be counted: describing it would be wasted work. */
  get full(): boolean {
    return this.listed.length >= this.max;
  }

  count(): void {
    this.unlisted++;
  }

  get empty(): boolean {
    return this.listed.length === 0 && this.unlisted === 0;
  }

  /** The listed problems, plus one entry saying how many more there were. */
  details(): ErrorDetail[] {
    if (this.unlisted === 0) return this.listed;
    return [...this.listed, { message: `and ${this.unlisted} more problem${this.unlisted === 1 ? '' : 's'}` }];
  }

  message(): string {
    return this.details()
      .map((p) => (p.path ? `${p.path} ${p.message}` : p.message))
      .join('; ');
  }
}

interface Visit {
  value: unknown;
  /** The key or index under which the parent holds this value; paths are built only for problems. */
  segment: string;
  parent?: Visit;
  rootPath?: string;
}

/**
 * The spec's text rule: PostgreSQL cannot store NUL, and UTF-8 cannot encode an unpaired surrogate,
 * so neither would be kept exactly as sent. Walks the value with an explicit stack, so no nesting
 * depth reachable from input can overflow the call stack.
 */
export function checkStorableText(root: unknown, rootPath: string, problems: ProblemList): void {
  const stack: Visit[] = [{ value: root, segment: '', rootPath }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const { value } = visit;
    if (typeof value === 'string') {
      checkString(value, () => pathOf(visit), problems);
    } else if (Array.isArray(value)) {
      // Pushed in reverse, so problems are listed in document order.
      for (let i = value.length - 1; i >= 0; i--)
        stack.push({ value: value[i] as unknown, segment: String(i), parent: visit });
    } else if (value !== null && typeof value === 'object') {
      const keys = Object.keys(value);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i];
        stack.push({ value: (value as Record<string, unknown>)[key], segment: key, parent: visit });
        checkString(key, () => `${pathOf(visit)} key ${JSON.stringify(key.slice(0, 64))}`, problems);
      }
    }
  }
}

/** How many JSON values `root` holds, itself included; iterative, like checkStorableText. */
export function countValues(root: unknown): number {
  const stack: unknown[] = [root];
  let count = 0;
  while (stack.length > 0) {
    const value = stack.pop();
    count++;
    if (Array.isArray(value)) for (const item of value) stack.push(item);
    else if (value !== null && typeof value === 'object') for (const item of Object.values(value)) stack.push(item);
  }
  return count;
}

function pathOf(visit: Visit): string {
  const segments: string[] = [];
  let at: Visit | undefined = visit;
  for (; at?.parent; at = at.parent) segments.push(at.segment);
  return segments.reduceRight(joinPath, at?.rootPath ?? '');
}

function checkString(value: string, path: () => string, problems: ProblemList): void {
  if (value.includes('\u0000')) problems.add(path(), 'must not contain NUL characters');
  if (!value.isWellFormed()) problems.add(path(), 'is not well-formed Unicode');
}

/** `body.service.serviceId`, `body[3]`, `body.tags["a b"]`: a path as a client writes it. */
export function joinPath(path: string, segment: string): string {
  if (/^\d+$/.test(segment)) return `${path}[${segment}]`;
  return /^[A-Za-z_$][\w$]*$/.test(segment) ? `${path}.${segment}` : `${path}[${JSON.stringify(segment)}]`;
}
