export { BASE_TIME, ManualClock } from './clock';
export { deferred, Pauses, settle, type Deferred, type Pause } from './deferred';
export { InMemoryCipher, kmsThrottled, type CipherMethod } from './cipher';
export { MemoryLog, type LogLine } from './log';
export { recallUnavailable, ScriptedRecall, type RecallCall, type RecallMethod } from './recall';
export { InMemoryTokenStore, type StoreCounts, type StoreEvent, type StoreOp, type WriteRecord } from './token-store';
export { InMemoryZoomApi, type ZoomApiCall } from './zoom-api';
export { DEFAULT_SCOPE, ScriptedZoom, type Grant, type ZoomCall, type ZoomStep, type ZoomStepHandle } from './zoom';
export { OAUTH_APP_ID, PUBLIC_BASE_URL, WorkerQueue, World } from './world';
