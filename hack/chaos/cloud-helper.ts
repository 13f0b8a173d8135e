/**
 * Runs inside the chaos cloud namespace (started with `ip netns exec`):
 * - forwards 127.0.0.1:<apiPort> in the namespace to a Unix socket that the
 *   harness serves on the host, which connects to the real kube-apiserver on
 *   the host's loopback (the kubeconfig's server URL works unchanged);
 * - runs one DelayRelay per edge, listening on the cloud end of that edge's
 *   veth and forwarding to the hub on the namespace's loopback;
 * - runs a full garbage collection in the cloud through its inspector
 *   (`gc`; the cloud's inspector listens on the namespace's loopback only).
 *
 * Control: one JSON command per stdin line, one JSON answer per stdout line
 * (`{"id", "ok", ...}`). Exits when stdin closes, so it never outlives the
 * harness.
 *
 * usage: node hack/chaos/cloud-helper.ts <config.json>
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { DelayRelay, forward, type ImpairSettings } from './relay.ts';

export interface CloudHelperConfig {
  apiPort: number;
  apiSocket: string;
  hub: { tcpPort: number; udpPort: number };
  relays: { name: string; listenHost: string; tcpPort: number; udpPort: number }[];
}

type Command =
  | { id: number; cmd: 'set'; relay: string; settings: Partial<ImpairSettings> }
  | { id: number; cmd: 'stats' }
  | { id: number; cmd: 'reset'; relay: string }
  | { id: number; cmd: 'gc'; inspector: string };

/**
 * Asks the process whose inspector listens at `url` (ws://127.0.0.1:port/id)
 * for `HeapProfiler.collectGarbage`: V8's low-memory GC (marked "reduce" in
 * --trace-gc), which collects everything unreachable, shrinks the young
 * generation and returns free heap pages to the OS, so the RSS read afterwards
 * shows what the process retains rather than heap V8 grew and keeps as headroom.
 * Resolves to the process's `process.memoryUsage()` after the GC.
 */
function collectGarbage(url: string, timeoutMs = 8000): Promise<NodeJS.MemoryUsage> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const done = (err: Error | undefined, usage?: NodeJS.MemoryUsage) => {
      clearTimeout(t);
      ws.close();
      if (err) reject(err);
      else resolve(usage!);
    };
    const t = setTimeout(() => done(new Error(`the inspector at ${url} did not answer within ${timeoutMs} ms`)), timeoutMs);
    ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    ws.onmessage = (ev) => {
      const m = JSON.parse(String(ev.data)) as { id?: number; error?: { message: string }; result?: { result?: { value?: string } } };
      if (m.error) return done(new Error(m.error.message));
      if (m.id === 1) ws.send(JSON.stringify({ id: 2, method: 'Runtime.evaluate', params: { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true } }));
      if (m.id === 2) done(undefined, JSON.parse(m.result?.result?.value ?? '{}') as NodeJS.MemoryUsage);
    };
    ws.onerror = () => done(new Error(`cannot reach the inspector at ${url}`));
  });
}

async function main(): Promise<void> {
  const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as CloudHelperConfig;
  const api = await forward({ host: '127.0.0.1', port: cfg.apiPort }, { path: cfg.apiSocket });
  const relays = new Map<string, DelayRelay>();
  for (const r of cfg.relays) {
    const relay = new DelayRelay({ listenHost: r.listenHost, tcpPort: r.tcpPort, udpPort: r.udpPort, target: { host: '127.0.0.1', tcpPort: cfg.hub.tcpPort, udpPort: cfg.hub.udpPort } });
    await relay.start();
    relays.set(r.name, relay);
  }
  const reply = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  reply({ ready: true, pid: process.pid });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let c: Command;
    try {
      c = JSON.parse(line) as Command;
    } catch {
      return reply({ ok: false, error: `not JSON: ${line.slice(0, 100)}` });
    }
    const relay = 'relay' in c ? relays.get(c.relay) : undefined;
    switch (c.cmd) {
      case 'set':
        if (!relay) return reply({ id: c.id, ok: false, error: `no relay ${c.relay}` });
        relay.set(c.settings);
        return reply({ id: c.id, ok: true, settings: relay.settings });
      case 'reset':
        relay?.resetConnections();
        return reply({ id: c.id, ok: Boolean(relay) });
      case 'gc':
        return void collectGarbage(c.inspector).then((usage) => reply({ id: c.id, ok: true, usage }), (err: unknown) => reply({ id: c.id, ok: false, error: (err as Error).message }));
      case 'stats':
        return reply({ id: c.id, ok: true, stats: Object.fromEntries([...relays].map(([n, r]) => [n, r.stats()])) });
      default:
        return reply({ id: (c as { id?: number }).id, ok: false, error: 'unknown command' });
    }
  });
  rl.on('close', () => {
    void (async () => {
      api.close();
      await Promise.all([...relays.values()].map((r) => r.close()));
      process.exit(0);
    })();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`cloud-helper: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
