/**
 * Relays an upgraded exec/attach connection to the container runtime's
 * streaming server (the URL CRI Exec/Attach return), the way the kubelet
 * proxies to it: the client's request goes on unchanged except for the path
 * and Host, and from then on bytes flow both ways untouched. The runtime
 * speaks SPDY and remotecommand itself, so stdin half-close (`kubectl exec
 * -i` with a pipe), TTY and terminal resize behave exactly as the runtime
 * implements them.
 */
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';

/** Headers that describe this hop only, not the request. */
const HOP = new Set(['host', 'content-length', 'transfer-encoding']);

/** The request head sent to `target`: same method and headers, target's path and Host (pure). */
export function relayRequestHead(method: string, rawHeaders: readonly string[], target: URL): string {
  const lines = [`${method} ${target.pathname}${target.search} HTTP/1.1`, `Host: ${target.host}`];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    if (HOP.has(name.toLowerCase()) || /[\r\n]/.test(name + value)) continue;
    lines.push(`${name}: ${value}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Connects to `url` (http://host:port/…), sends the relayed request and any
 * bytes already read after the client's head, then pipes both ways until
 * either side closes. A failure to connect answers the client with 502.
 */
export function relayUpgrade(client: Duplex, req: { method?: string; rawHeaders: string[] }, head: Buffer, url: string, onError: (err: Error) => void): void {
  const target = new URL(url);
  if (target.protocol !== 'http:') {
    client.end(`HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    onError(new Error(`streaming URL ${url} is not http://`));
    return;
  }
  const upstream = connect({ host: target.hostname, port: Number(target.port || 80) });
  let connected = false;
  upstream.once('connect', () => {
    connected = true;
    upstream.write(relayRequestHead(req.method ?? 'POST', req.rawHeaders, target));
    if (head.length) upstream.write(head);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  upstream.on('error', (err) => {
    if (!connected) {
      const msg = `container runtime streaming server unreachable: ${err.message}`;
      client.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(msg)}\r\nconnection: close\r\n\r\n${msg}`);
    } else client.destroy();
    onError(err);
  });
  client.on('error', () => upstream.destroy());
  client.once('close', () => upstream.destroy());
  upstream.once('close', () => client.destroy());
}
