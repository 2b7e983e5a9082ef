import { typeid } from 'typeid-js';

export type IdPrefix =
  | 'org'
  | 'app'
  | 'key'
  | 'agent'
  | 'req'
  | 'run'
  | 'evt'
  | 'runner'
  | 'lease'
  | 'eu'
  | 'sched'
  | 'trg'
  | 'whep'
  | 'whmsg'
  | 'whatt'
  | 'prov'
  | 'model'
  | 'usage'
  | 'trn'
  | 'upl';

export const newId = (prefix: IdPrefix) => typeid(prefix).toString();
