import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

// Parameters (and response headers) arrive as strings and take their defaults from the spec; bodies and responses are
// checked as sent (a default filled into a merge patch would change its meaning).
export function createAjv(options: { forParameters: boolean }) {
  const ajv = new Ajv2020({
    strict: false,
    allErrors: true,
    coerceTypes: options.forParameters ? 'array' : false,
    useDefaults: options.forParameters,
    validateFormats: true,
    // Errors carry the value they refuse, which the messages quote (errors only: valid input pays nothing).
    verbose: true,
  });
  addFormats(ajv);
  // RFC 3339 allows a leap second (23:59:60) that JavaScript dates cannot hold: such a value is
  // refused here, with the others, instead of failing later.
  const rfc3339 = ajv.formats['date-time'] as { validate: (s: string) => boolean };
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => rfc3339.validate(s) && !Number.isNaN(Date.parse(s)) });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('binary', true);
  return ajv;
}
