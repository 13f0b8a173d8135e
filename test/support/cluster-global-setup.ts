/**
 * Vitest global setup for the integration and e2e suites. Integration tests
 * always run against the local control plane (hack/local-cluster), started here
 * if it is not running (and stopped again afterwards if this run started it,
 * unless OUTPOST_KEEP_CLUSTER=1). The e2e suite uses whatever KUBECONFIG points
 * at when OUTPOST_E2E_USE_KUBECONFIG=1 (e.g. a kind cluster), else the local one.
 */
import type { TestProject } from 'vitest/node';
import { isRunning, up, down, defaultClusterDir } from '../../hack/local-cluster/control-plane.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (project.name === 'e2e' && process.env.OUTPOST_E2E_USE_KUBECONFIG === '1' && process.env.KUBECONFIG) {
    project.provide('kubeconfig', process.env.KUBECONFIG);
    project.provide('localCluster', false);
    return async () => {};
  }
  const wasRunning = await isRunning();
  const state = await up({ progress: (l) => process.stderr.write(`${l}\n`) });
  process.env.KUBECONFIG = state.kubeconfig;
  project.provide('kubeconfig', state.kubeconfig);
  project.provide('localCluster', true);
  return async () => {
    if (!wasRunning && process.env.OUTPOST_KEEP_CLUSTER !== '1') await down({ dir: defaultClusterDir });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    localCluster: boolean;
  }
}
