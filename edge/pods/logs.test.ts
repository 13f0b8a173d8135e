import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogConverter, parseLogLine, parseRfc3339Nano, readLogs, readLogsToString, rfc3339Nano } from './logs.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'outpost-logs-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const cri = (lines: [number, 'stdout' | 'stderr', 'F' | 'P', string][]) => lines.map(([t, s, tag, c]) => `${rfc3339Nano(t)} ${s} ${tag} ${c}\n`).join('');

describe('CRI log format', () => {
  it('formats and parses timestamps and lines', () => {
    expect(rfc3339Nano(Date.UTC(2026, 10, 22, 4, 11, 49, 338))).toBe('2026-11-22T04:11:49.338000000Z');
    expect(parseRfc3339Nano('2026-11-22T04:11:49.338525978Z')).toBe(Date.UTC(2026, 10, 22, 4, 11, 49, 338));
    expect(parseRfc3339Nano('2026-11-22T04:11:49Z')).toBe(Date.UTC(2026, 10, 22, 4, 11, 49));
    expect(parseLogLine(Buffer.from('2016-10-06T00:17:09.669794202Z stdout F The content'))).toMatchObject({ stream: 'stdout', tag: 'F', content: Buffer.from('The content') });
    expect(parseLogLine(Buffer.from('2016-10-06T00:17:09.669794202Z stderr P:x part'))).toMatchObject({ stream: 'stderr', tag: 'P' });
    expect(parseLogLine(Buffer.from('garbage'))).toBeUndefined();
  });

  it('reads with tail, since, stream, timestamps and limitBytes, joining partial entries', async () => {
    const p = join(tmp(), '0.log');
    writeFileSync(p, cri([[1000, 'stdout', 'F', 'one'], [2000, 'stderr', 'F', 'two'], [3000, 'stdout', 'P', 'thr'], [3000, 'stdout', 'F', 'ee'], [4000, 'stdout', 'F', 'four']]));
    expect(await readLogsToString(p)).toBe('one\ntwo\nthree\nfour\n');
    expect(await readLogsToString(p, { tailLines: 2 })).toBe('ee\nfour\n'); // like the kubelet, tail counts file lines (the "P" entry is one)
    expect(await readLogsToString(p, { sinceMs: 2000 })).toBe('two\nthree\nfour\n');
    expect(await readLogsToString(p, { stream: 'stderr' })).toBe('two\n');
    expect(await readLogsToString(p, { timestamps: true, tailLines: 1 })).toBe(`${rfc3339Nano(4000)} four\n`);
    expect(await readLogsToString(p, { limitBytes: 6 })).toBe('one\ntw');
    expect(await readLogsToString(join(tmp(), 'missing.log'))).toBe('');
  });

  it('follows a growing file until the writer is done', async () => {
    const p = join(tmp(), '0.log');
    writeFileSync(p, cri([[1000, 'stdout', 'F', 'a']]));
    let done = false;
    const got: string[] = [];
    const reader = (async () => {
      for await (const c of readLogs(p, { follow: true, pollMs: 20, done: () => done })) got.push(c.toString());
    })();
    await new Promise((r) => setTimeout(r, 60));
    appendFileSync(p, cri([[2000, 'stdout', 'F', 'b']]));
    await new Promise((r) => setTimeout(r, 60));
    done = true;
    await reader;
    expect(got.join('')).toBe('a\nb\n');
  });
});

describe('LogConverter (process runtime output → CRI log)', () => {
  it('stamps complete lines, holds a partial one until flush, and resumes from offsets', () => {
    const d = tmp();
    const out = join(d, 'stdout');
    const err = join(d, 'stderr');
    const log = join(d, '0.log');
    writeFileSync(out, 'hello\nwor');
    writeFileSync(err, 'oops\n');
    let now = 5000;
    const c = new LogConverter({ logPath: log, stdoutPath: out, stderrPath: err, now: () => now });
    expect(c.poll()).toBe(true);
    expect(readFileSync(log, 'utf8')).toBe(cri([[5000, 'stdout', 'F', 'hello'], [5000, 'stderr', 'F', 'oops']]));
    expect(c.offsets()).toEqual({ stdout: 6, stderr: 5 });
    expect(c.poll()).toBe(false);
    now = 6000;
    appendFileSync(out, 'ld\n');
    c.poll();
    const offsets = c.offsets();
    expect(offsets).toEqual({ stdout: 12, stderr: 5 });
    c.close();
    // a new agent picks up where the last stopped
    appendFileSync(out, 'tail-no-newline');
    const c2 = new LogConverter({ logPath: log, stdoutPath: out, stderrPath: err, offsets, now: () => 7000 });
    c2.poll(true);
    c2.close();
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').slice(1).join(' '))).toEqual(['stdout F hello', 'stderr F oops', 'stdout F world', 'stdout F tail-no-newline']);
  });
});
