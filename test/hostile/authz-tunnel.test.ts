/**
 * Tunnel request frames (kubectl logs/exec) carry no identity of their own:
 * the hub hands them to its tunnel handler with the session, whose node is
 * the client certificate's, whatever the request names. When tunnels land,
 * the handler must refuse a request for a pod not bound to `session.node`
 * (TODO(tunnels): add that test next to the handler).
 */
import { describe, expect, it } from 'vitest';
import { CloudHub } from '../../cloud/hub/hub.ts';
import type { Session } from '../../cloud/hub/session.ts';
import { encode, type Msg } from '../../edge/protocol/index.ts';
import { memoryLinkPair } from '../../edge/transport/memory.ts';
import { createLogger } from '../../lib/log.ts';
import { MemorySources } from './memory-sources.ts';

describe('tunnel frames', () => {
  it('reach the tunnel handler with the certificate identity of the sending edge', async () => {
    const hub = new CloudHub({ sources: new MemorySources(), reports: { handle: async () => ({ ok: true }) }, log: createLogger({ level: 'error' }) });
    const seen: { node: string; path: string }[] = [];
    hub.onTunnel = (s: Session, m: Extract<Msg, { type: 'request' | 'response' }>) => void seen.push({ node: s.node, path: m.type === 'request' ? m.path : '' });
    const pair = memoryLinkPair({ commonNames: { b: 'system:node:edge-a' } });
    hub.attach(pair.a);
    await pair.b.send(encode({ type: 'hello', versions: [1], caps: [], agent: 't', window: 8, digest: '0'.repeat(64), inventory: {} }));
    await pair.b.send(encode({ type: 'request', id: 1, method: 'GET', path: '/containerLogs/ns/pod-of-edge-b/c', headers: [['x-outpost-node', 'edge-b']], end: true, body: new Uint8Array() }));
    await expect.poll(() => seen).toEqual([{ node: 'edge-a', path: '/containerLogs/ns/pod-of-edge-b/c' }]);
  });
});
