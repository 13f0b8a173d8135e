import { describe, expect, it } from 'vitest';
import { relayRequestHead } from './relay.ts';

describe('relayRequestHead', () => {
  it('keeps method and headers (duplicates too), takes path and Host from the streaming URL, drops per-hop headers', () => {
    const raw = ['Host', '127.0.0.1:10350', 'Connection', 'Upgrade', 'Upgrade', 'SPDY/3.1', 'X-Stream-Protocol-Version', 'v4.channel.k8s.io', 'X-Stream-Protocol-Version', 'v3.channel.k8s.io', 'Content-Length', '0'];
    const head = relayRequestHead('POST', raw, new URL('http://127.0.0.1:41234/exec/AbC?x=1'));
    expect(head).toBe([
      'POST /exec/AbC?x=1 HTTP/1.1', 'Host: 127.0.0.1:41234', 'Connection: Upgrade', 'Upgrade: SPDY/3.1',
      'X-Stream-Protocol-Version: v4.channel.k8s.io', 'X-Stream-Protocol-Version: v3.channel.k8s.io', '', '',
    ].join('\r\n'));
  });

  it('never forwards a header that would split the request', () => {
    const head = relayRequestHead('POST', ['X-Evil', 'a\r\nInjected: 1', 'Upgrade', 'SPDY/3.1'], new URL('http://127.0.0.1:1/attach/t'));
    expect(head).not.toContain('Injected');
    expect(head).toContain('Upgrade: SPDY/3.1');
  });
});
