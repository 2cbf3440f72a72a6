// Drives headless Chromium through an application that uses Ostiary's login layer: the
// application sends the browser to the server, whose pages ask for a login and for consent, and
// the browser comes back to the application signed in.
//
// stdin: {"start_url", "login", "password", "expect", "pages"?, "expect_fragment"?}: `expect` is text the application's
// page shows once signed in; `pages` names the server's form elements (CSS selectors), by default
// node oidc-provider's development pages. stdout: {"steps": [...], "page": the page's text}; exit 1
// on a failure.
import { launchChromium, readInput, stepper } from './lib.mjs';

const input = await readInput();
const pages = {
  login: 'input[name=login]',
  password: 'input[name=password]',
  submit: 'button[type=submit]',
  consent: 'input[name=prompt][value=consent]',
  accept: 'button[type=submit]',
  ...(input.pages || {}),
};
const { steps, step } = stepper();
const browser = await launchChromium();
let text = '';
try {
  const page = await (await browser.newContext()).newPage();
  const visited = [];
  page.on('framenavigated', (f) => visited.push(f.url()));
  if (process.env.DEBUG_NAV) {
    page.on('framenavigated', (f) => console.error(`nav ${f.url()}`));
    page.on('requestfailed', (r) => console.error(`failed ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  }
  await page.goto(input.start_url);
  await page.waitForSelector(pages.login);
  step('server login page', !page.url().startsWith(input.start_url), page.url());
  await page.fill(pages.login, input.login);
  await page.fill(pages.password, input.password);
  await page.click(pages.submit);
  // The server may redirect through several URLs; wait until its consent page settles.
  const consent = await page
    .waitForSelector(pages.consent, { state: 'attached', timeout: 15000 })
    .catch(() => null);
  step('server consent page', consent !== null, { url: page.url(), page: await page.content().catch(() => '') });
  await page.click(pages.accept);
  await page.waitForURL((url) => url.href.startsWith(input.start_url) && !url.href.includes('/cb'),
    { timeout: 15000 });
  text = await page.textContent('body');
  step('back at the application, signed in', text.includes(input.expect), text);
  if (input.expect_fragment) {
    step('the response came in the fragment', visited.some((u) => /\/cb#.*code=/.test(u)), visited);
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ steps, page: text }));
