/**
 * An impaired network path between the simulated edges and the hub, built
 * from the chaos harness's pieces (hack/chaos/netns.ts: namespaces, veth
 * pairs, nftables loss rules, stale-namespace sweep; hack/chaos/process.ts:
 * processes inside a namespace). Three namespaces, a line:
 *
 *   edge ns (Topology edge 0)        router ns (Topology "cloud")            hub ns (Topology edge 1)
 *   vx<tag> 10.214.0.2  ==VXLAN over veth 10.213.0.2 <-> 10.213.0.1 | relay | 10.213.1.1 <-> 10.213.1.2 VXLAN==  vx<tag> 10.214.0.1
 *   simulated edges                  nftables loss on the edge veth          CloudHub (bench/impaired/hub-side.ts)
 *                                    (both directions) + tunnel-relay.ts
 *                                    (delay, byte counts)
 *
 * The edges dial 10.214.0.1 over the VXLAN overlay; every packet (TCP for
 * WebSocket, UDP for QUIC) crosses the relay, which holds it delayMs per
 * direction, and the edge veth, where nftables drops lossPct % per direction.
 * This kernel has no `tc netem` (reference/platform-notes.md), and a relay
 * that terminates TCP would hide TCP's loss recovery from the RTT (see
 * tunnel-relay.ts), hence the tunnel.
 *
 * Nothing leaves the namespaces: the host namespace gets no address, no
 * route and no device. `down()` deletes the namespaces (devices, nftables
 * tables and leftover processes with them); a run killed with SIGKILL is
 * cleaned by the next one's `sweepStale()` (namespace names carry the pid).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NO_KERNEL_IMPAIRMENT, runOk, Topology } from '../../hack/chaos/netns.ts';
import { ManagedProcess } from '../../hack/chaos/process.ts';
import type { TunnelRelayConfig, TunnelRelayStats } from './tunnel-relay.ts';

export const HUB_ADDR = '10.214.0.1';
const EDGE_ADDR = '10.214.0.2';
const VNI = '4213';
// fixed MACs + permanent neighbour entries: no ARP on the impaired path (it would add an RTT to the first dial)
const MAC = { edge: '02:00:0a:d6:00:02', hub: '02:00:0a:d6:00:01' };

export interface ImpairedPathOptions {
  lossPct: number;
  delayMs: number;
  workDir: string;
}

export class ImpairedPath {
  readonly topology = new Topology(2);
  readonly #o: ImpairedPathOptions;
  #relay: ManagedProcess | undefined;
  readonly #children = new Set<ChildProcess>();
  readonly #replies = new Map<number, (o: Record<string, unknown>) => void>();
  #nextId = 1;

  constructor(o: ImpairedPathOptions) {
    this.#o = o;
  }

  get edgeNs(): string {
    return this.topology.edges[0]!.ns;
  }

  get hubNs(): string {
    return this.topology.edges[1]!.ns;
  }

  get routerNs(): string {
    return this.topology.cloudNs;
  }

  /** Builds the path and starts the relay. On failure, call down(). */
  async up(): Promise<void> {
    await this.topology.up();
    const [edge, hub] = this.topology.edges as [(typeof this.topology.edges)[0], (typeof this.topology.edges)[0]];
    const vx = `vx${this.topology.tag}`;
    for (const [side, self, peer, mac, peerMac] of [[edge, EDGE_ADDR, HUB_ADDR, MAC.edge, MAC.hub], [hub, HUB_ADDR, EDGE_ADDR, MAC.hub, MAC.edge]] as const) {
      const ns = side.ns;
      // IPv6 off: no router solicitations or DAD noise in the byte counts
      await runOk('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      await runOk('ip', ['-n', ns, 'link', 'add', vx, 'address', mac, 'type', 'vxlan', 'id', VNI, 'remote', side.cloudAddr, 'local', side.edgeAddr, 'dstport', '4789', 'dev', side.edgeIf]);
      await runOk('ip', ['-n', ns, 'addr', 'add', `${self}/24`, 'dev', vx]);
      // one MTU-sized packet per skb: otherwise TCP hands the tunnel 64 KB GSO batches, the relay reads and
      // re-sends them as one UDP datagram, IP fragments it on the veth, and one lost fragment loses ~20 segments
      await runOk('ip', ['-n', ns, 'link', 'set', vx, 'gso_max_segs', '1', 'up']);
      await runOk('ip', ['-n', ns, 'neigh', 'replace', peer, 'lladdr', peerMac, 'dev', vx, 'nud', 'permanent']);
    }
    // loss on the edge's veth, input and output: lossPct % each way
    await this.topology.setEdge(0, { ...NO_KERNEL_IMPAIRMENT, lossPct: this.#o.lossPct });
    const cfg: TunnelRelayConfig = {
      delayMs: this.#o.delayMs,
      edgeSide: { listen: edge.cloudAddr, peer: edge.edgeAddr },
      hubSide: { listen: hub.cloudAddr, peer: hub.edgeAddr },
      maxQueued: 50_000,
    };
    const logDir = join(this.#o.workDir, 'logs');
    mkdirSync(logDir, { recursive: true });
    let ready: () => void = () => {};
    const started = new Promise<void>((r) => (ready = r));
    this.#relay = new ManagedProcess({
      name: 'tunnel-relay', ns: this.routerNs, logDir, args: () => [join(import.meta.dirname, 'tunnel-relay.ts'), JSON.stringify(cfg)],
      onStdoutLine: (line) => {
        const m = JSON.parse(line) as Record<string, unknown>;
        if (m.ready) ready();
        const cb = this.#replies.get(m.id as number);
        this.#replies.delete(m.id as number);
        cb?.(m);
      },
    });
    this.#relay.start();
    await within(started, 20_000, `the tunnel relay did not start (log: ${this.#relay.logFile()})`);
  }

  /** Counters of the relay (cumulative since up()). */
  async stats(): Promise<TunnelRelayStats> {
    const id = this.#nextId++;
    const answer = new Promise<Record<string, unknown>>((r) => this.#replies.set(id, r));
    this.#relay!.send(JSON.stringify({ cmd: 'stats', id }));
    return (await within(answer, 10_000, 'the tunnel relay did not answer')).stats as TunnelRelayStats;
  }

  /** Forks a Node module inside one of the namespaces, with an IPC channel (`ip netns exec` execs node, so the pid is node's). */
  fork(ns: string, module: string): ChildProcess {
    const child = fork(module, [], { execPath: 'ip', execArgv: ['netns', 'exec', ns, process.execPath], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Kills what this path started and deletes its namespaces. Idempotent; never throws. */
  async down(): Promise<void> {
    for (const c of this.#children) c.kill('SIGKILL');
    await this.#relay?.kill9().catch(() => undefined);
    await this.topology.down().catch((err: unknown) => process.stderr.write(`impaired path: cleanup failed: ${(err as Error).message}\n`));
  }
}

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what} within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}
