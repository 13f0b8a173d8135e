/**
 * What `outpost edge` runs besides the store and the hub: the node
 * lifecycle (registration, lease, status) and the pods (edged-lite with the
 * configured runtime). Composed here so edge/agent.ts stays a list of parts.
 * The CRI runtime is imported only with `--runtime cri`: @grpc/grpc-js and
 * the CRI proto cost memory the process runtime does not need.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
                                               
                                                   
                                               
import { PodManager } from '../pods/manager.js';
import { ProcessRuntime } from '../pods/process-runtime.js';
                                                     
import { NodeLifecycle } from './lifecycle.js';
import { readHostFacts } from './node-info.js';

                                
                       
                    
                       
                                                                                                
                        
 

const agentVersion = (() => {
  try {
    return (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8'))                       ).version;
  } catch {
    return '0.0.0';
  }
})();

/** Creates the runtime the config names (lazy-loading the CRI one). */
export async function createRuntime(pods                                 , log        )                      {
  if (pods.runtime === 'cri') {
    const { CriRuntime } = await import('../pods/cri/cri-runtime.js');
    return new CriRuntime({ endpoint: pods.criEndpoint, log });
  }
  return new ProcessRuntime({ log, version: agentVersion });
}

/**
 * Starts the node lifecycle (when `config.node`) and the pods (when
 * `config.pods`). Resolves once every pod in the local store had its first
 * sync (running pods adopted, stopped ones restarted): with no cloud, this is
 * the node running its last desired state.
 */
export async function startNodeWorkloads(config            , deps                                                                                           )                         {
  const { store, notify, log } = deps;
  if (!config.node && !config.pods) return { stop: async () => undefined };
  const facts = readHostFacts({ dataDir: config.dataDir, ...(config.node?.ip ? { nodeIP: config.node.ip } : {}) });
  const runtime = config.pods ? await createRuntime(config.pods, log) : undefined;
  let runtimeVersion = `outpost-process://${agentVersion}`;
  if (runtime) {
    try {
      const v = await runtime.version();
      runtimeVersion = `${v.name}://${v.version}`;
    } catch (err) {
      log.warn('Container runtime not answering yet; registering without its version', { err });
      runtimeVersion = `${runtime.type}://unknown`;
    }
  }
  let node                           ;
  if (config.node) {
    node = new NodeLifecycle({
      nodeName: config.nodeName, outbox: store.outbox, log, facts, dataDir: config.dataDir, containerRuntimeVersion: runtimeVersion, notify,
      ...(config.node.heartbeatMs ? { heartbeatMs: config.node.heartbeatMs } : {}),
      ...(config.node.kubeletPort ? { kubeletPort: config.node.kubeletPort } : {}),
      ...(config.node.maxPods ? { maxPods: config.node.maxPods } : {}),
    });
    node.start();
    // a fresh heartbeat as soon as the cloud is back, not up to heartbeatMs later
    deps.onSynced(() => node .heartbeat());
  }
  let pods                        ;
  if (config.pods && runtime) {
    pods = new PodManager({
      nodeName: config.nodeName, store, runtime, dataDir: config.dataDir, log, notifyOutbox: notify,
      facts: { hostIP: facts.internalIP, podIP: facts.internalIP, allocatable: { cpu: String(facts.cpu), memory: `${Math.floor(facts.memoryBytes / 1024)}Ki` } },
      ...(config.pods.backoff ? { backoff: config.pods.backoff } : {}),
    });
    await pods.start();
  }
  return {
    ...(node ? { node } : {}), ...(pods ? { pods } : {}), ...(runtime ? { runtime } : {}),
    async stop() {
      node?.stop();
      await pods?.stop();
      await runtime?.close();
    },
  };
}
