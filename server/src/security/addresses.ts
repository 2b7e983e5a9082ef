import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import type { AddressPolicy } from '../config/config.js';
import { ProblemError } from '../problems/problems.js';

export type { AddressPolicy };

const inList = (address: ipaddr.IPv4 | ipaddr.IPv6, raw: string, list: string[]) =>
  list.some((entry) => {
    if (isIP(entry)) return ipaddr.parse(entry).toNormalizedString() === address.toNormalizedString() || entry === raw;
    const [range, bits] = ipaddr.parseCIDR(entry);
    return address.kind() === range.kind() && address.match([range, bits] as never);
  });

/**
 * Why the policy refuses an IP address, or undefined when it may be used: anything but a public
 * unicast address (loopback, private, link-local, unique-local, IPv4-mapped, the unspecified
 * address, ...) is refused unless private addresses are allowed or the address is listed.
 */
export function addressRefusal(address: string, policy: AddressPolicy): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address.`;
  const parsed = ipaddr.parse(address);
  if (inList(parsed, address, policy.allowList)) return undefined;
  const range = parsed.range();
  if (range === 'unicast' || policy.allowPrivate) return undefined;
  return `${address} is a ${range} address, which this server does not connect to.`;
}

/** For a URL whose host is an IP literal, the refusal known without a lookup. */
export function urlRefusal(url: URL, policy: AddressPolicy): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? addressRefusal(host, policy) : undefined;
}

/** How long a check waits for a name to resolve; the request it guards waits that long at most. */
const LOOKUP_WAIT_MS = 1000;

/** The addresses a name resolves to now; none when it does not resolve, or not in time. */
async function addressesOf(host: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), LOOKUP_WAIT_MS)));
  const found = lookup(host, { all: true, verbatim: true }).then(
    (list) => list.map((a) => a.address),
    () => [],
  );
  try {
    return await Promise.race([found, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Why the policy refuses a URL now: its host is a refused IP literal, or a name that resolves to a
 * refused address (`localhost`, a name in /etc/hosts, internal DNS). A name that does not resolve
 * (in time) passes: the connect-time guard checks every address again when it is used, since what
 * a name resolves to can change after this check.
 */
async function resolvedUrlRefusal(url: URL, policy: AddressPolicy): Promise<string | undefined> {
  const literal = urlRefusal(url, policy);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (literal || isIP(host) || policy.allowPrivate) return literal;
  for (const address of await addressesOf(host)) {
    const refusal = addressRefusal(address, policy);
    if (refusal) return `${host} resolves to ${refusal.replace(/^\S+ is /, `${address}, `)}`;
  }
  return undefined;
}

/**
 * 422 at `pointer` when a URL the server will call on a user's behalf (an http agent's, a webhook
 * endpoint's) is refused by the policy; `allowedBy` names the setting that would allow it, so the
 * operator of a local setup knows what to change.
 */
export async function assertAllowedUrl(url: string, policy: AddressPolicy, allowedBy: string, pointer = '/url'): Promise<void> {
  const refuse = (detail: string) => new ProblemError('validation-error', detail, { errors: [{ pointer, in: 'body', detail }] });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refuse(`${url} is not a URL the server can call: it needs a host.`);
  }
  const refusal = await resolvedUrlRefusal(parsed, policy);
  if (refusal) throw refuse(`${refusal} ${allowedBy}`);
}

/** How long a kept-alive connection may stay idle in the pool (less when the server's Keep-Alive says so). */
const KEEP_ALIVE_IDLE_MS = 30_000;

/**
 * The connect-time guard, one agent per protocol: every address a name resolves to is checked
 * before a socket connects to it, so a name that later points at a private address is refused too.
 * With `keepAlive`, connections are reused (each was checked when it connected).
 */
export function guardedAgents(policy: AddressPolicy, keepAlive = false) {
  const options = {
    allowPrivateIPAddress: policy.allowPrivate,
    allowMetaIPAddress: policy.allowPrivate,
    allowIPAddressList: policy.allowList,
    keepAlive,
    ...(keepAlive ? { timeout: KEEP_ALIVE_IDLE_MS } : {}),
  };
  return { 'http:': new RequestFilteringHttpAgent(options), 'https:': new RequestFilteringHttpsAgent(options) };
}
