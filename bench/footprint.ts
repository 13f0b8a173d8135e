// Edge agent memory (issue "Edge node", deliverable 5): resident set size
// (VmRSS) of a real `outpost edge` process (process runtime, connected to
// CloudHub over WebSocket) when idle, with 10 pods and with 50 pods, each
// measured after the pods are Running and the agent settled for 10 s. RSS of
// the pods themselves is not included (they are separate processes).
// Prints one JSON object.
//   node bench/footprint.ts [--runtime process|cri] [--entry cli|lean|js] [--node-args "--flag …"] [--settle-ms 10000] [--json]
// --entry: how the agent starts (bench/edge-node-harness.ts AgentEntry): `cli` (default) is
// `outpost edge` as shipped (bin/outpost.js: the pre-stripped build with the launcher's V8 flags);
// `lean` (TypeScript sources) and `js` (the build) run without flags, plus --node-args.
// The JSON's `agent` is what the agent process really ran (its /proc cmdline: node flags, entry).
import { loadavg } from 'node:os';
import { deployment, startEdgeBench, type AgentEntry } from './edge-node-harness.ts';

const argv = process.argv.slice(2);
const flag = (n: string, d: string) => (argv.includes(n) ? argv[argv.indexOf(n) + 1]! : d);
const runtime = flag('--runtime', 'process') as 'process' | 'cri';
const entry = flag('--entry', 'cli') as AgentEntry;
const nodeArgs = flag('--node-args', '').split(' ').filter(Boolean);
const settleMs = Number(flag('--settle-ms', '10000'));
const asJson = argv.includes('--json');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const b = await startEdgeBench({ runtime, entry, nodeArgs, progress: (l) => process.stderr.write(`${l}\n`) });
let result: Record<string, unknown>;
try {
  // median of five samples a second apart, after settling
  const sample = async () => {
    await sleep(settleMs);
    const s: number[] = [];
    for (let i = 0; i < 5; i++) {
      s.push(b.agentRssMB());
      await sleep(1000);
    }
    return s.sort((x, y) => x - y)[2]!;
  };
  const scaleTo = async (n: number) => {
    const d = deployment('footprint', b.namespace, b.node, n, runtime);
    if (n === 10) await b.apps.createNamespacedDeployment({ namespace: b.namespace, body: d });
    else await b.apps.patchNamespacedDeploymentScale({ name: 'footprint', namespace: b.namespace, body: { spec: { replicas: n } } }, (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', 'application/merge-patch+json'));
    for (let i = 0; i < 1200; i++) {
      const pods = (await b.core.listNamespacedPod({ namespace: b.namespace })).items.filter((p) => p.status?.phase === 'Running');
      if (pods.length >= n) return;
      await sleep(250);
    }
    throw new Error(`only some of ${n} pods became Running`);
  };
  const rssIdleMB = await sample();
  await scaleTo(10);
  const rss10PodsMB = await sample();
  await scaleTo(50);
  const rss50PodsMB = await sample();
  const malloc = process.env.MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX } : {};
  result = { runtime, entry, agent: { ...b.agentCommand(), ...malloc }, rssIdleMB, rss10PodsMB, rss50PodsMB, settleMs, node: process.version, loadAverage: loadavg().map((l) => Math.round(l * 10) / 10) };
} finally {
  await b.close();
}
process.stdout.write(asJson ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
