/**
 * Pod IPs from the node's pod CIDR (DESIGN.md: a loopback block per node, e.g. 127.1.4.0/24):
 * each pod gets an address of its own in the host network and binds it, so two pods on one node
 * can serve the same port. Pure: which addresses are taken is the caller's to say.
 */

export interface Cidr {
  /** The network address, as a 32-bit number. */
  base: number;
  bits: number;
}

const toNumber = (ip: string): number | undefined => {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
};

const toIP = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** An IPv4 CIDR such as 127.1.4.0/24 (prefix 8–30: room for at least two pods); undefined if it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) return undefined;
  const ip = toNumber(m[1]);
  const bits = Number(m[2]);
  if (ip === undefined || bits < 8 || bits > 30) return undefined;
  const size = 2 ** (32 - bits);
  return { base: ip - (ip % size), bits };
}

export function inCidr(cidr: Cidr, ip: string): boolean {
  const n = toNumber(ip);
  const size = 2 ** (32 - cidr.bits);
  // The network and broadcast addresses are never a pod's.
  return n !== undefined && n > cidr.base && n < cidr.base + size - 1;
}

/** The lowest address of the block that is not taken; undefined when the block is full. */
export function allocatePodIP(cidr: Cidr, taken: ReadonlySet<string>): string | undefined {
  const size = 2 ** (32 - cidr.bits);
  for (let n = cidr.base + 1; n < cidr.base + size - 1; n++) {
    const ip = toIP(n);
    if (!taken.has(ip)) return ip;
  }
  return undefined;
}
