// The pod runtime contract against containerd through CRI gRPC, with a
// private containerd (hack/containerd) and the locally built busybox and
// pause images (hack/images/build-test-image.ts).
import { createLogger } from '../../../lib/log.ts';
import { startContainerd } from '../../../hack/containerd/containerd.ts';
import { podRuntimeContract } from '../contract.ts';
import { CriRuntime } from './cri-runtime.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });

podRuntimeContract('cri', async () => {
  const containerd = await startContainerd({ images: true });
  return {
    image: 'docker.io/library/busybox:1.35',
    scheme: 'containerd',
    runtime: async () => {
      const r = new CriRuntime({ endpoint: `unix://${containerd.socket}`, log, pollMs: 250 });
      await r.ready();
      return r;
    },
    cleanup: () => containerd.stop(),
  };
});
