// The built-in log monitor (#13). Every interval, for each tenant, it verifies what was appended
// since the checkpoint it verified last, as an outside monitor of a transparency log would: the
// new signed checkpoint's signature, a consistency proof from the last one, and every new event
// recomputed into the tree (LogStore.verify with `since`). It keeps the newest checkpoint that
// passed, in memory: a rewrite of anything it already verified shows up as an inconsistency, even
// if the rewriter also fixed the stored tree. An edit that leaves the stored tree alone (a field
// changed, its leaf hash not) is found by recomputing the old events too, which every
// `fullEvery`-th round does (and the first round, after a start). A finding is logged (tenant and
// seq, never an event's contents) and counted, and the round goes on with the next tenant.
import type { Logger } from 'pino';
import type { CheckpointNotary } from './domain/checkpoints';
import { openNote, parseCheckpoint, parseVerifierKey } from './domain/note';
import { verifyConsistency } from './domain/merkle';
import type { Metrics } from './metrics';
import type { LogStore } from './store/logStore';
import { forEachTenant, Rounds } from './rounds';

/** What the monitor verified last for a tenant. */
interface Verified {
  size: number;
  rootHash: string;
}

export interface MonitorFinding {
  imsOrgId: string;
  brokenAt: number;
  reason: string;
}

export class LogMonitor {
  private readonly verified = new Map<string, Verified>();
  private readonly rounds: Rounds<MonitorFinding[]>;
  private roundsRun = 0;

  constructor(
    private readonly log: LogStore,
    private readonly notary: CheckpointNotary,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    intervalMs: number,
    private readonly fullEvery: number,
  ) {
    this.rounds = new Rounds(intervalMs);
  }

  /** Runs a round every interval (0: never). */
  start(): void {
    this.rounds.start(() => this.runRound());
  }

  /** Waits for a round in progress; starts no more. */
  stop(): Promise<void> {
    return this.rounds.stop();
  }

  /** One round over every tenant; what it found (also logged and counted). One round at a time. */
  runRound({ full = this.roundsRun % this.fullEvery === 0 } = {}): Promise<MonitorFinding[]> {
    this.roundsRun++;
    return this.rounds.run(async () => {
      const findings: MonitorFinding[] = [];
      await forEachTenant(
        this.log,
        this.logger,
        'log monitor',
        () => this.rounds.stopped,
        async (org) => {
          // A database that cannot answer is logged by forEachTenant: it is not a finding about the log.
          const finding = await this.check(org, full);
          if (!finding) return;
          findings.push(finding);
          this.metrics.recordMonitorFailure();
          this.logger.error(
            finding,
            `log monitor: tenant's log is broken at seq ${finding.brokenAt}: ${finding.reason}`,
          );
        },
      );
      return findings;
    });
  }

  private async check(imsOrgId: string, full: boolean): Promise<MonitorFinding | undefined> {
    const last = this.verified.get(imsOrgId);
    const head = await this.log.head(imsOrgId);
    const found = (brokenAt: number, reason: string) => ({ imsOrgId, brokenAt, reason });
    // The checkpoint as clients get it: signed, and its signature checks with the published keys.
    const note = this.notary.sign(imsOrgId, head.size, Buffer.from(head.rootHash, 'base64'));
    const keys = this.notary.verifierKeys().trim().split('\n').map(parseVerifierKey);
    const checkpoint = parseCheckpoint(openNote(note, keys).text);
    if (last && last.size > 0) {
      if (checkpoint.size < last.size) {
        return found(checkpoint.size + 1, `the log shrank from ${last.size} events to ${checkpoint.size}`);
      }
      if (checkpoint.size === last.size) {
        if (head.rootHash !== last.rootHash) {
          return found(last.size, `the root of the tree of size ${last.size} changed since it was verified`);
        }
        if (!full) return undefined;
      } else {
        const { proof } = await this.log.consistencyProof(imsOrgId, last.size, checkpoint.size);
        if (
          !verifyConsistency(
            last.size,
            checkpoint.size,
            Buffer.from(last.rootHash, 'base64'),
            checkpoint.rootHash,
            proof,
          )
        ) {
          return found(
            last.size,
            `the checkpoint of size ${checkpoint.size} is not consistent with the one of size ${last.size} verified before`,
          );
        }
      }
    }
    const result = await this.log.verify(imsOrgId, last && !full ? { since: last.size, sinceRoot: last.rootHash } : {});
    if (!result.verified) return found(result.brokenAt ?? 0, result.reason ?? 'verification failed');
    // Verified up to the head as verification read it; a commit since then waits for the next round.
    if (result.treeSize === checkpoint.size && result.rootHash === head.rootHash) {
      this.verified.set(imsOrgId, { size: result.treeSize, rootHash: result.rootHash });
    }
    this.metrics.recordMonitorVerified(result.count);
    return undefined;
  }
}
