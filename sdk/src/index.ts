export { Switchboard, type SwitchboardOptions, type WriteOptions, type ConditionalOptions } from './client.js';
export { SwitchboardError } from './errors.js';
export type * from './generated/types.gen.js';
