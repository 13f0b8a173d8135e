/** Edge identity: joining, the root directory, certificate rotation and re-enrolment (README.md). */
export { IdentityError, type IdentityErrorCode } from './errors.ts';
export { enrollNode, parseCloudAddress, type EnrollOptions, type EnrollResult } from './enroll.ts';
export { CertificateRotator, rotationDeadline, type Credentials, type RotationEvent, type RotatorOptions } from './rotation.ts';
export { fetchPinnedCa, requestInfo, requestJoin, requestRenew, spkiPin, type BootstrapEndpoint } from './client.ts';
export {
  certificateWindow, defaultRoot, processAlive, readPidFile, readRootConfig, readRootCredentials, readRootToken, renderRootConfig, rootFiles,
  writeRootToken, type EdgeRootConfig,
} from './root.ts';
export { startAgentIdentity, type AgentIdentity } from './agent-identity.ts';
