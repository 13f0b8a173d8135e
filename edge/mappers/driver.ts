// The port between the mapper runtime (runtime.ts: cycles, reports, desired
// values, reconnect with backoff, device state) and one protocol (modbus/,
// virtual/): connect to a device, read a property, write a property.
import type { ResolvedDevice, ResolvedProperty } from '../devices/spec.ts';

/** An open connection to one device. */
export interface DeviceConnection {
  /**
   * Reads one property; returns the value in any form coerceValue accepts.
   * Rejects with MapperError: a connection error (isConnectionError) makes
   * the runtime reconnect; anything else is a problem of this property.
   */
  read(p: ResolvedProperty): Promise<string | number | boolean>;
  /** Writes a canonical value (already coerced and range-checked). Same error contract as read. */
  write(p: ResolvedProperty, canonical: string): Promise<void>;
  /** Registers a callback for the connection dropping on its own. */
  onLost(cb: (err: Error) => void): void;
  close(): Promise<void>;
}

export interface MapperDriver {
  /** Lower-case protocolName values this driver handles. */
  readonly protocols: readonly string[];
  /**
   * Opens a connection. Throws MapperError: MAPPER_CONFIG_INVALID /
   * MAPPER_UNSUPPORTED (not retried until the Device changes),
   * MAPPER_CONNECT_FAILED (retried with backoff).
   */
  connect(device: ResolvedDevice): Promise<DeviceConnection>;
  /**
   * Checks a property's visitor config without connecting; throws
   * MAPPER_CONFIG_INVALID / MAPPER_UNSUPPORTED. The runtime then skips that
   * property (logged once) and collects the others.
   */
  checkProperty(device: ResolvedDevice, p: ResolvedProperty): void;
}
