// Unit tests of the impaired hub benchmark's pure parts: flags → plan, and the relay's checksum fix.
import { describe, expect, it } from 'vitest';
import { ImpairedPlanError, impairedPlan, percentile } from './plan.ts';
import { fixInnerChecksum, innerIpBytes } from './tunnel-relay.ts';

describe('impairedPlan', () => {
  it('has defaults and parses every flag', () => {
    expect(impairedPlan({})).toEqual({
      edges: 20, protocol: 'websocket', lossPct: 0, delayMs: 0, rounds: 3, largeBytes: 256 * 1024, concurrency: 100, phaseTimeoutMs: 180_000, json: false, out: undefined,
    });
    expect(impairedPlan({ edges: '50', protocol: 'quic', loss: '5%', 'delay-ms': '200', rounds: '1', 'large-kib': '1024', concurrency: '10', 'phase-timeout-s': '60', json: true, out: 'r.json' })).toEqual({
      edges: 50, protocol: 'quic', lossPct: 5, delayMs: 200, rounds: 1, largeBytes: 1 << 20, concurrency: 10, phaseTimeoutMs: 60_000, json: true, out: 'r.json',
    });
    expect(impairedPlan({ protocol: 'websocket' }).protocol).toBe('websocket');
  });

  it.each([
    [{ protocol: 'tcp' }, '--protocol must be ws or quic, got "tcp"'],
    [{ loss: '-1' }, '--loss must be a number from 0 to 50 (percent per direction; 0 = none), got "-1"'],
    [{ loss: '60' }, '--loss must be a number from 0 to 50'],
    [{ loss: '0.5' }, '--loss must be a whole percent (nftables drops in steps of 1 %), got "0.5"'],
    [{ loss: 'lots' }, '--loss must be a number'],
    [{ 'delay-ms': '' }, '--delay-ms must be an integer from 0 to 2000 ms one way, got ""'],
    [{ 'delay-ms': '12.5' }, '--delay-ms must be an integer'],
    [{ edges: '0' }, '--edges must be an integer from 1 to 2000, got "0"'],
    [{ edges: '1e9' }, '--edges must be an integer from 1 to 2000'],
    [{ 'large-kib': '0' }, '--large-kib must be an integer from 1 to 8192 KiB'],
    [{ 'phase-timeout-s': '1' }, '--phase-timeout-s must be an integer from 5 to 3600 s'],
  ])('refuses %o with a message naming the flag and the accepted range', (flags, message) => {
    expect(() => impairedPlan(flags)).toThrow(ImpairedPlanError);
    expect(() => impairedPlan(flags)).toThrow(message);
  });

  it('percentile is nearest-rank and null for no samples', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });
});

/** VXLAN header + Ethernet + IPv4 + a transport segment with a wrong checksum. */
function vxlanPacket(proto: 6 | 17, payload: Buffer): Buffer {
  const l4Header = proto === 6 ? 20 : 8;
  const l4 = Buffer.alloc(l4Header + payload.length);
  l4.writeUInt16BE(40000, 0);
  l4.writeUInt16BE(7000, 2);
  if (proto === 6) {
    l4.writeUInt32BE(123456, 4);
    l4[12] = 5 << 4;
    l4[13] = 0x18;
    l4.writeUInt16BE(0xbeef, 16); // what offload leaves: not the real checksum
  } else {
    l4.writeUInt16BE(l4.length, 4);
    l4.writeUInt16BE(0xbeef, 6);
  }
  payload.copy(l4, l4Header);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip[8] = 64;
  ip[9] = proto;
  Buffer.from([10, 214, 0, 1, 10, 214, 0, 2]).copy(ip, 12);
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([Buffer.from([8, 0, 0, 0, 0, 0x10, 0x75, 0]), eth, ip, l4]);
}

/** RFC 1071 check: the one's-complement sum over pseudo-header and segment, checksum included, is 0xffff. */
function verifies(d: Buffer): boolean {
  const ip = 22;
  const total = d.readUInt16BE(ip + 2);
  const seg = d.subarray(ip + 20, ip + total);
  let sum = d.readUInt16BE(ip + 12) + d.readUInt16BE(ip + 14) + d.readUInt16BE(ip + 16) + d.readUInt16BE(ip + 18) + d[ip + 9]! + seg.length;
  for (let i = 0; i < seg.length; i += 2) sum += (seg[i]! << 8) | (seg[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

describe('fixInnerChecksum', () => {
  it.each([[6, 0], [6, 1], [6, 1337], [17, 0], [17, 1201]] as const)('fills in a correct checksum (proto %i, %i payload bytes)', (proto, n) => {
    const d = vxlanPacket(proto, Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff)));
    expect(verifies(d)).toBe(false);
    expect(fixInnerChecksum(d)).toBe(true);
    expect(verifies(d)).toBe(true);
    expect(innerIpBytes(d)).toBe(d.length - 22);
  });

  it('leaves ARP, truncated packets and later fragments alone', () => {
    const arp = vxlanPacket(6, Buffer.alloc(10));
    arp.writeUInt16BE(0x0806, 8 + 12);
    expect(fixInnerChecksum(arp)).toBe(false);
    const short = vxlanPacket(6, Buffer.alloc(100)).subarray(0, 80);
    expect(fixInnerChecksum(short)).toBe(false);
    const frag = vxlanPacket(17, Buffer.alloc(10));
    frag.writeUInt16BE(185, 22 + 6);
    const before = Buffer.from(frag);
    expect(fixInnerChecksum(frag)).toBe(false);
    expect(frag).toEqual(before);
  });
});
