/**
 * The cluster's certificate authority and the certificates it issues, like k3s makes at
 * cluster creation: a CA, a serving certificate per API replica (its IPs and names as SANs), and
 * client certificates whose CN is the user and O the groups (how kube-apiserver reads them);
 * and the self-signed serving certificate a kubelet makes for itself when given none (as
 * client-go's cert utilities do for the real kubelet).
 * Keys come from node:crypto (fast, native); node-forge only assembles and signs the X.509.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface IssueOptions {
  commonName: string;
  /** Subject O= entries: Kubernetes groups for client certificates. */
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: 'server' | 'client';
  days?: number;
}

function newKeys(): { publicKey: forge.pki.PublicKey; privateKey: forge.pki.PrivateKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const fkey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  return { publicKey: forge.pki.setRsaPublicKey(fkey.n, fkey.e), privateKey: fkey, keyPem };
}

function baseCert(publicKey: forge.pki.PublicKey, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive, random, 16 bytes: serials must be unique per CA and must not look negative.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000); // tolerate an hour of clock skew
  cert.validity.notAfter = new Date(now + days * 24 * 60 * 60 * 1000);
  return cert;
}

/** DNS names (type 2) and IP addresses (type 7), as X.509 subjectAltName entries. */
function subjectAltNames(opts: Pick<IssueOptions, 'dnsNames' | 'ipAddresses'>): { type: number; value?: string; ip?: string }[] {
  return [...(opts.dnsNames ?? []).map((value) => ({ type: 2, value })), ...(opts.ipAddresses ?? []).map((ip) => ({ type: 7, ip }))];
}

export function createCA(commonName = 'flotilla-ca', days = 3650): KeyPair {
  const keys = newKeys();
  const cert = baseCert(keys.publicKey, days);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

export function issue(ca: KeyPair, opts: IssueOptions): KeyPair {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = newKeys();
  const cert = baseCert(keys.publicKey, opts.days ?? 365);
  cert.setSubject([
    { name: 'commonName', value: opts.commonName },
    ...(opts.organizations ?? []).map((o) => ({ name: 'organizationName', value: o })),
  ]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = subjectAltNames(opts);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: opts.usage === 'server', clientAuth: opts.usage === 'client' },
    ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/** A self-signed serving certificate for `opts` (a kubelet's, when it was given none). */
export function selfSigned(opts: Omit<IssueOptions, 'usage'>): KeyPair {
  const keys = newKeys();
  const cert = baseCert(keys.publicKey, opts.days ?? 365);
  const subject = [{ name: 'commonName', value: opts.commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  const altNames = subjectAltNames(opts);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
  ]);
  cert.sign(keys.privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/** The key pair service-account tokens are signed (private) and verified (public) with. */
export function serviceAccountKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** A bearer token with 256 bits of randomness, in the form kube-apiserver's token files use. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}
