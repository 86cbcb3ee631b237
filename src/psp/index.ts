// The payment provider: the port the worker charges through (Provider.ts), its
// HTTP adapter, and the sandbox provider that drills run against, with the
// reader of the sandbox's own capture record for the auditor.

export * from './Provider.ts';
export {
  HttpProvider,
  DEFAULT_CAPTURE_TIMEOUT_MS,
  retryableStatus,
  type HttpProviderOptions,
} from './httpProvider.ts';
export {
  readCaptureRecord,
  CaptureFileCorruptError,
  CAPTURE_FILE,
  type CaptureRecord,
} from './captureRecord.ts';
export {
  buildSandboxApp,
  type SandboxApp,
  type SandboxOptions,
  type CaptureResponseBody,
} from './sandboxServer.ts';
export { SandboxControl, type SandboxControlState, type SandboxCaptureListItem } from './sandboxControl.ts';
export { startSandboxProcess, type SandboxProcess, type StartSandboxOptions } from './sandboxProcess.ts';
export { DECLINE_CODES, NO_FAULTS, type Faults, type FaultsPatch } from './faults.ts';
export { PSP_ERROR_CODES, type PspErrorCode } from './pspErrors.ts';
