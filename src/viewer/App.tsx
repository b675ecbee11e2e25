// The viewer's page: sign in, then browse, filter, page, export, follow and verify a tenant's events.
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, ApiError, devSignIn, type BusyNotice, type EventPage, type StoredAuditEvent } from './api';
import { sessionOf, type Session } from './session';
import { SseParser } from './sse';
import { currentSize, verifyEvent, verifyLog, type Outcome } from './verification';
import { FILTER_NAMES, formatView, matches, parseView, type FilterName, type Filters, type View } from './view';

export function App() {
  const [session, setSession] = useState<Session>();
  const [notice, setNotice] = useState<string>();
  return (
    <>
      <header class="top">
        <h1>Audit log viewer</h1>
        <nav aria-label="Elsewhere">
          <a href="/docs">API reference</a>
        </nav>
        {session && (
          <p class="who">
            Signed in as <strong>{session.clientId}</strong>
            {session.expiresAt !== undefined && <> until {new Date(session.expiresAt).toLocaleTimeString()}</>}{' '}
            <button type="button" class="secondary" onClick={() => setSession(undefined)}>
              Sign out
            </button>
          </p>
        )}
      </header>
      {session ? (
        <Browser
          session={session}
          onSignedOut={(message) => {
            setNotice(message);
            setSession(undefined);
          }}
        />
      ) : (
        <SignIn
          notice={notice}
          onSignIn={(signedIn) => {
            setNotice(undefined);
            setSession(signedIn);
          }}
        />
      )}
    </>
  );
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether this server offers the dev sign-in: a loopback page, and POST /dev/token exists (HEAD: 405, not 404). */
async function devSignInOffered(): Promise<boolean> {
  if (!LOOPBACK_HOSTS.has(location.hostname)) return false;
  try {
    return (await fetch('/dev/token', { method: 'HEAD' })).status === 405;
  } catch {
    return false;
  }
}

function SignIn({ notice, onSignIn }: { notice?: string; onSignIn: (session: Session) => void }) {
  const [clientId, setClientId] = useState('');
  const [token, setToken] = useState('');
  const [pinnedKey, setPinnedKey] = useState('');
  const [problem, setProblem] = useState<string>();
  const [devOffered, setDevOffered] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => {
    void devSignInOffered().then(setDevOffered);
    first.current?.focus();
  }, []);
  const submit = (event: Event) => {
    event.preventDefault();
    const session = sessionOf(clientId, token, pinnedKey);
    if (typeof session === 'string') setProblem(session);
    else onSignIn(session);
  };
  const asDeveloper = async () => {
    const minted = await devSignIn();
    if (minted instanceof ApiError) return setProblem(minted.message);
    const session = sessionOf(minted.clientId, minted.token, pinnedKey);
    if (typeof session === 'string') setProblem(session);
    else onSignIn(session);
  };
  return (
    <main class="sign-in">
      <h2>Sign in</h2>
      {notice && (
        <p class="message error" role="alert">
          {notice}
        </p>
      )}
      <form onSubmit={submit} aria-describedby="sign-in-help">
        <p id="sign-in-help" class="help">
          Paste a client id and a bearer token with scope <code>audit.read</code>. The token stays in this page's memory
          only: it is never stored and never put in the address; reloading the page signs you out.
        </p>
        <label for="client-id">Client id (x-api-key)</label>
        <input
          id="client-id"
          ref={first}
          value={clientId}
          autocomplete="off"
          spellcheck={false}
          onInput={(e) => setClientId(e.currentTarget.value)}
        />
        <label for="token">Bearer token</label>
        <textarea
          id="token"
          rows={3}
          value={token}
          autocomplete="off"
          spellcheck={false}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <label for="pinned-key">Verifier key to pin (optional)</label>
        <input
          id="pinned-key"
          value={pinnedKey}
          autocomplete="off"
          spellcheck={false}
          placeholder="audit.example+6f6bc5a2+AQ…"
          aria-describedby="pinned-key-help"
          onInput={(e) => setPinnedKey(e.currentTarget.value)}
        />
        <p id="pinned-key-help" class="help">
          The key checkpoints must be signed with, obtained out of band. Without one the page fetches the server's key
          once and shows which it used.
        </p>
        {problem && (
          <p class="message error" role="alert">
            {problem}
          </p>
        )}
        <div class="actions">
          <button type="submit">Sign in</button>
          {devOffered && (
            <button type="button" class="secondary" onClick={() => void asDeveloper()}>
              Sign in as developer
            </button>
          )}
        </div>
        {devOffered && (
          <p class="help">
            Dev mode: "Sign in as developer" gets a 15-minute, read-only token for every tenant from this server.
          </p>
        )}
      </form>
    </main>
  );
}

type Status = { kind: 'error' | 'info'; text: string } | undefined;

function Browser({ session, onSignedOut }: { session: Session; onSignedOut: (message: string) => void }) {
  const [view, setView] = useState<View>(() => parseView(location.hash));
  const [page, setPage] = useState<EventPage>();
  const [loading, setLoading] = useState(false);
  const [status, setStatus] = useState<Status>();
  const [busy, setBusy] = useState<Parameters<BusyNotice>[0]>();
  const [detail, setDetail] = useState<StoredAuditEvent>();
  const [verified, setVerified] = useState<Outcome & { id: string }>();
  const [logOutcome, setLogOutcome] = useState<Outcome>();
  const [live, setLive] = useState(false);
  const [liveEvents, setLiveEvents] = useState<StoredAuditEvent[]>([]);
  const [liveStatus, setLiveStatus] = useState('');
  const api = useMemo(() => new Api(session, setBusy), [session]);
  const filtersRef = useRef(view.filters);
  filtersRef.current = view.filters;

  const fail = (error: unknown) => {
    if ((error as Error).name === 'AbortError') return;
    if (error instanceof ApiError && error.kind === 'unauthorized') return onSignedOut(error.message);
    setStatus({ kind: 'error', text: error instanceof Error ? error.message : String(error) });
  };
  const navigate = (next: View) => {
    const hash = formatView(next);
    if (hash !== location.hash) location.hash = hash;
    else setView(next);
  };

  useEffect(() => {
    const onHash = () => setView(parseView(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  // A token for some tenants opens on its first one.
  useEffect(() => {
    if (!view.org && Array.isArray(session.orgs) && session.orgs.length > 0) {
      navigate({ ...view, org: session.orgs[0] });
    }
  }, [session]);

  const listKey = JSON.stringify([view.org, view.filters, view.cursor]);
  useEffect(() => {
    if (!view.org) return;
    let current = true;
    setLoading(true);
    setStatus(undefined);
    api
      .list(view.org, view.filters, view.cursor)
      .then((result) => {
        if (!current) return;
        setPage(result);
        // A fresh first page holds the events that arrived live before it.
        if (!view.cursor) setLiveEvents([]);
      })
      .catch((error: unknown) => {
        if (!current) return;
        setPage(undefined);
        fail(error);
      })
      .finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
  }, [listKey, api]);

  // The open event: from the page when it is there, else read (a shared link).
  useEffect(() => {
    if (!view.event) return setDetail(undefined);
    const shown = [...liveEvents, ...(page?.items ?? [])].find((event) => event.id === view.event);
    if (shown) return setDetail(shown);
    let current = true;
    api
      .event(view.event)
      .then((event) => current && setDetail(event))
      .catch((error: unknown) => current && fail(error));
    return () => {
      current = false;
    };
  }, [view.event, page, api]);

  // Live events matched the filters they arrived under; the log's outcome is of its tenant.
  const filtersKey = JSON.stringify(view.filters);
  useEffect(() => setLiveEvents([]), [view.org, filtersKey]);
  useEffect(() => setLogOutcome(undefined), [view.org]);

  useEffect(() => {
    if (!live || !view.org) return;
    const controller = new AbortController();
    void follow(api, view.org, controller.signal, {
      onEvent: (event) => {
        if (matches(event, filtersRef.current)) setLiveEvents((events) => [event, ...events].slice(0, 500));
      },
      onStatus: setLiveStatus,
    }).catch((error: unknown) => {
      setLive(false);
      setLiveStatus('');
      fail(error);
    });
    return () => {
      controller.abort();
      setLiveStatus('');
    };
  }, [live, view.org, api]);

  const open = (id: string) => {
    setVerified(undefined);
    navigate({ ...view, event: id });
  };
  const close = () => {
    const id = view.event;
    navigate({ ...view, event: undefined });
    setTimeout(() => document.getElementById(`row-${id}`)?.focus(), 0);
  };
  const verify = async (id: string) => {
    setVerified(undefined);
    try {
      const { event, outcome } = await verifyEvent(api, id);
      setDetail(event);
      // The row shows the event as it was verified, too.
      setPage((shown) => shown && { ...shown, items: shown.items.map((item) => (item.id === id ? event : item)) });
      setVerified({ ...outcome, id });
    } catch (error) {
      fail(error);
    }
  };
  const exportAs = async (format: 'ndjson' | 'csv') => {
    setStatus({ kind: 'info', text: `Exporting ${format.toUpperCase()}…` });
    try {
      const { blob, filename } = await api.export(view.org, view.filters, format);
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = filename;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setStatus({ kind: 'info', text: `Downloaded ${filename} (${blob.size.toLocaleString()} bytes).` });
    } catch (error) {
      fail(error);
    }
  };

  const listed = new Set((page?.items ?? []).map((event) => event.id));
  const rows = [...(view.cursor ? [] : liveEvents.filter((event) => !listed.has(event.id))), ...(page?.items ?? [])];
  const liveIds = new Set(liveEvents.map((event) => event.id));
  const pageNumber = view.back.length + 1;

  return (
    <main class="browser">
      <FilterForm
        session={session}
        view={view}
        onApply={(org, filters) => navigate({ org, filters, back: [], cursor: undefined, event: undefined })}
      />
      <div class="status" aria-live="polite">
        {busy && (
          <p class="message busy">
            The service is busy. Retrying in {busy.seconds} s (retry {busy.attempt} of {busy.of})…
          </p>
        )}
        {status && (
          <p class={`message ${status.kind}`} role={status.kind === 'error' ? 'alert' : undefined}>
            {status.text}
          </p>
        )}
      </div>
      {view.org && (
        <>
          <div class="toolbar" role="group" aria-label="Export, verify and follow">
            <button type="button" onClick={() => void exportAs('ndjson')}>
              Export NDJSON
            </button>
            <button type="button" onClick={() => void exportAs('csv')}>
              Export CSV
            </button>
            <button
              type="button"
              onClick={() => {
                setLogOutcome(undefined);
                verifyLog(api, view.org).then(setLogOutcome, fail);
              }}
            >
              Verify log
            </button>
            <button type="button" aria-pressed={live} onClick={() => setLive(!live)}>
              Live
            </button>
            <span class="live-status" aria-live="polite">
              {liveStatus}
            </span>
          </div>
          {logOutcome && <OutcomeView outcome={logOutcome} label="Log verification" />}
          <div class="content">
            <section class="events" aria-labelledby="events-heading">
              <h2 id="events-heading">
                Events of {view.org} <span class="page-number">page {pageNumber}</span>
              </h2>
              <EventTable rows={rows} liveIds={liveIds} selected={view.event} loading={loading} onOpen={open} />
              {view.cursor && liveEvents.length > 0 && (
                <p class="help">{liveEvents.length} new events arrived; they are on the first page.</p>
              )}
              <nav class="pager" aria-label="Pages">
                <button
                  type="button"
                  disabled={view.back.length === 0}
                  onClick={() =>
                    navigate({
                      ...view,
                      cursor: view.back[view.back.length - 1] || undefined,
                      back: view.back.slice(0, -1),
                      event: undefined,
                    })
                  }
                >
                  Previous page
                </button>
                <button
                  type="button"
                  disabled={!page?.nextCursor}
                  onClick={() =>
                    page?.nextCursor &&
                    navigate({
                      ...view,
                      back: [...view.back, view.cursor ?? ''],
                      cursor: page.nextCursor,
                      event: undefined,
                    })
                  }
                >
                  Next page
                </button>
              </nav>
            </section>
            {view.event && (
              <Detail
                id={view.event}
                event={detail}
                outcome={verified?.id === view.event ? verified : undefined}
                onVerify={() => verify(view.event!)}
                onClose={close}
              />
            )}
          </div>
        </>
      )}
    </main>
  );
}

const FILTER_LABELS: Record<FilterName, [label: string, placeholder: string]> = {
  action: ['Action', 'update'],
  source: ['Source', 'marketingcloud'],
  serviceId: ['Service id', 'SKMS-1234'],
  resourceId: ['Resource id', 'stream/42'],
  userIdentifier: ['User', 'jane.doe@example.com'],
  from: ['From (inclusive, RFC 3339)', '2017-10-01T00:00:00Z'],
  to: ['To (exclusive, RFC 3339)', '2017-11-01T00:00:00Z'],
};

function FilterForm({
  session,
  view,
  onApply,
}: {
  session: Session;
  view: View;
  onApply: (org: string, filters: Filters) => void;
}) {
  const [org, setOrg] = useState(view.org);
  const [fields, setFields] = useState<Partial<Record<FilterName, string>>>(view.filters);
  const [tags, setTags] = useState(view.filters.tags.join('\n'));
  // Back, Forward and shared links change the view: the form follows.
  useEffect(() => {
    setOrg(view.org);
    setFields(view.filters);
    setTags(view.filters.tags.join('\n'));
  }, [formatView({ ...view, cursor: undefined, back: [], event: undefined })]);
  const submit = (event: Event) => {
    event.preventDefault();
    const filters: Filters = {
      tags: tags
        .split('\n')
        .map((tag) => tag.trim())
        .filter(Boolean),
    };
    for (const name of FILTER_NAMES) {
      const value = fields[name]?.trim();
      if (value) filters[name] = value;
    }
    onApply(org.trim(), filters);
  };
  const orgs = session.orgs;
  return (
    <form class="filters" onSubmit={submit} aria-label="Tenant and filters">
      <div class="field">
        <label for="org">Tenant (imsOrgId)</label>
        {orgs === '*' || orgs.length === 0 ? (
          <input
            id="org"
            value={org}
            required
            placeholder="ACME@AdobeOrg"
            aria-describedby="org-help"
            onInput={(e) => setOrg(e.currentTarget.value)}
          />
        ) : (
          <select id="org" value={org} onChange={(e) => setOrg(e.currentTarget.value)}>
            {!orgs.includes(org) && org && <option value={org}>{org}</option>}
            {orgs.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        )}
        {orgs === '*' && (
          <span id="org-help" class="help">
            Your token covers every tenant: type one.
          </span>
        )}
      </div>
      {FILTER_NAMES.map((name) => (
        <div class="field" key={name}>
          <label for={`filter-${name}`}>{FILTER_LABELS[name][0]}</label>
          <input
            id={`filter-${name}`}
            value={fields[name] ?? ''}
            placeholder={FILTER_LABELS[name][1]}
            spellcheck={false}
            onInput={(e) => setFields({ ...fields, [name]: e.currentTarget.value })}
          />
        </div>
      ))}
      <div class="field tags">
        <label for="filter-tags">Tags (key:value, one a line)</label>
        <textarea
          id="filter-tags"
          rows={2}
          value={tags}
          placeholder="region:eu-west-1"
          spellcheck={false}
          onInput={(e) => setTags(e.currentTarget.value)}
        />
      </div>
      <div class="actions">
        <button type="submit">Show events</button>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            setFields({});
            setTags('');
            onApply(org.trim(), { tags: [] });
          }}
        >
          Clear filters
        </button>
      </div>
    </form>
  );
}

const COLUMNS: [label: string, value: (event: StoredAuditEvent) => string][] = [
  ['Time', (event) => event.timestamp],
  ['Action', (event) => event.action],
  // An erased userIdentifier is null (POST /audits/erasures); its commitment stays in `erased`.
  ['User', (event) => event.userIdentifier ?? (event.erased?.userIdentifier ? '(erased)' : '')],
  ['Resource', (event) => event.resource.resourceId],
  ['Service', (event) => event.service.serviceId],
  ['Source', (event) => event.source],
];

function EventTable({
  rows,
  liveIds,
  selected,
  loading,
  onOpen,
}: {
  rows: StoredAuditEvent[];
  liveIds: Set<string>;
  selected?: string;
  loading: boolean;
  onOpen: (id: string) => void;
}) {
  const onKey = (event: KeyboardEvent, id: string) => {
    const row = event.currentTarget as HTMLElement;
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      onOpen(id);
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const next = event.key === 'ArrowDown' ? row.nextElementSibling : row.previousElementSibling;
      (next as HTMLElement | null)?.focus();
    }
  };
  return (
    <div class="table-wrap">
      <table aria-busy={loading} aria-describedby="table-help">
        <caption id="table-help">
          {loading
            ? 'Loading…'
            : rows.length === 0
              ? 'No events match.'
              : 'Newest first. Select a row, or focus it and press Enter, to see the whole event; arrow keys move between rows.'}
        </caption>
        <thead>
          <tr>
            {COLUMNS.map(([label]) => (
              <th scope="col" key={label}>
                {label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((event) => (
            <tr
              key={event.id}
              id={`row-${event.id}`}
              tabIndex={0}
              class={
                [liveIds.has(event.id) && 'live', selected === event.id && 'selected'].filter(Boolean).join(' ') ||
                undefined
              }
              aria-current={selected === event.id ? 'true' : undefined}
              onClick={() => onOpen(event.id)}
              onKeyDown={(e) => onKey(e, event.id)}
            >
              {COLUMNS.map(([label, value], i) => (
                <td key={label} data-label={label}>
                  {i === 0 && liveIds.has(event.id) && <span class="badge">new</span>}
                  {value(event)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Detail({
  id,
  event,
  outcome,
  onVerify,
  onClose,
}: {
  id: string;
  event?: StoredAuditEvent;
  outcome?: Outcome;
  onVerify: () => Promise<void>;
  onClose: () => void;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  const [verifying, setVerifying] = useState(false);
  useEffect(() => heading.current?.focus(), [id]);
  return (
    <aside
      class="detail"
      aria-labelledby="detail-heading"
      onKeyDown={(e) => {
        if (e.key === 'Escape') onClose();
      }}
    >
      <h2 id="detail-heading" tabIndex={-1} ref={heading}>
        Event {event ? event.seq : ''}
      </h2>
      <p class="event-id">
        <code>{id}</code>
      </p>
      <div class="actions">
        <button
          type="button"
          disabled={verifying}
          onClick={() => {
            setVerifying(true);
            void onVerify().finally(() => setVerifying(false));
          }}
        >
          Verify
        </button>
        <button type="button" class="secondary" onClick={onClose}>
          Close
        </button>
      </div>
      {outcome && <OutcomeView outcome={outcome} label="Event verification" />}
      <pre class="json" tabIndex={0} aria-label="The whole event as JSON">
        {event ? JSON.stringify(event, null, 2) : 'Loading…'}
      </pre>
    </aside>
  );
}

function OutcomeView({ outcome, label }: { outcome: Outcome; label: string }): ComponentChildren {
  return (
    <div class={`message ${outcome.ok ? 'ok' : 'error'} outcome`} role="status" aria-label={label}>
      {outcome.lines.map((line) => (
        <p key={line}>{line}</p>
      ))}
    </div>
  );
}

/**
 * The live tail: the tenant's stream from its current size on, read with fetch() (the token goes
 * in a header, never the URL) and parsed here; it reconnects after the last seq it got.
 */
async function follow(
  api: Api,
  org: string,
  signal: AbortSignal,
  on: { onEvent: (event: StoredAuditEvent) => void; onStatus: (text: string) => void },
): Promise<void> {
  let afterSeq = await currentSize(api, org);
  while (!signal.aborted) {
    const body = await api.stream(org, afterSeq, signal);
    on.onStatus('Following new events.');
    const parser = new SseParser((message) => {
      if (message.event !== 'audit') return;
      const event = JSON.parse(message.data) as StoredAuditEvent;
      afterSeq = Math.max(afterSeq, event.seq);
      on.onEvent(event);
    });
    const reader = body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch (error) {
      if (signal.aborted) return;
      if ((error as Error).name !== 'TypeError') throw error; // a dropped connection: reconnect
    }
    if (signal.aborted) return;
    on.onStatus('The stream ended; reconnecting…');
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
