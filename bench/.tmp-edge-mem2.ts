import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../lib/log.ts';
import { openEdgeStore } from '../edge/store/store.ts';
import { startDevices } from '../edge/devices/index.ts';
import { device, deviceModel, receive } from '../test/support/devices.ts';
import { fork } from 'node:child_process';
if (process.argv[2] === 'pub') {
  const { connectAsync } = await import('mqtt');
  const app = await connectAsync(process.argv[3]!, { protocolVersion: 4 });
  let acc = 0; app.on('message', () => acc++);
  await app.subscribeAsync('$hw/events/device/b/+/twin/update/result');
  const N = 40000;
  for (let i = 0; i < N; i++) {
    void app.publishAsync(`$hw/events/device/b/d${i % 20}/twin/update`, `{"event_id":"${i}","twin":{"p${(i/20|0)%10}":{"actual":{"value":"${i}"}}}}`, { qos: 0 });
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 10));
  }
  const t = Date.now();
  while (acc < N && Date.now() - t < 30000) await new Promise((r) => setTimeout(r, 10));
  process.exit(0);
}
const store = openEdgeStore(join(mkdtempSync(join(tmpdir(), 'tw-')), 'edge.db'));
receive(store, deviceModel('b', 'm', [0,1,2,3,4,5,6,7,8,9].map((i) => ({ name: `p${i}`, type: 'INT', accessMode: 'ReadOnly' }))));
for (let d = 0; d < 20; d++) receive(store, device('b', `d${d}`, { model: 'm', properties: [0,1,2,3,4,5,6,7,8,9].map((i) => ({ name: `p${i}`, reportCycle: 5e8 })) }));
const devs = await startDevices({ store, nodeName: 'e', log: silentLogger, notifyOutbox: () => { store.outbox.ack(store.outbox.pending(1000).map((e) => e.id)); }, config: { mode: 'on', mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0 }, mappers: false } });
const c = fork(import.meta.filename, ['pub', devs.bus!.url], { execArgv: [] });
await new Promise((r) => c.once('exit', r));
console.log('OK');
process.exit(0);
