import Database from 'better-sqlite3';

/** Where a SQLite database is, and how long one wait on it may take (DatabaseOptions.timeoutMs). */
export interface SqliteFile {
  filename: string;
  timeoutMs: number;
}

/** The settings of every SQLite connection: the knex pool's (reads) and the commit thread's. */
export function configureSqlite(connection: Database.Database, timeoutMs: number): void {
  connection.pragma('journal_mode = WAL');
  // FULL: a committed transaction survives power loss, which a 201 promises.
  connection.pragma('synchronous = FULL');
  // Another process holding the write lock (a backup, the sqlite3 shell) makes a write wait
  // this long, then fail with SQLITE_BUSY (503).
  connection.pragma(`busy_timeout = ${timeoutMs}`);
  // Erasure (#14): freed space (a rewritten row's old bytes, a deleted index entry) is zeroed,
  // so an erased value does not linger in the file. Per connection, so every writer sets it.
  connection.pragma('secure_delete = ON');
}

export function openSqlite({ filename, timeoutMs }: SqliteFile): Database.Database {
  const connection = new Database(filename, { timeout: timeoutMs, fileMustExist: true });
  configureSqlite(connection, timeoutMs);
  return connection;
}

/** A read-only connection (the verify threads'): it sees the committed log and can change nothing. */
export function openSqliteReader({ filename, timeoutMs }: SqliteFile): Database.Database {
  const connection = new Database(filename, { readonly: true, timeout: timeoutMs, fileMustExist: true });
  connection.pragma(`busy_timeout = ${timeoutMs}`);
  return connection;
}
