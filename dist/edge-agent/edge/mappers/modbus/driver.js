/**
 * The built-in Modbus TCP mapper's driver: one ModbusTcpClient per device,
 * properties read and written through their KubeEdge modbus visitors
 * (visitor.ts). Coils and discrete inputs are read with functions 1/2,
 * holding and input registers with 3/4; writes use 5/6 for one coil or
 * register and 15/16 for more.
 */
                                                                              
                                                                   
import { ModbusTcpClient } from './client.js';
import { decodeValue, encodeValue, parseProtocol, parseVisitor,                    } from './visitor.js';

export const modbusDriver               = {
  protocols: ['modbus', 'modbus-tcp', 'modbustcp'],

  checkProperty(device                , p                  )       {
    parseVisitor(device.id, p);
  },

  async connect(device                )                            {
    const proto = parseProtocol(device);
    const client = new ModbusTcpClient({ host: proto.host, port: proto.port, unit: proto.unit, timeoutMs: proto.timeoutMs });
    await client.connect();
    const visitors = new Map                       ();
    const visitor = (p                  ) => {
      let v = visitors.get(p.name);
      if (!v) visitors.set(p.name, (v = parseVisitor(device.id, p)));
      return v;
    };
    return {
      async read(p) {
        const v = visitor(p);
        switch (v.table) {
          case 'coil':
            return decodeValue(v, p.type, await client.readCoils(v.offset, v.limit));
          case 'discrete':
            return decodeValue(v, p.type, await client.readDiscreteInputs(v.offset, v.limit));
          case 'holding':
            return decodeValue(v, p.type, await client.readHoldingRegisters(v.offset, v.limit));
          case 'input':
            return decodeValue(v, p.type, await client.readInputRegisters(v.offset, v.limit));
        }
      },
      async write(p, canonical) {
        const v = visitor(p);
        const enc = encodeValue(v, p.type, canonical);
        if ('bits' in enc) {
          if (enc.bits.length === 1) await client.writeSingleCoil(v.offset, enc.bits[0] );
          else await client.writeMultipleCoils(v.offset, enc.bits);
        } else if (enc.registers.length === 2) {
          await client.writeSingleRegister(v.offset, (enc.registers[0]  << 8) | enc.registers[1] );
        } else {
          await client.writeMultipleRegisters(v.offset, enc.registers);
        }
      },
      onLost(cb) {
        client.onClose(cb);
      },
      async close() {
        client.close();
      },
    };
  },
};
