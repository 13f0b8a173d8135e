import { OutpostError } from '../../lib/errors.js';

/**
 * Every code a {@link DeviceError} can carry. Stable: listed in README.md,
 * never renamed or reused. The TWIN_* codes are also sent to MQTT apps in the
 * `error` field of a result payload, next to KubeEdge's numeric `code`.
 */
export const DEVICE_ERROR_CODES = [
  // MQTT payloads and twin updates (answered on the result topic)
  'TWIN_BAD_JSON',
  'TWIN_NOT_OBJECT',
  'TWIN_PAYLOAD_TOO_LARGE',
  'TWIN_MISSING_TWIN',
  'TWIN_INVALID_FIELD',
  'TWIN_INVALID_KEY',
  'TWIN_INVALID_VALUE',
  'TWIN_OUT_OF_RANGE',
  'TWIN_READ_ONLY',
  'TWIN_INVALID_STATE',
  'TWIN_DEVICE_NOT_FOUND',
  'TWIN_PROPERTY_NOT_FOUND',
  'TWIN_STORE_FAILED',
  // the device module itself
  'DEVICE_CONFIG_INVALID',
  'DEVICE_BROKER_FAILED',
  'DEVICE_BUS_CLOSED',
  'DEVICE_STOPPED',
]         ;

                                                                  

/** The error edge/devices throws for its own failures and for bad input from apps and mappers. */
export class DeviceError extends OutpostError                  {}

/**
 * KubeEdge's numeric result code for an error (dtcommon: 400 bad request,
 * 404 not found, 500 internal error), so KubeEdge device apps that only look
 * at `code` keep working.
 */
export function resultCode(code                 )                  {
  switch (code) {
    case 'TWIN_DEVICE_NOT_FOUND':
    case 'TWIN_PROPERTY_NOT_FOUND':
      return 404;
    case 'TWIN_STORE_FAILED':
    case 'DEVICE_BROKER_FAILED':
    case 'DEVICE_BUS_CLOSED':
    case 'DEVICE_STOPPED':
    case 'DEVICE_CONFIG_INVALID':
      return 500;
    default:
      return 400;
  }
}
