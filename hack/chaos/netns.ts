/**
 * Network namespaces, veth pairs and kernel impairments for the chaos
 * harness. Every command is run with an argv array (execFile, never a
 * shell). Addresses: each edge gets a /30 from 10.213.0.0/16 that exists only
 * on the two ends of its veth pair, both inside namespaces this module
 * created; the host namespace gets no address and no route, so nothing can
 * leave them.
 *
 * Topology (a star, the cloud namespace in the middle):
 *
 *   opc-<pid>-<tag>-c (cloud)                     opc-<pid>-<tag>-e<i> (edge i)
 *     oc<tag><i>  10.213.<i>.1/30  <== veth ==>  oe<tag><i>  10.213.<i>.2/30
 *
 * Names carry the owner's pid, so a later run can find and remove what a
 * killed run left behind (`sweepStale`): it kills every process still inside
 * such a namespace (`ip netns pids`) and deletes the namespace, which takes
 * its veth ends, nftables tables and qdiscs with it.
 */
import { execFile } from 'node:child_process';
import { processAlive } from '../../lib/process.ts';

export const NS_PREFIX = 'opc-';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a system command (argv, no shell) with a time limit; never rejects. */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 15_000, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like run() but throws with stderr on a non-zero exit. */
export async function runOk(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** What the harness needs from the machine; each entry says what is missing and how to get it. */
export async function missingPrerequisites(): Promise<string[]> {
  const out: string[] = [];
  if (process.getuid?.() !== 0) out.push('must run as root (network namespaces, nftables, tc)');
  for (const [cmd, args, pkg] of [['ip', ['-V'], 'iproute2'], ['nft', ['--version'], 'nftables'], ['tc', ['-V'], 'iproute2']] as const) {
    const r = await run(cmd, [...args]);
    if (r.code !== 0) out.push(`${cmd} not found: apt-get install ${pkg}`);
  }
  return out;
}

/** Namespaces named `opc-<pid>-…` whose owner process is gone: kills what runs in them and deletes them. */
export async function sweepStale(): Promise<string[]> {
  const list = await run('ip', ['netns', 'list']);
  const removed: string[] = [];
  for (const line of list.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^opc-(\d+)-/.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    await deleteNamespace(name);
    removed.push(name);
  }
  return removed;
}

/** Kills every process in the namespace (SIGKILL, by pid) and deletes it. Idempotent. */
export async function deleteNamespace(name: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const pids = (await run('ip', ['netns', 'pids', name])).stdout.split('\n').map(Number).filter((p) => p > 0 && p !== process.pid);
    if (pids.length === 0) break;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await run('ip', ['netns', 'del', name]);
}

export interface EdgeLink {
  index: number;
  ns: string;
  /** Interface names: edge end (in ns) and cloud end (in the cloud namespace). */
  edgeIf: string;
  cloudIf: string;
  edgeAddr: string;
  cloudAddr: string;
}

/** The kernel side of one edge's impairments (the relay does delay/jitter/reorder). */
export interface KernelImpairment {
  partition: boolean;
  linkDown: boolean;
  lossPct: number;
  /** 0 = unlimited. */
  rateKbit: number;
}

export const NO_KERNEL_IMPAIRMENT: Readonly<KernelImpairment> = Object.freeze({ partition: false, linkDown: false, lossPct: 0, rateKbit: 0 });

const TABLE = 'outpost_chaos';

/** The nftables script that (re)defines the chaos table for the given rules; an empty rule list removes it. */
export function nftScript(rules: { input: string[]; output: string[] }): string {
  const lines = [`table inet ${TABLE}`, `delete table inet ${TABLE}`];
  if (rules.input.length + rules.output.length > 0) {
    lines.push(`table inet ${TABLE} {`);
    lines.push(`  chain input { type filter hook input priority 0; policy accept; ${rules.input.map((r) => `${r}; `).join('')}}`);
    lines.push(`  chain output { type filter hook output priority 0; policy accept; ${rules.output.map((r) => `${r}; `).join('')}}`);
    lines.push('}');
  }
  return `${lines.join('\n')}\n`;
}

/** The rules for one edge's veth (interface name may end in `*` for a prefix match). */
export function edgeRules(ifname: string, k: KernelImpairment): { input: string[]; output: string[] } {
  const input: string[] = [];
  const output: string[] = [];
  if (k.partition) {
    input.push(`iifname "${ifname}" drop`);
    output.push(`oifname "${ifname}" drop`);
  } else if (k.lossPct > 0) {
    input.push(`iifname "${ifname}" numgen random mod 100 < ${Math.round(k.lossPct)} drop`);
    output.push(`oifname "${ifname}" numgen random mod 100 < ${Math.round(k.lossPct)} drop`);
  }
  return { input, output };
}

export class Topology {
  readonly tag: string;
  readonly cloudNs: string;
  readonly edges: EdgeLink[];
  #created: string[] = [];
  /** Serialises kernel changes per namespace. */
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(edgeCount: number, tag = Math.random().toString(16).slice(2, 6)) {
    if (edgeCount < 1 || edgeCount > 200) throw new Error(`Topology: edgeCount must be 1..200, got ${edgeCount}`);
    this.tag = tag;
    const base = `${NS_PREFIX}${process.pid}-${tag}`;
    this.cloudNs = `${base}-c`;
    this.edges = Array.from({ length: edgeCount }, (_, i) => ({
      index: i, ns: `${base}-e${i}`, edgeIf: `oe${tag}${i}`, cloudIf: `oc${tag}${i}`, edgeAddr: `10.213.${i}.2`, cloudAddr: `10.213.${i}.1`,
    }));
  }

  /** All namespaces of this topology. */
  get namespaces(): string[] {
    return [this.cloudNs, ...this.edges.map((e) => e.ns)];
  }

  async up(): Promise<void> {
    const ip = (...a: string[]) => runOk('ip', a);
    for (const ns of this.namespaces) {
      await ip('netns', 'add', ns);
      this.#created.push(ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    for (const e of this.edges) {
      await ip('link', 'add', e.edgeIf, 'netns', e.ns, 'type', 'veth', 'peer', 'name', e.cloudIf, 'netns', this.cloudNs);
      await ip('-n', e.ns, 'addr', 'add', `${e.edgeAddr}/30`, 'dev', e.edgeIf);
      await ip('-n', this.cloudNs, 'addr', 'add', `${e.cloudAddr}/30`, 'dev', e.cloudIf);
      await ip('-n', e.ns, 'link', 'set', e.edgeIf, 'up');
      await ip('-n', this.cloudNs, 'link', 'set', e.cloudIf, 'up');
    }
  }

  #serial<T>(ns: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#chains.get(ns) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.#chains.set(ns, next.catch(() => undefined));
    return next;
  }

  /** Sets the kernel impairments of one edge's link (replacing whatever was there). */
  setEdge(index: number, k: KernelImpairment): Promise<void> {
    const e = this.edges[index]!;
    return this.#serial(e.ns, async () => {
      await runOk('ip', ['netns', 'exec', e.ns, 'nft', '-f', '-'], { input: nftScript(edgeRules(e.edgeIf, k)) });
      await runOk('ip', ['-n', e.ns, 'link', 'set', e.edgeIf, k.linkDown ? 'down' : 'up']);
      for (const [ns, dev] of [[e.ns, e.edgeIf], [this.cloudNs, e.cloudIf]] as const) {
        if (k.rateKbit > 0) {
          await runOk('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${k.rateKbit}kbit`, 'burst', '4kb', 'latency', '400ms']);
        } else {
          await run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', dev, 'root']); // absent is fine
        }
      }
    });
  }

  /** Cuts (or restores) every edge at the cloud's end at once. */
  setCloudPartition(on: boolean): Promise<void> {
    return this.#serial(this.cloudNs, async () => {
      await runOk('ip', ['netns', 'exec', this.cloudNs, 'nft', '-f', '-'], { input: nftScript(edgeRules(`oc${this.tag}*`, { ...NO_KERNEL_IMPAIRMENT, partition: on })) });
    });
  }

  /** Removes every namespace this topology created (and whatever still runs in them). Idempotent. */
  async down(): Promise<void> {
    for (const ns of this.#created.reverse()) await deleteNamespace(ns);
    this.#created = [];
  }
}
