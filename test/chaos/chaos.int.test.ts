/**
 * CI's short chaos seed (issue "Chaos and hostile-input suite", deliverable
 * 2): 100 fault events against 4 edges (2 WebSocket, 2 QUIC) in network
 * namespaces, about 4 minutes on 2 cores. Every check of test/chaos/chaos.ts
 * is one assertion here. Long runs: `npm run test:chaos -- --events 1000`
 * (docs/reliability.md). Skipped where network namespaces are not available
 * (not root, no iproute2/nftables).
 */
import { describe, expect, it } from 'vitest';
import { missingPrerequisites } from '../../hack/chaos/netns.ts';
import { installCrds, kubeconfigPath } from '../support/kube.ts';
import { MEMORY_FACTOR, MEMORY_SLACK_BYTES, runChaos } from './chaos.ts';

const SEED = Number(process.env.OUTPOST_CHAOS_SEED ?? 20261122);
const EVENTS = Number(process.env.OUTPOST_CHAOS_EVENTS ?? 100);
const missing = await missingPrerequisites();

describe.skipIf(missing.length > 0)(`chaos: seed ${SEED}, ${EVENTS} fault events`, () => {
  it('every edge converges, every report arrives, no store is corrupt, memory returns, nothing crashes', async () => {
    await installCrds();
    const lines: string[] = [];
    const result = await runChaos({
      seed: SEED, events: EVENTS, kubeconfig: kubeconfigPath(),
      edges: [{ protocol: 'websocket' }, { protocol: 'websocket' }, { protocol: 'quic' }, { protocol: 'quic' }],
      meanGapMs: 1000, convergeTimeoutMs: 120_000, memoryFactor: MEMORY_FACTOR, memorySlackBytes: MEMORY_SLACK_BYTES,
      keepWorkDir: false, edgeMode: 'churner', log: (l) => lines.push(l),
    });
    const failed = result.checks.filter((c) => !c.ok);
    if (failed.length > 0) console.error(`${lines.join('\n')}\nfigures: ${JSON.stringify(result.figures)}\nreplay: npm run test:chaos -- --seed ${SEED} --events ${EVENTS}`);
    expect(failed.map((c) => `${c.name}: ${c.detail}`)).toEqual([]);
    expect(result.checks.length).toBeGreaterThanOrEqual(10);
  }, 600_000);
});
