import { describe, expect, it } from 'vitest';
import { addressRefusal, urlRefusal, type AddressPolicy } from '../../server/src/security/addresses.js';

/**
 * The address policy of webhook deliveries, on the pure functions only: these are string checks,
 * nothing here opens a connection (private and link-local ranges are never dialled by the tests).
 */
const strict: AddressPolicy = { allowPrivate: false, allowList: [] };

const refused = [
  '10.0.0.1',
  '10.255.255.255',
  '172.16.0.1',
  '172.31.255.255',
  '192.168.0.1',
  '169.254.169.254',
  '127.0.0.1',
  '0.0.0.0',
  '::1',
  '::',
  'fc00::1',
  'fd12:3456::1',
  'fe80::1',
  '::ffff:127.0.0.1',
  '::ffff:10.0.0.1',
];
const allowed = ['172.15.255.255', '172.32.0.1', '8.8.8.8', '1.1.1.1', '2606:4700:4700::1111'];

describe('addressRefusal', () => {
  it.each(refused)('refuses %s by default, naming the address', (address) => {
    const why = addressRefusal(address, strict);
    expect(why).toBeTypeOf('string');
    expect(why).toContain(address);
    expect(why).toMatch(/does not connect to/);
  });

  it.each(allowed)('allows the public address %s', (address) => {
    expect(addressRefusal(address, strict)).toBeUndefined();
  });

  it('refuses what is not an IP address', () => {
    // (ipaddr.js reads classful short forms such as '10.0.0' as addresses: those are judged, and refused, as such.)
    for (const bad of ['localhost', 'example.com', '256.1.1.1', '', '[::1]', '10.0.0.0/8']) {
      expect(addressRefusal(bad, strict), bad).toMatch(/is not an IP address/);
    }
  });

  it('allows every address when private addresses are allowed', () => {
    const open: AddressPolicy = { allowPrivate: true, allowList: [] };
    for (const address of [...refused, ...allowed]) expect(addressRefusal(address, open), address).toBeUndefined();
  });

  it('allows a listed IP address, and only that one', () => {
    const policy: AddressPolicy = { allowPrivate: false, allowList: ['127.0.0.2', '::1'] };
    expect(addressRefusal('127.0.0.2', policy)).toBeUndefined();
    expect(addressRefusal('::1', policy)).toBeUndefined();
    // The IPv6 entry matches however the address is written.
    expect(addressRefusal('0:0:0:0:0:0:0:1', policy)).toBeUndefined();
    expect(addressRefusal('127.0.0.1', policy)).toMatch(/loopback/);
    expect(addressRefusal('127.0.0.3', policy)).toMatch(/loopback/);
    expect(addressRefusal('10.0.0.1', policy)).toMatch(/private/);
  });

  it('allows addresses in a listed CIDR range, and none outside it', () => {
    const policy: AddressPolicy = { allowPrivate: false, allowList: ['10.1.0.0/16', 'fd00:1::/32'] };
    for (const inside of ['10.1.0.0', '10.1.2.3', '10.1.255.255', 'fd00:1::5']) expect(addressRefusal(inside, policy), inside).toBeUndefined();
    for (const outside of ['10.0.255.255', '10.2.0.0', '10.0.0.1', '192.168.1.1', 'fd00:2::5', '::1']) {
      expect(addressRefusal(outside, policy), outside).toBeTypeOf('string');
    }
    // Public addresses stay allowed whatever the list.
    expect(addressRefusal('8.8.8.8', policy)).toBeUndefined();
  });
});

describe('urlRefusal', () => {
  it('refuses URLs whose host is a refused IP literal, IPv6 in brackets included', () => {
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'https://10.0.0.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://0.0.0.0:80/',
      'http://[::1]:8080/',
      'http://[::]/',
      'http://[fe80::1]/',
      'http://[fd12:3456::1]:9000/x',
      'http://[::ffff:127.0.0.1]:8080/',
      'http://[::ffff:10.0.0.1]/',
    ]) {
      expect(urlRefusal(new URL(url), strict), url).toBeTypeOf('string');
    }
  });

  it('refuses IPv4 literals however the URL parser spells them (decimal, hex, short forms)', () => {
    // WHATWG URL parsing turns these into 127.0.0.1 / 10.0.0.1 before the check sees them.
    for (const url of ['http://2130706433/', 'http://0x7f000001/', 'http://127.1/', 'http://0177.0.0.1/', 'http://10.1/']) {
      expect(urlRefusal(new URL(url), strict), url).toBeTypeOf('string');
    }
  });

  it('allows public IP literals', () => {
    for (const url of ['http://8.8.8.8/', 'https://1.1.1.1:8443/hook', 'https://[2606:4700:4700::1111]/hook']) {
      expect(urlRefusal(new URL(url), strict), url).toBeUndefined();
    }
  });

  it('leaves names to the connect-time check', () => {
    for (const url of ['http://localhost:8080/', 'https://example.com/hook', 'http://internal.corp/', 'http://127.0.0.1.nip.io/']) {
      expect(urlRefusal(new URL(url), strict), url).toBeUndefined();
    }
  });

  it('honours the policy for literal hosts', () => {
    expect(urlRefusal(new URL('http://127.0.0.1:1/'), { allowPrivate: true, allowList: [] })).toBeUndefined();
    expect(urlRefusal(new URL('http://[::1]:1/'), { allowPrivate: true, allowList: [] })).toBeUndefined();
    const listed: AddressPolicy = { allowPrivate: false, allowList: ['127.0.0.2', '10.1.0.0/16', '::1'] };
    expect(urlRefusal(new URL('http://127.0.0.2:1/'), listed)).toBeUndefined();
    expect(urlRefusal(new URL('http://10.1.9.9/'), listed)).toBeUndefined();
    expect(urlRefusal(new URL('http://[::1]:1/'), listed)).toBeUndefined();
    expect(urlRefusal(new URL('http://127.0.0.1:1/'), listed)).toBeTypeOf('string');
    expect(urlRefusal(new URL('http://10.2.0.1/'), listed)).toBeTypeOf('string');
  });
});
