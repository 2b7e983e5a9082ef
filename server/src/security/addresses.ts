import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';

/** Which addresses the server may connect to on a user's behalf (webhook deliveries). */
export type AddressPolicy = {
  /** Private, loopback, link-local and every other non-public range. */
  allowPrivate: boolean;
  /** Addresses or CIDR ranges always allowed, e.g. one internal receiver. */
  allowList: string[];
};

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

/** For a URL whose host is an IP literal, the refusal known before any lookup; names are checked when connecting. */
export function urlRefusal(url: URL, policy: AddressPolicy): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? addressRefusal(host, policy) : undefined;
}

/**
 * The connect-time guard, one agent per protocol: every address a name resolves to is checked
 * before a socket connects to it, so a name that later points at a private address is refused too.
 */
export function guardedAgents(policy: AddressPolicy) {
  const options = {
    allowPrivateIPAddress: policy.allowPrivate,
    allowMetaIPAddress: policy.allowPrivate,
    allowIPAddressList: policy.allowList,
    keepAlive: false,
  };
  return { 'http:': new RequestFilteringHttpAgent(options), 'https:': new RequestFilteringHttpsAgent(options) };
}
