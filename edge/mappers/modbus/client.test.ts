import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MapperError } from '../errors.ts';
import { ModbusTcpClient } from './client.ts';
import { ModbusSimulator } from './simulator.ts';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(o: { unit?: number; timeoutMs?: number; simUnit?: number } = {}) {
  const sim = await ModbusSimulator.start(o.simUnit !== undefined ? { unit: o.simUnit } : {});
  cleanup.push(() => sim.close());
  const client = new ModbusTcpClient({ host: '127.0.0.1', port: sim.port, unit: o.unit ?? 1, timeoutMs: o.timeoutMs ?? 500 });
  await client.connect();
  cleanup.push(() => client.close());
  return { sim, client };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    if (e instanceof MapperError) return e.code;
    throw e;
  }
  return undefined;
}

describe('ModbusTcpClient against the simulator', () => {
  it('reads and writes all four tables with functions 1-6, 15, 16', async () => {
    const { sim, client } = await setup();
    sim.holding[10] = 0x1234;
    sim.holding[11] = 0xabcd;
    sim.input[5] = 42;
    sim.discreteInputs[3] = 1;
    expect(Buffer.from(await client.readHoldingRegisters(10, 2)).toString('hex')).toBe('1234abcd');
    expect(Buffer.from(await client.readInputRegisters(5, 1)).toString('hex')).toBe('002a');
    expect(await client.readDiscreteInputs(2, 3)).toEqual([false, true, false]);
    await client.writeSingleCoil(7, true);
    expect(await client.readCoils(6, 3)).toEqual([false, true, false]);
    await client.writeMultipleCoils(100, [true, true, false, true]);
    expect(Array.from(sim.coils.subarray(100, 104))).toEqual([1, 1, 0, 1]);
    await client.writeSingleRegister(20, 65535);
    expect(sim.holding[20]).toBe(65535);
    await client.writeMultipleRegisters(30, Uint8Array.from([0, 1, 0, 2, 0, 3]));
    expect(Array.from(sim.holding.subarray(30, 33))).toEqual([1, 2, 3]);
    expect(sim.writes).toBe(4);
  });

  it('serialises concurrent requests on one connection', async () => {
    const { sim, client } = await setup();
    for (let i = 0; i < 50; i++) sim.holding[i] = i;
    const got = await Promise.all(Array.from({ length: 50 }, (_, i) => client.readHoldingRegisters(i, 1)));
    expect(got.map((b) => (b[0]! << 8) | b[1]!)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('turns exception answers into MODBUS_EXCEPTION and keeps the connection', async () => {
    const { client } = await setup({ unit: 9, simUnit: 1 });
    const err = await client.readHoldingRegisters(0, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MapperError);
    expect((err as MapperError).code).toBe('MODBUS_EXCEPTION');
    expect((err as MapperError).exceptionCode).toBe(11);
    expect(client.connected).toBe(true);
  });

  it('times out on a silent device and drops the connection', async () => {
    const { sim, client } = await setup({ timeoutMs: 100 });
    sim.silent = true;
    let lost: string | undefined;
    client.onClose((e) => (lost = e.code));
    expect(await codeOf(client.readHoldingRegisters(0, 1))).toBe('MAPPER_TIMEOUT');
    expect(lost).toBe('MAPPER_TIMEOUT');
    expect(client.connected).toBe(false);
    expect(await codeOf(client.readHoldingRegisters(0, 1))).toBe('MAPPER_CONNECTION_LOST');
  });

  it('reports a dropped connection to pending requests and listeners', async () => {
    const { sim, client } = await setup();
    let lost: string | undefined;
    client.onClose((e) => (lost = e.code));
    sim.silent = true;
    const p = codeOf(client.readCoils(0, 1));
    await new Promise((r) => setTimeout(r, 20));
    sim.dropConnections();
    expect(await p).toBe('MAPPER_CONNECTION_LOST');
    await expect.poll(() => lost).toBe('MAPPER_CONNECTION_LOST');
  });

  it('fails to connect to a closed port with MAPPER_CONNECT_FAILED', async () => {
    const sim = await ModbusSimulator.start();
    const port = sim.port;
    await sim.close();
    const c = new ModbusTcpClient({ host: '127.0.0.1', port, timeoutMs: 300 });
    expect(await codeOf(c.connect())).toBe('MAPPER_CONNECT_FAILED');
  });

  it('the simulator answers an unknown function with exception 1 and drops non-Modbus peers', async () => {
    const sim = await ModbusSimulator.start();
    cleanup.push(() => sim.close());
    const answer = await new Promise<Buffer>((resolve) => {
      const s = connect(sim.port, '127.0.0.1', () => s.write(Buffer.from('000100000002012b', 'hex')));
      s.once('data', (d: Buffer) => {
        s.destroy();
        resolve(d);
      });
    });
    expect(answer.toString('hex')).toBe('000100000003' + '01ab01');
    const closed = await new Promise<boolean>((resolve) => {
      const s = connect(sim.port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\n\r\n'));
      s.on('error', () => undefined);
      s.once('close', () => resolve(true));
    });
    expect(closed).toBe(true);
  });
});
