/**
 * Vitest global setup for the integration and e2e suites. Integration tests
 * always run against the local control plane (hack/local-cluster), started here
 * if it is not running. The run that started it stops it at the end unless
 * another test run still uses it or OUTPOST_KEEP_CLUSTER=1 (runs register their
 * pid under <cluster dir>/users). The e2e suite uses whatever KUBECONFIG points
 * at when OUTPOST_E2E_USE_KUBECONFIG=1 (e.g. a kind cluster), else the local one.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { isRunning, up, down, defaultClusterDir } from '../../hack/local-cluster/control-plane.ts';
import { processAlive } from '../../lib/process.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (project.name === 'e2e' && process.env.OUTPOST_E2E_USE_KUBECONFIG === '1' && process.env.KUBECONFIG) {
    project.provide('kubeconfig', process.env.KUBECONFIG);
    project.provide('localCluster', false);
    return async () => {};
  }
  const wasRunning = await isRunning();
  const state = await up({ progress: (l) => process.stderr.write(`${l}\n`) });
  const users = join(defaultClusterDir, 'users');
  mkdirSync(users, { recursive: true });
  const me = join(users, `${process.pid}-${project.name}`);
  writeFileSync(me, '');
  process.env.KUBECONFIG = state.kubeconfig;
  project.provide('kubeconfig', state.kubeconfig);
  project.provide('localCluster', true);
  return async () => {
    rmSync(me, { force: true });
    let others: string[] = [];
    try {
      others = readdirSync(users).filter((f) => processAlive(Number(f.split('-')[0])));
    } catch {
      return; // someone already removed the cluster
    }
    if (!wasRunning && others.length === 0 && process.env.OUTPOST_KEEP_CLUSTER !== '1') await down({ dir: defaultClusterDir });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    localCluster: boolean;
  }
}
