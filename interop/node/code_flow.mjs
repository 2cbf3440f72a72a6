// Browser interop: real headless Chromium (Debian's, driven by Playwright) goes through Ostiary's
// login and consent pages, and openid-client (a certified relying party) completes the code flow
// with PKCE, validates the ID token and calls userinfo.
//
// stdin: {"issuer", "client_id", "client_secret", "second_client_id", "second_client_secret",
//         "callback_port", "username", "password", "template_marker"}
// Both clients must be registered with redirect_uri http://127.0.0.1:<callback_port>/cb; the
// server's templates directory overrides the consent page with one containing template_marker.
// stdout: one JSON line {"steps": [...]} naming each step that passed; exit 1 on a failure.
import * as oidc from 'openid-client';
import { callbackServer, launchChromium, readInput, stepper } from './lib.mjs';

const input = await readInput();
const { steps, step } = stepper();
const callback = await callbackServer(input.callback_port);
const redirectUri = `${callback.base}/cb`;
const nextCallback = () => callback.next('/cb');

const discover = (id, secret) => oidc.discovery(new URL(input.issuer), id, undefined,
  oidc.ClientSecretBasic(secret), { execute: [oidc.allowInsecureRequests] });
const config = await discover(input.client_id, input.client_secret);
const second = await discover(input.second_client_id, input.second_client_secret);
step('discovery', config.serverMetadata().issuer === input.issuer, config.serverMetadata());

const browser = await launchChromium();
try {
  const request = async (extra = {}, cfg = config) => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(cfg, {
      redirect_uri: redirectUri, scope: 'openid profile email', state, nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
    });
    return { url, verifier, state, nonce };
  };
  const exchange = async (r, arrived, cfg = config, checks = {}) => oidc.authorizationCodeGrant(cfg, arrived,
    { pkceCodeVerifier: r.verifier, expectedState: r.state, expectedNonce: r.nonce, ...checks });

  // 1. Log in and consent in the browser; openid-client checks the response and the ID token.
  const context = await browser.newContext();
  const page = await context.newPage();
  let r = await request();
  let arriving = nextCallback();
  await page.goto(r.url.href);
  step('login page', (await page.title()).startsWith('Sign in'), await page.title());
  await page.fill('#username', input.username);
  await page.fill('#password', input.password);
  await page.click('button[value=login]');
  await page.waitForSelector('button[value=accept]');
  step('consent page', (await page.content()).includes('wants to access your account'));
  step('operator template directory', (await page.content()).includes(input.template_marker));
  await page.click('button[value=accept]');
  let arrived = await arriving;
  let tokens = await exchange(r, arrived);
  const claims = tokens.claims();
  step('code flow with PKCE, ID token validated', claims.sub === input.username && claims.nonce === r.nonce, claims);
  const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  step('userinfo', userinfo.sub === input.username && typeof userinfo.email === 'string', userinfo);

  // 2. Single sign-on: the session answers prompt=none with a code.
  r = await request({ prompt: 'none' });
  arriving = nextCallback();
  await page.goto(r.url.href);
  arrived = await arriving;
  tokens = await exchange(r, arrived);
  step('prompt=none from the session', tokens.claims().sub === input.username);

  // 3. form_post: the page posts the code to the client; openid-client reads the POST body.
  r = await request({ response_mode: 'form_post' });
  arriving = nextCallback();
  await page.goto(r.url.href);
  arrived = await arriving;
  step('form_post delivered a code', arrived.searchParams.has('code') && arrived.searchParams.get('state') === r.state,
    arrived.href);

  // 4. Single sign-on to a second client: no login page, its own consent; Cancel there first.
  r = await request({}, second);
  arriving = nextCallback();
  await page.goto(r.url.href);
  await page.waitForSelector('button[value=accept]');
  step('second client skips the login page', (await page.$('#password')) === null);
  await page.click('button[value=cancel]');
  arrived = await arriving;
  step('cancel on the consent page gives access_denied', arrived.searchParams.get('error') === 'access_denied',
    arrived.href);
  r = await request({}, second);
  arriving = nextCallback();
  await page.goto(r.url.href);
  await page.click('button[value=accept]');
  arrived = await arriving;
  tokens = await exchange(r, arrived, second);
  step('SSO across two clients', tokens.claims().sub === input.username && tokens.claims().aud === input.second_client_id,
    tokens.claims());

  // 5. max_age: a sign-in older than max_age needs the password again, and auth_time moves on.
  const firstAuthTime = claims.auth_time;
  await new Promise((resolve) => setTimeout(resolve, 2100));
  r = await request({ max_age: '1' });
  arriving = nextCallback();
  await page.goto(r.url.href);
  await page.waitForSelector('#password');
  await page.fill('#username', input.username);
  await page.fill('#password', input.password);
  await page.click('button[value=login]');
  arrived = await arriving;
  tokens = await exchange(r, arrived, config, { maxAge: 1 });
  step('max_age forced a new login', tokens.claims().auth_time > firstAuthTime, tokens.claims());

  // 6. fragment: the code comes in the URL fragment, which only the browser sees.
  r = await request({ response_mode: 'fragment' });
  arriving = nextCallback();
  await page.goto(r.url.href);
  await arriving;
  const landed = new URL(page.url());
  const fromFragment = new URL(redirectUri);
  fromFragment.search = landed.hash.slice(1);
  step('fragment carries the code', landed.search === '' && fromFragment.searchParams.has('code'), page.url());
  tokens = await exchange(r, fromFragment);
  step('fragment code exchanged', tokens.claims().sub === input.username);

  // 7. Cancel on the login page of a fresh browser ends with access_denied.
  const stranger = await (await browser.newContext()).newPage();
  r = await request();
  arriving = nextCallback();
  await stranger.goto(r.url.href);
  await stranger.click('button[value=cancel]');
  arrived = await arriving;
  step('cancel gives access_denied', arrived.searchParams.get('error') === 'access_denied', arrived.href);
} finally {
  await browser.close();
  callback.close();
}
console.log(JSON.stringify({ steps }));
