export { RunFailure, RunWaiting, type RunContext, type RunHandler, type RunOutcome } from './run-handler.js';
export { startWorker, type WorkOptions, type Worker } from './worker.js';
export { echo, httpExecutor, type HttpExecutorOptions } from './executors.js';
export { startBuiltinRunner, type BuiltinRunnerOptions } from './builtin.js';
export { llmRuntime, type LlmOptions } from './llm.js';
