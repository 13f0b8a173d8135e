/**
 * A Modbus TCP server simulating one device, for tests, demos and the
 * benchmark: 65 536 coils, discrete inputs, holding and input registers in
 * memory, function codes 1, 2, 3, 4, 5, 6, 15, 16, exception answers for
 * unknown functions (1), bad quantities (3) and unknown unit ids (11). It
 * can stop answering (`silent`) or drop every connection to play a device
 * that disappears.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { MapperError } from '../errors.ts';
import { aduLength, decodeRequest, encodeResponse, type ModbusRequest, type ModbusResponse } from './frame.ts';

export interface SimulatorOptions {
  host?: string;
  port?: number;
  /** Answer only this unit id (others get exception 11); default: any. */
  unit?: number;
}

export class ModbusSimulator {
  readonly coils = new Uint8Array(0x10000);
  readonly discreteInputs = new Uint8Array(0x10000);
  readonly holding = new Uint16Array(0x10000);
  readonly input = new Uint16Array(0x10000);
  /** When true, requests are read but never answered (the client times out). */
  silent = false;
  requests = 0;
  writes = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #unit: number | undefined;
  readonly #writeListeners = new Set<(req: ModbusRequest) => void>();

  private constructor(server: Server, unit: number | undefined) {
    this.#server = server;
    this.#unit = unit;
  }

  /** Starts listening (port 0 picks a free one). */
  static async start(o: SimulatorOptions = {}): Promise<ModbusSimulator> {
    const holder: { sim?: ModbusSimulator } = {};
    const server = createServer((s) => holder.sim!.#accept(s));
    const sim = (holder.sim = new ModbusSimulator(server, o.unit));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return sim;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Called after every write request was applied. */
  onWrite(cb: (req: ModbusRequest) => void): () => void {
    this.#writeListeners.add(cb);
    return () => this.#writeListeners.delete(cb);
  }

  /** Writes big-endian register bytes starting at `address` into holding (or input) registers. */
  setRegisterBytes(table: 'holding' | 'input', address: number, bytes: Uint8Array): void {
    const t = table === 'holding' ? this.holding : this.input;
    for (let i = 0; i + 1 < bytes.length; i += 2) t[address + i / 2] = (bytes[i]! << 8) | bytes[i + 1]!;
  }

  /** Reads `count` registers as big-endian bytes. */
  registerBytes(table: 'holding' | 'input', address: number, count: number): Uint8Array {
    const t = table === 'holding' ? this.holding : this.input;
    const out = new Uint8Array(count * 2);
    for (let i = 0; i < count; i++) {
      out[2 * i] = t[address + i]! >> 8;
      out[2 * i + 1] = t[address + i]! & 0xff;
    }
    return out;
  }

  /** Closes every client connection (the server keeps listening). */
  dropConnections(): void {
    for (const s of this.#sockets) s.destroy();
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(s: Socket): void {
    this.#sockets.add(s);
    s.setNoDelay(true);
    s.on('close', () => this.#sockets.delete(s));
    s.on('error', () => undefined);
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        let n: number | undefined;
        try {
          n = aduLength(buf);
        } catch {
          s.destroy(); // not Modbus: a real device would drop it too
          return;
        }
        if (n === undefined || buf.length < n) return;
        const frame = buf.subarray(0, n);
        buf = buf.subarray(n);
        const out = this.#answer(frame);
        if (out && !this.silent) s.write(out);
      }
    });
  }

  #answer(frame: Buffer): Buffer | undefined {
    this.requests++;
    const tid = frame.readUInt16BE(0);
    const unit = frame[6]!;
    const fc = frame[7] ?? 0;
    if (this.#unit !== undefined && unit !== this.#unit) return encodeResponse(tid, unit, { fc, exception: 11 });
    let req: ModbusRequest;
    try {
      req = decodeRequest(frame).pdu;
    } catch (err) {
      if (err instanceof MapperError && err.code === 'MODBUS_UNKNOWN_FUNCTION') return encodeResponse(tid, unit, { fc, exception: 1 });
      if (err instanceof MapperError && err.code === 'MODBUS_INVALID_REQUEST') return encodeResponse(tid, unit, { fc, exception: 3 });
      return undefined;
    }
    return encodeResponse(tid, unit, this.#apply(req));
  }

  #apply(r: ModbusRequest): ModbusResponse {
    switch (r.fc) {
      case 1:
      case 2: {
        const t = r.fc === 1 ? this.coils : this.discreteInputs;
        return { fc: r.fc, bits: Array.from(t.subarray(r.address, r.address + r.quantity), (b) => b === 1) };
      }
      case 3:
      case 4:
        return { fc: r.fc, registers: this.registerBytes(r.fc === 3 ? 'holding' : 'input', r.address, r.quantity) };
      case 5:
        this.coils[r.address] = r.value ? 1 : 0;
        this.#wrote(r);
        return { fc: 5, address: r.address, value: r.value };
      case 6:
        this.holding[r.address] = r.value;
        this.#wrote(r);
        return { fc: 6, address: r.address, value: r.value };
      case 15:
        r.values.forEach((v, i) => (this.coils[r.address + i] = v ? 1 : 0));
        this.#wrote(r);
        return { fc: 15, address: r.address, quantity: r.values.length };
      case 16:
        this.setRegisterBytes('holding', r.address, r.values);
        this.#wrote(r);
        return { fc: 16, address: r.address, quantity: r.values.length / 2 };
    }
  }

  #wrote(r: ModbusRequest): void {
    this.writes++;
    for (const l of this.#writeListeners) l(r);
  }
}
