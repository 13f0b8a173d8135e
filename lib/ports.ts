/**
 * Free TCP ports on loopback, for components that pick their own port
 * (tests, benchmarks, the quickstart, the local control plane). A port is
 * free when this returns; another process can take it before the caller
 * binds it, so callers that can, listen on port 0 instead.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';

/** `n` distinct free loopback ports (all held open until every one is known, so they differ). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<Server>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** One free loopback port. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}
