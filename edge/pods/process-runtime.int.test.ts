// The pod runtime contract against the process runtime (host processes).
import { createLogger } from '../../lib/log.ts';
import { podRuntimeContract } from './contract.ts';
import { ProcessRuntime } from './process-runtime.ts';

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });

podRuntimeContract('process', async () => ({
  image: 'busybox:1.35',
  scheme: 'process',
  runtime: async () => new ProcessRuntime({ log }),
}));
