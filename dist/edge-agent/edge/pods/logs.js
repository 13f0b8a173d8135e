/**
 * Container logs in the CRI log format, the one containerd writes and the
 * kubelet reads (k8s.io/cri-api "Container log format";
 * pkg/kubelet/kuberuntime/logs):
 *
 *   2016-10-06T00:17:09.669794202Z stdout F The content of the log entry 1
 *   2016-10-06T00:17:09.669794203Z stderr P First part of a long line
 *   2016-10-06T00:17:09.669794203Z stderr F  and its end
 *
 * Both runtimes produce these files (containerd itself; the process runtime
 * through {@link LogConverter}), so one reader serves `kubectl logs` with
 * follow / tail / since / timestamps / limitBytes for both.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, writeSync } from 'node:fs';

                                            

/** RFC 3339 with nanoseconds (the CRI format's timestamp). */
export function rfc3339Nano(ms        , subMsNanos = 0)         {
  const iso = new Date(ms).toISOString(); // 2026-11-22T04:11:49.338Z
  return `${iso.slice(0, 23)}${String(subMsNanos).padStart(6, '0')}Z`;
}

/** Parses a CRI timestamp to ms since the epoch (sub-ms digits dropped); NaN when malformed. */
export function parseRfc3339Nano(ts        )         {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) return Number.NaN;
  return Date.parse(`${m[1]}.${(m[2] ?? '0').padEnd(3, '0').slice(0, 3)}${m[3]}`);
}

/** One parsed line of a CRI log file. */
                           
                    
                 
                    
                                                                             
                 
                  
 

/** Parses one line (without its trailing newline); undefined when it is not CRI format. */
export function parseLogLine(line        )                       {
  const s1 = line.indexOf(0x20);
  const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
  if (s2 < 0) return undefined;
  const timestamp = line.subarray(0, s1).toString('latin1');
  const stream = line.subarray(s1 + 1, s2).toString('latin1');
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  // tags: "F" / "P", possibly followed by ":"-separated extras; content after the next space
  const s3 = line.indexOf(0x20, s2 + 1);
  const tags = line.subarray(s2 + 1, s3 < 0 ? line.length : s3).toString('latin1');
  const tag = tags.split(':')[0] === 'P' ? 'P' : 'F';
  const timeMs = parseRfc3339Nano(timestamp);
  if (Number.isNaN(timeMs)) return undefined;
  return { timestamp, timeMs, stream, tag, content: s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1) };
}

                                  
                                                                                                                         
                   
                                                       
                     
                                                                 
                   
                                                                                            
                       
                                              
                      
                                        
                     
                                                                                                  
                       
                       
                                                
                  
 

const NL = 0x0a;

/** Byte offset where the last `n` lines of the file start (0 when the file has fewer). */
function tailOffset(fd        , size        , n        )         {
  if (n <= 0) return size;
  const chunk = 64 * 1024;
  let pos = size;
  let newlines = 0;
  const buf = Buffer.alloc(chunk);
  // the file ends with "\n": that one does not start a line
  let skipFirst = true;
  while (pos > 0) {
    const len = Math.min(chunk, pos);
    pos -= len;
    readSync(fd, buf, 0, len, pos);
    for (let i = len - 1; i >= 0; i--) {
      if (buf[i] !== NL) continue;
      if (skipFirst && pos + i === size - 1) {
        skipFirst = false;
        continue;
      }
      if (++newlines === n) return pos + i + 1;
    }
  }
  return 0;
}

/**
 * Reads a CRI log file as the kubelet serves `GET /containerLogs`: yields
 * chunks of output (partial entries joined into their line). Never throws for
 * a missing file when following (waits for it); without follow a missing file
 * yields nothing. `tailLines` counts file lines (entries), as the kubelet does.
 */
export async function* readLogs(path        , opts                  = {})                         {
  const pollMs = opts.pollMs ?? 200;
  let fd                    ;
  const sleep = () => new Promise      ((r) => {
    const t = setTimeout(r, pollMs);
    opts.signal?.addEventListener('abort', () => {
      clearTimeout(t);
      r();
    }, { once: true });
  });
  while (fd === undefined) {
    try {
      fd = openSync(path, 'r');
    } catch {
      if (!opts.follow || opts.done?.() || opts.signal?.aborted) return;
      await sleep();
    }
  }
  try {
    let pos = opts.tailLines !== undefined ? tailOffset(fd, fstatSync(fd).size, opts.tailLines) : 0;
    let rest = Buffer.alloc(0);
    let sent = 0;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      if (opts.signal?.aborted) return;
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n > 0) {
        pos += n;
        let data = Buffer.concat([rest, buf.subarray(0, n)]);
        let start = 0;
        const out           = [];
        for (let nl = data.indexOf(NL); nl >= 0; nl = data.indexOf(NL, start)) {
          const e = parseLogLine(data.subarray(start, nl));
          start = nl + 1;
          if (!e || (opts.stream && e.stream !== opts.stream) || (opts.sinceMs !== undefined && e.timeMs < opts.sinceMs)) continue;
          const line = e.tag === 'F' ? Buffer.concat([e.content, Buffer.from('\n')]) : e.content;
          out.push(opts.timestamps ? Buffer.concat([Buffer.from(`${e.timestamp} `), line]) : line);
        }
        rest = Buffer.from(data.subarray(start));
        data = Buffer.alloc(0);
        if (out.length) {
          let chunk = Buffer.concat(out);
          if (opts.limitBytes !== undefined && sent + chunk.length >= opts.limitBytes) {
            chunk = chunk.subarray(0, opts.limitBytes - sent);
            if (chunk.length) yield chunk;
            return;
          }
          sent += chunk.length;
          yield chunk;
        }
        continue;
      }
      if (!opts.follow) return;
      // drained: stop once the writer is done (checked after a final read), else wait for more
      if (opts.done?.()) {
        if (readSync(fd, buf, 0, 1, pos) === 0) return;
        continue;
      }
      await sleep();
    }
  } finally {
    closeSync(fd);
  }
}

/** Collects {@link readLogs} into one string (tests, probes' messages). */
export async function readLogsToString(path        , opts                                  = {})                  {
  const parts           = [];
  for await (const c of readLogs(path, opts)) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}

/** Largest content of one log entry before it is split into P entries (containerd's default is 16 KiB). */
const maxEntryBytes = 16 * 1024;

/**
 * Converts raw stdout/stderr files (what a host process writes, with no
 * timestamps) into a CRI log file, stamping each line with the time it was
 * read. The raw files are appended by the process itself, so the process
 * keeps running and writing while no agent runs; lines written then get the
 * time the next agent reads them. `poll()` is cheap when nothing changed (one
 * fstat per stream). Offsets are returned by `offsets()` so a restarted agent
 * resumes where the last one stopped.
 */
export class LogConverter {
           #out        ;
           #streams                                                                                             ;
           #now              ;
  #closed = false;

  constructor(opts                                                                                                                               ) {
    this.#out = openSync(opts.logPath, 'a');
    this.#now = opts.now ?? Date.now;
    this.#streams = (['stdout', 'stderr']         ).map((stream) => ({
      stream, path: stream === 'stdout' ? opts.stdoutPath : opts.stderrPath, fd: undefined, pos: opts.offsets?.[stream] ?? 0, partial: Buffer.alloc(0),
    }));
  }

  /** Converts what was appended since the last call; `flush` also writes an unterminated last line. Returns whether anything was written. */
  poll(flush = false)          {
    if (this.#closed) return false;
    let wrote = false;
    for (const s of this.#streams) {
      if (s.fd === undefined) {
        try {
          s.fd = openSync(s.path, 'r');
        } catch {
          continue;
        }
      }
      const size = fstatSync(s.fd).size;
      if (size < s.pos) s.pos = 0; // truncated
      const lines           = [];
      const ts = rfc3339Nano(this.#now());
      while (s.pos < size) {
        const buf = Buffer.alloc(Math.min(size - s.pos, 256 * 1024));
        const n = readSync(s.fd, buf, 0, buf.length, s.pos);
        if (n <= 0) break;
        s.pos += n;
        let data = s.partial.length ? Buffer.concat([s.partial, buf.subarray(0, n)]) : buf.subarray(0, n);
        let start = 0;
        for (let nl = data.indexOf(NL); nl >= 0; nl = data.indexOf(NL, start)) {
          this.#entries(lines, ts, s.stream, data.subarray(start, nl), true);
          start = nl + 1;
        }
        data = data.subarray(start);
        // a very long line without a newline yet: emit full-size P entries now
        while (data.length > maxEntryBytes) {
          lines.push(`${ts} ${s.stream} P ${data.subarray(0, maxEntryBytes).toString('utf8')}\n`);
          data = data.subarray(maxEntryBytes);
        }
        s.partial = Buffer.from(data);
      }
      if (flush && s.partial.length) {
        this.#entries(lines, ts, s.stream, s.partial, true);
        s.partial = Buffer.alloc(0);
      }
      if (lines.length) {
        writeSync(this.#out, lines.join(''));
        wrote = true;
      }
    }
    return wrote;
  }

  #entries(lines          , ts        , stream           , content        , full         )       {
    let c = content;
    while (c.length > maxEntryBytes) {
      lines.push(`${ts} ${stream} P ${c.subarray(0, maxEntryBytes).toString('utf8')}\n`);
      c = c.subarray(maxEntryBytes);
    }
    lines.push(`${ts} ${stream} ${full ? 'F' : 'P'} ${c.toString('utf8')}\n`);
  }

  /** Bytes of each raw file converted so far (excluding a held partial line). */
  offsets()                                     {
    const [o, e] = this.#streams;
    return { stdout: o .pos - o .partial.length, stderr: e .pos - e .partial.length };
  }

  close()       {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#streams) if (s.fd !== undefined) closeSync(s.fd);
    closeSync(this.#out);
  }
}

/** Size of a file, 0 when it does not exist. */
export function fileSize(path        )         {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
