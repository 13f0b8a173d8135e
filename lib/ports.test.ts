import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, freePorts } from './ports.ts';

describe('freePorts', () => {
  it('returns distinct loopback ports that can be bound', async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).toBe(5);
    const port = await freePort();
    await new Promise<void>((resolve, reject) => {
      const s = createServer().once('error', reject).listen(port, '127.0.0.1', () => s.close(() => resolve()));
    });
  });
});
