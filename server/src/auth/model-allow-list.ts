/**
 * Whether a key may call `alias` through the gateway: a key without a list (null) may call every
 * alias, one with a list only the aliases it names, matched exactly (aliases are case-sensitive).
 */
export const modelAllowedForKey = (allowedModels: readonly string[] | null, alias: string): boolean => allowedModels === null || allowedModels.includes(alias);
