// Pod startup latency on an edge node (issue "Edge node", deliverable 5):
// `kubectl apply` of a Deployment with N replicas pinned to a fresh edge node
// (nodeSelector kubernetes.io/hostname, so through the real scheduler) →
// every pod Running as the API server shows it. A pod's startup latency is
// the time from the watch's ADDED event for it to the first event showing it
// Running (creationTimestamp has 1 s resolution, too coarse here); this
// includes the ReplicaSet controller, the scheduler, CloudHub routing, the
// edge starting the container and the status report's round trip.
// Prints one JSON object.
//   node bench/pods.ts [--pods 100] [--runtime process|cri] [--entry cli|lean|js] [--json]
// (OUTPOST_BENCH_NODE_ARGS: node flags for the agent; OUTPOST_BENCH_AGENT_LOG=<file>: its debug log)
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { readState } from '../hack/local-cluster/control-plane.ts';
import { deployment, percentile, startEdgeBench, type AgentEntry } from './edge-node-harness.ts';

const argv = process.argv.slice(2);
const flag = (n: string, d: string) => (argv.includes(n) ? argv[argv.indexOf(n) + 1]! : d);
const pods = Number(flag('--pods', '100'));
const runtime = flag('--runtime', 'process') as 'process' | 'cri';
const asJson = argv.includes('--json');
const entry = flag('--entry', 'cli') as AgentEntry;
if (!Number.isInteger(pods) || pods < 1 || !['process', 'cri'].includes(runtime)) {
  process.stderr.write('usage: node bench/pods.ts [--pods N] [--runtime process|cri] [--json]\n');
  process.exit(2);
}

const b = await startEdgeBench({ runtime, entry, progress: (l) => process.stderr.write(`${l}\n`) });
let result: Record<string, unknown>;
try {
  const added = new Map<string, number>();
  const running = new Map<string, number>();
  const bound = new Map<string, number>();
  let allDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (allDone = r));
  const watch = await new k8s.Watch(b.kc).watch(`/api/v1/namespaces/${b.namespace}/pods`, {}, (type: string, obj: k8s.V1Pod) => {
    const name = obj.metadata?.name ?? '';
    const now = performance.now();
    if (!added.has(name)) added.set(name, now);
    if (obj.spec?.nodeName && !bound.has(name)) bound.set(name, now);
    if (obj.status?.phase === 'Running' && !running.has(name)) {
      running.set(name, now);
      if (running.size >= pods) allDone();
    }
  }, () => undefined);
  const state = readState()!;
  const t0 = performance.now();
  const kubectl = promisify(execFile)(join(state.binDir, 'kubectl'), ['--kubeconfig', state.kubeconfig, 'apply', '-f', '-']);
  kubectl.child.stdin!.end(JSON.stringify(deployment('bench', b.namespace, b.node, pods, runtime)));
  await kubectl;
  const timeout = setTimeout(allDone, 300_000);
  await done;
  clearTimeout(timeout);
  const allRunningMs = Math.round(performance.now() - t0);
  watch.abort();
  const lat = [...running].map(([n, t]) => t - (added.get(n) ?? t)).sort((x, y) => x - y);
  // where the time goes: creation → bound to the node (scheduler), bound → Running (hub, edge, status report)
  const sched = [...running.keys()].map((n) => (bound.get(n) ?? 0) - (added.get(n) ?? 0)).sort((x, y) => x - y);
  const edge = [...running].map(([n, t]) => t - (bound.get(n) ?? t)).sort((x, y) => x - y);
  result = {
    pods, runtime, entry, running: running.size,
    startupP50Ms: Math.round(percentile(lat, 50)), startupP99Ms: Math.round(percentile(lat, 99)), startupMaxMs: Math.round(lat.at(-1) ?? Number.NaN),
    scheduleP50Ms: Math.round(percentile(sched, 50)), scheduleP99Ms: Math.round(percentile(sched, 99)),
    boundToRunningP50Ms: Math.round(percentile(edge, 50)), boundToRunningP99Ms: Math.round(percentile(edge, 99)),
    allRunningMs, agentRssMB: b.agentRssMB(), node: process.version,
  };
} finally {
  await b.close();
}
process.stdout.write(asJson ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
