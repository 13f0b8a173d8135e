import { describe, expect, it } from 'vitest';
import { FairScheduler } from './fair.ts';

/** A task that finishes when the test says so; records its start. */
function gate(log: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  return { task: () => { log.push(name); return done; }, finish };
}
const flush = () => new Promise((r) => setImmediate(r));

describe('FairScheduler', () => {
  it('runs at most `limit` tasks at once', async () => {
    const s = new FairScheduler(2);
    const log: string[] = [];
    const g = Array.from({ length: 5 }, (_, i) => gate(log, `a${i}`));
    const all = g.map((x) => s.run('a', x.task));
    expect(s.running).toBe(2);
    expect(s.waiting).toBe(3);
    for (const x of g) {
      x.finish();
      await flush();
    }
    await Promise.all(all);
    expect(log).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect(s.running).toBe(0);
  });

  it('a node with one waiting write waits for at most one write of each other waiting node, however much a flooding node queued', async () => {
    const s = new FairScheduler(2);
    const log: string[] = [];
    const flood = Array.from({ length: 100 }, (_, i) => gate(log, `flood${i}`));
    for (const x of flood) void s.run('flooder', x.task);
    const b = gate(log, 'bystander');
    const pb = s.run('bystander', b.task);
    flood[0]!.finish();
    flood[1]!.finish();
    await flush();
    expect(log).toEqual(['flood0', 'flood1', 'flood2', 'bystander']);
    b.finish();
    await pb;
    for (const x of flood) x.finish();
  });

  it('takes turns one task at a time between nodes with waiting tasks', async () => {
    const s = new FairScheduler(1);
    const log: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const add = (node: string, i: number) => {
      const g = gate(log, `${node}${i}`);
      gates.set(`${node}${i}`, g);
      return s.run(node, g.task);
    };
    const ps = [add('a', 0), add('a', 1), add('a', 2), add('b', 0), add('b', 1), add('c', 0)];
    for (let i = 0; i < 6; i++) {
      gates.get(log[log.length - 1]!)!.finish();
      await flush();
    }
    await Promise.all(ps);
    expect(log).toEqual(['a0', 'a1', 'b0', 'c0', 'a2', 'b1']);
  });

  it('a task that throws or rejects frees its slot and rejects its caller', async () => {
    const s = new FairScheduler(1);
    await expect(s.run('a', () => { throw new Error('sync'); })).rejects.toThrow('sync');
    await expect(s.run('a', () => Promise.reject(new Error('async')))).rejects.toThrow('async');
    await expect(s.run('a', async () => 7)).resolves.toBe(7);
    expect(s.running).toBe(0);
  });

  it('rejects a limit that is not a positive integer', () => {
    expect(() => new FairScheduler(0)).toThrow(/positive integer/);
  });
});
