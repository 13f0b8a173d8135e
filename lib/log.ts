/**
 * Structured logging in Kubernetes style: a capitalised, past-tense message
 * naming the kind (`Created ConfigMap`) plus key/value fields, one JSON line
 * per record on stderr. Child loggers carry fields such as
 * `{controller, namespace, name, reconcileID}` or `{node, session}`.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every record. */
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: Level;
  /** Where lines go; defaults to process.stderr. Tests pass an array sink. */
  write?: (line: string) => void;
  now?: () => Date;
}

function serialise(v: unknown): unknown {
  if (v instanceof Error) {
    const code = (v as { code?: unknown }).code;
    return { message: v.message, ...(code !== undefined ? { code } : {}) };
  }
  return v;
}

/** Creates a root logger. `OUTPOST_LOG_LEVEL` sets the default level. */
export function createLogger(opts: LoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const envLevel = process.env.OUTPOST_LOG_LEVEL as Level | undefined;
  const level = opts.level ?? (envLevel && envLevel in rank ? envLevel : 'info');
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? (() => new Date());
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>) => {
    if (rank[lvl] < rank[level]) return;
    const rec: Record<string, unknown> = { ts: now().toISOString(), level: lvl, msg, ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) rec[k] = serialise(v);
    write(JSON.stringify(rec));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ level, write, now }, { ...base, ...fields }),
  };
}

/** A logger that drops everything (for benchmarks). */
export const silentLogger: Logger = createLogger({ write: () => {} });
