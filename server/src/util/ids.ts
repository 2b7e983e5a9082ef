import { typeid } from 'typeid-js';

export type IdPrefix = 'org' | 'app' | 'key' | 'agent' | 'req';

export const newId = (prefix: IdPrefix) => typeid(prefix).toString();
