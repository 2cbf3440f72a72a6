// node oidc-provider (an OpenID Certified provider) on loopback, as a server nobody here wrote for
// Ostiary's client runtime to use: discovery, dynamic registration, the code flow with PKCE through
// its development login and consent pages, userinfo, refresh, introspection, revocation and
// client credentials. Its users: any login with any password (development interactions); each
// account's claims are {sub: login, name: "User <login>"}.
//
// Env: PORT; TLS_KEY and TLS_CERT (PEM files) to serve HTTPS instead of HTTP; JWT_RESOURCE, a
// resource indicator whose access tokens are JWTs (RFC 9068) with that audience and the scope
// `api:read`. Prints "ready" on stdout once listening; stops on SIGTERM or when stdin closes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 3000);
const TLS = process.env.TLS_KEY && process.env.TLS_CERT;
const ISSUER = `${TLS ? 'https' : 'http'}://127.0.0.1:${PORT}`;
const RESOURCE = process.env.JWT_RESOURCE;
const key = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(ISSUER, {
  jwks: { keys: [{ ...key, alg: 'RS256', use: 'sig', kid: 'op-rs256' }] },
  scopes: ['openid', 'offline_access', 'profile', ...(RESOURCE ? ['api:read'] : [])],
  claims: { openid: ['sub'], profile: ['name'] },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    ...(RESOURCE ? {
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
          return { scope: 'api:read', audience: RESOURCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    } : {}),
  },
  // Refresh tokens for clients that registered the grant (not only with offline_access consent).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, name: `User ${sub}` }),
  }),
  ttl: { AccessToken: 600, ClientCredentials: 600, IdToken: 600, RefreshToken: 3600 },
});
provider.proxy = false;

const server = TLS
  ? https.createServer({ key: fs.readFileSync(process.env.TLS_KEY), cert: fs.readFileSync(process.env.TLS_CERT) },
    provider.callback()).listen(PORT, '127.0.0.1', () => console.log('ready'))
  : provider.listen(PORT, '127.0.0.1', () => console.log('ready'));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
