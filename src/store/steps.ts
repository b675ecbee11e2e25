// Helpers for reads that must not hold the event loop (SQLite answers synchronously).

/**
 * Lets other requests run before a read's next step: SQLite answers synchronously, so a long
 * read must step aside. Steps waiting here go one per turn of the event loop, in order: every
 * waiting setImmediate would otherwise run in the same turn, so concurrent long reads would
 * together hold the loop for the sum of their steps.
 */
const waiting: (() => void)[] = [];
export function turn(): Promise<void> {
  return new Promise((resolve) => {
    if (waiting.push(resolve) === 1) setImmediate(runNextStep);
  });
}
function runNextStep(): void {
  waiting.shift()!();
  if (waiting.length > 0) setImmediate(runNextStep);
}

/** The keys, in read order, whose sizes fit `maxBytes` together: at least the first. */
export function withinBytes<T extends { size: number | string }>(keys: T[], maxBytes: number): T[] {
  let bytes = 0;
  const fitting = keys.findIndex((key, i) => (bytes += Number(key.size)) > maxBytes && i > 0);
  return fitting === -1 ? keys : keys.slice(0, fitting);
}
