export { loadConfig, type Config } from './config/config.js';
export { startServer, type RunningServer } from './server.js';
export { createApp, type AppDeps } from './http/app.js';
export { allHandlers } from './resources/index.js';
export { loadBundledSpec } from './spec/load-spec.js';
export { extractOperations, type OperationSpec } from './spec/operations.js';
export { compileValidators } from './spec/validators.js';
export { openDatabase } from './db/database.js';
export { inProcessBus } from './realtime/bus.js';
