/**
 * The MQTT event bus the device twin speaks the KubeEdge topic contract on:
 * one small port with two implementations, chosen by configuration and
 * tested with one contract suite (event-bus.contract.ts):
 *
 * - `embedded` (default): an aedes broker inside the agent, listening for
 *   device apps on host:port. The twin hooks the broker directly
 *   (broker.subscribe / broker.publish), with no MQTT client connection to
 *   itself: no second socket, no packet encoding on the hot path.
 * - `external`: an MQTT client connected to a broker the node already runs
 *   (mosquitto); subscriptions are restored on reconnect.
 *
 * Implementations are imported lazily, so a node runs only the one it uses
 * (aedes or mqtt.js, ~10 MB each) and a node without devices neither.
 */
import type { Logger } from '../../lib/log.ts';

/** Called for each message whose topic matches the filter it was registered with. Must not throw. */
export type MessageHandler = (topic: string, payload: Buffer) => void;

export interface PublishOptions {
  /** MQTT QoS 0 (default, as KubeEdge's eventbus) or 1. */
  qos?: 0 | 1;
  retain?: boolean;
}

export interface EventBus {
  readonly kind: 'embedded' | 'external';
  /** Where device apps connect, e.g. mqtt://127.0.0.1:1883. */
  readonly url: string;
  /** Starts delivering messages matching `filter` (MQTT wildcards) to `handler`. Resolves once the broker has the subscription. */
  subscribe(filter: string, handler: MessageHandler): Promise<void>;
  /** Publishes; resolves when handed to the broker. Rejects with DEVICE_BUS_CLOSED after close. */
  publish(topic: string, payload: Uint8Array | string, opts?: PublishOptions): Promise<void>;
  /** Closes the bus (the embedded broker disconnects its clients). Idempotent. */
  close(): Promise<void>;
}

export type MqttConfig =
  | { mode: 'embedded'; host: string; port: number }
  | { mode: 'external'; url: string; clientId?: string; connectTimeoutMs?: number };

/**
 * Opens the configured bus. Throws DeviceError DEVICE_BROKER_FAILED when the
 * embedded broker cannot listen (port taken). An external broker that is
 * down at start is not an error: the client keeps reconnecting and logs.
 */
export async function openEventBus(cfg: MqttConfig, log: Logger, nodeName = 'edge'): Promise<EventBus> {
  if (cfg.mode === 'embedded') {
    const { openEmbeddedBroker } = await import('./embedded-broker.ts');
    return openEmbeddedBroker(cfg, log);
  }
  const { openExternalBroker } = await import('./external-broker.ts');
  return openExternalBroker({ url: cfg.url, clientId: cfg.clientId ?? `outpost-edge-${nodeName}`, ...(cfg.connectTimeoutMs !== undefined ? { connectTimeoutMs: cfg.connectTimeoutMs } : {}) }, log);
}
