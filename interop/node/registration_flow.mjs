// Browser interop for the complete server: openid-client registers itself dynamically (RFC 7591),
// sends its authorization request as a signed request object (RFC 9101), completes the code flow
// through Ostiary's pages in headless Chromium, and logs out with RP-initiated logout.
//
// stdin: {"issuer", "callback_port", "username", "password"}
// stdout: one JSON line {"steps": [...]} naming each step that passed; exit 1 on a failure.
import * as oidc from 'openid-client';
import { callbackServer, launchChromium, readInput, stepper } from './lib.mjs';

const input = await readInput();
const { steps, step } = stepper();
const callback = await callbackServer(input.callback_port, ['/cb', '/bye', '/fc']);
const redirectUri = `${callback.base}/cb`;
const byeUri = `${callback.base}/bye`;

// The client's request object key: ES256, registered as its jwks.
const { publicKey, privateKey } = await crypto.subtle.generateKey(
  { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
const jwk = { ...(await crypto.subtle.exportKey('jwk', publicKey)), alg: 'ES256', use: 'sig', kid: 'jar-1' };
delete jwk.key_ops;
delete jwk.ext;

const config = await oidc.dynamicClientRegistration(new URL(input.issuer), {
  client_name: 'openid-client, registered dynamically',
  redirect_uris: [redirectUri],
  post_logout_redirect_uris: [byeUri],
  frontchannel_logout_uri: `${callback.base}/fc`,
  frontchannel_logout_session_required: true,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_post',
  request_object_signing_alg: 'ES256',
  jwks: { keys: [jwk] },
}, undefined, { execute: [oidc.allowInsecureRequests] });
const registered = config.clientMetadata();
step('dynamic registration', typeof registered.client_id === 'string' && typeof registered.client_secret === 'string'
  && typeof registered.registration_access_token === 'string', registered);

const browser = await launchChromium();
try {
  const page = await (await browser.newContext()).newPage();
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = await oidc.buildAuthorizationUrlWithJAR(config, {
    redirect_uri: redirectUri, scope: 'openid profile', state, nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }, privateKey);
  step('request object in the URL', url.searchParams.has('request') && !url.searchParams.has('state'), url.href);
  let arriving = callback.next('/cb');
  await page.goto(url.href);
  await page.fill('#username', input.username);
  await page.fill('#password', input.password);
  await page.click('button[value=login]');
  await page.waitForSelector('button[value=accept]');
  await page.click('button[value=accept]');
  const arrived = await arriving;
  const tokens = await oidc.authorizationCodeGrant(config, arrived,
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  step('code flow from the request object', tokens.claims().sub === input.username, tokens.claims());

  // RP-initiated logout with the ID token as hint: the logged-out page loads the client's
  // front-channel logout URI in a frame (with iss and sid), then returns to the registered URI.
  const logoutState = oidc.randomState();
  const logout = oidc.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token, post_logout_redirect_uri: byeUri, state: logoutState,
  });
  await page.goto(logout.href);
  const told = await callback.next('/fc');
  step('front-channel logout with iss and sid', told.searchParams.get('iss') === input.issuer
    && told.searchParams.get('sid') === tokens.claims().sid, told.href);
  const back = await callback.next('/bye');
  await page.waitForURL(/\/bye/);
  step('logout returned to post_logout_redirect_uri', back.searchParams.get('state') === logoutState, back.href);

  // The session is gone: prompt=none now answers login_required.
  const silent = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid', state: 's2', prompt: 'none',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  arriving = callback.next('/cb');
  await page.goto(silent.href);
  const answer = await arriving;
  step('signed out at the server', answer.searchParams.get('error') === 'login_required', answer.href);
} finally {
  await browser.close();
  callback.close();
}
console.log(JSON.stringify({ steps }));
