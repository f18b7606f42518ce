import { describe, expect, it } from 'vitest';
import { allocatePodIP, inCidr, parseCidr } from './pod-ips.js';

describe('pod IPs', () => {
  it('parses a block and normalises it to its network address', () => {
    expect(parseCidr('127.1.4.0/24')).toEqual({ base: (127 * 2 ** 24) + (1 * 2 ** 16) + (4 * 2 ** 8), bits: 24 });
    expect(parseCidr('127.1.4.77/24')).toEqual(parseCidr('127.1.4.0/24'));
    for (const bad of ['127.1.4.0', '127.1.4.0/31', '127.1.4.0/7', '127.1.4/24', '300.1.1.0/24', 'fd00::/64']) expect(parseCidr(bad), bad).toBeUndefined();
  });

  it('hands out the lowest free host address, never the network or broadcast one', () => {
    const cidr = parseCidr('127.1.4.0/30')!;
    expect(allocatePodIP(cidr, new Set())).toBe('127.1.4.1');
    expect(allocatePodIP(cidr, new Set(['127.1.4.1']))).toBe('127.1.4.2');
    expect(allocatePodIP(cidr, new Set(['127.1.4.1', '127.1.4.2']))).toBeUndefined();
    expect(inCidr(cidr, '127.1.4.0')).toBe(false);
    expect(inCidr(cidr, '127.1.4.3')).toBe(false);
    expect(inCidr(cidr, '127.1.4.2')).toBe(true);
    expect(inCidr(cidr, '127.1.5.2')).toBe(false);
    expect(inCidr(cidr, 'nonsense')).toBe(false);
  });

  it('reuses a freed address', () => {
    const cidr = parseCidr('127.1.4.0/24')!;
    expect(allocatePodIP(cidr, new Set(['127.1.4.2', '127.1.4.3']))).toBe('127.1.4.1');
  });
});
