import { describe, expect, it } from 'vitest';
import { transportContract } from './contract.ts';
import { memoryLinkPair } from './memory.ts';

transportContract('memory', async () => ({
  clientCn: 'edge-1',
  serverCn: 'cloudhub',
  async open(o = {}) {
    const pair = memoryLinkPair({ maxMessageBytes: { a: o.clientMaxMessageBytes ?? 16 << 20, b: o.serverMaxMessageBytes ?? 16 << 20 }, commonNames: { a: 'edge-1', b: 'cloudhub' } });
    return {
      client: pair.a,
      server: pair.b,
      stall: pair.stall,
      kill: pair.sever,
      async dispose() {
        pair.resume();
        await Promise.all([pair.a.close(), pair.b.close()]);
      },
    };
  },
}));

describe('memoryLinkPair', () => {
  it('delivers asynchronously, never inside send()', async () => {
    const { a, b } = memoryLinkPair();
    let got = 0;
    b.onFrame(() => got++);
    const p = a.send(new Uint8Array(1));
    expect(got).toBe(0);
    await p;
    await new Promise((r) => setImmediate(r));
    expect(got).toBe(1);
  });

  it('keeps messages that arrive before onFrame and hands them to the first callback', async () => {
    const { a, b } = memoryLinkPair();
    await a.send(new Uint8Array([1]));
    await a.send(new Uint8Array([2]));
    await new Promise((r) => setImmediate(r));
    const got: number[] = [];
    b.onFrame((f) => got.push(f[0]!));
    expect(got).toEqual([1, 2]);
  });

  it('copies on send, so the caller may reuse its buffer', async () => {
    const { a, b } = memoryLinkPair();
    const buf = new Uint8Array([1]);
    const got = new Promise<Uint8Array>((r) => b.onFrame(r));
    await a.send(buf);
    buf[0] = 9;
    expect((await got)[0]).toBe(1);
  });
});
