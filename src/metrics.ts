import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PoolStats } from './store/db';

/** What the gauges read at scrape time: the writer's queue and the connections commits use. */
export interface MetricSources {
  writeQueueDepth(): number;
  poolStats(): PoolStats;
}

/** Every metric the service exposes on GET /metrics (the spec lists them). */
export class Metrics {
  // One registry per app, not prom-client's global one, so that several services in one
  // process (the tests) count separately and never register a metric twice.
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'audit_http_requests_total',
    help: 'HTTP requests answered, by operationId ("none" when no operation matched) and status.',
    labelNames: ['operationId', 'status'] as const,
    registers: [this.registry],
  });

  private readonly requestDuration = new Histogram({
    name: 'audit_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by operationId.',
    labelNames: ['operationId'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  private readonly eventsAccepted = new Counter({
    name: 'audit_events_accepted_total',
    help: 'Audit events committed to the database.',
    registers: [this.registry],
  });

  private readonly eventsRejected = new Counter({
    name: 'audit_events_rejected_total',
    help: 'Requests to post audit events that were refused, by ErrorResponse reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  private readonly batchSize = new Histogram({
    name: 'audit_event_batch_size',
    help: 'Audit events per committed write request.',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
    registers: [this.registry],
  });

  // The log monitor's findings, over all tenants: no per-tenant label, so the series count stays fixed.
  private readonly monitorEvents = new Counter({
    name: 'audit_monitor_events_verified_total',
    help: 'Events the log monitor recomputed and found in their trees.',
    registers: [this.registry],
  });

  private readonly monitorFailures = new Counter({
    name: 'audit_monitor_failures_total',
    help: 'Tenant logs the monitor found broken or inconsistent with its last verified checkpoint (each round counts again).',
    registers: [this.registry],
  });

  constructor(sources: MetricSources) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'audit_write_queue_depth',
      help: 'Audit events waiting to be written.',
      registers: [this.registry],
      collect() {
        this.set(sources.writeQueueDepth());
      },
    });
    new Gauge({
      name: 'audit_db_pool_connections',
      help: 'Database connections commits use (on PostgreSQL the pool, shared with reads), by state (used, free).',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const { used, free } = sources.poolStats();
        this.set({ state: 'used' }, used);
        this.set({ state: 'free' }, free);
      },
    });
    new Gauge({
      name: 'audit_db_pool_pending_acquires',
      help: 'Commits (on PostgreSQL also queries) waiting for a database connection.',
      registers: [this.registry],
      collect() {
        this.set(sources.poolStats().pendingAcquires);
      },
    });
  }

  recordRequest(operationId: string, status: number, seconds: number): void {
    this.requests.inc({ operationId, status: String(status) });
    this.requestDuration.observe({ operationId }, seconds);
  }

  /** One committed write request of `count` events. */
  recordAccepted(count: number): void {
    this.eventsAccepted.inc(count);
    this.batchSize.observe(count);
  }

  recordRejected(reason: string): void {
    this.eventsRejected.inc({ reason });
  }

  recordMonitorVerified(events: number): void {
    this.monitorEvents.inc(events);
  }

  recordMonitorFailure(): void {
    this.monitorFailures.inc();
  }

  /** The Prometheus text exposition of every metric. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }
}
