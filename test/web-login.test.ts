// The browser's login (issue 14) against a real server process: POST /api/login with cookie: true
// sets the session in an HttpOnly, Secure, SameSite=Strict cookie for 12 h and answers the CSRF
// token, never the session token; GET /api/me repeats the CSRF token to a cookie session; a
// cookie-authenticated change without that header (or with a wrong one) is refused 403, audited,
// nothing changed; with it, it acts; Bearer requests need none; logout clears the cookie and ends
// the session; bad login bodies are refused. The server serves the built console with its CSP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Cluster, startCluster } from './support/cluster.ts';
import { errorOf, type RawApi, rawApi } from './support/raw-api.ts';
import { httpRefused } from './support/refusals.ts';

const TWELVE_HOURS_S = 12 * 3600;

describe('browser login with a session cookie and a CSRF token', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  let cookie = '';
  let csrf = '';
  before(async () => {
    c = await startCluster();
    api = rawApi(c);
  });
  after(async () => c?.stop());

  it('serves the built console: index.html with the CSP at / and at client routes, hashed assets cached for a year', async () => {
    const csp = "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";
    let script = '';
    for (const path of ['/', '/jobs/nightly', '/snapshots/abc?path=%2Fetc']) {
      const page = await api.call(path, { token: null });
      assert.equal(page.status, 200, path);
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8', path);
      assert.equal(page.headers['content-security-policy'], csp, path);
      assert.equal(page.headers['x-content-type-options'], 'nosniff', path);
      assert.doesNotMatch(page.text, /<script(?![^>]*\ssrc=)[^>]*>/, `${path}: an inline script`);
      script = /<script type="module" crossorigin src="(\/assets\/[^"]+\.js)"><\/script>/.exec(page.text)?.[1] ?? '';
      assert.ok(script, `${path}: no module script in ${page.text}`);
    }
    const asset = await api.call(script, { token: null });
    assert.equal(asset.status, 200);
    assert.equal(asset.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable');
  });

  it('sets an HttpOnly, Secure, SameSite=Strict cookie for 12 h and answers the CSRF token, not the session token', async () => {
    const a = await api.call('/api/login', { token: null, body: { user: 'admin', password: c.adminPassword, cookie: true } });
    assert.equal(a.status, 200, a.text);
    const body = a.json as { user: string; role: string; expiresAt: string; csrf: string; token?: string };
    assert.equal(body.user, 'admin');
    assert.equal(body.role, 'admin');
    assert.equal(body.token, undefined, 'a cookie login answers no session token to the page');
    assert.match(body.csrf, /^[A-Za-z0-9_-]{43}$/);
    const set = a.headers['set-cookie'];
    assert.equal(set?.length, 1);
    const m = /^cairn_session=([A-Za-z0-9_-]+); Path=\/api; Max-Age=(\d+); HttpOnly; Secure; SameSite=Strict$/.exec(set[0]!);
    assert.ok(m, set[0]);
    assert.ok(Math.abs(Number(m[2]) - TWELVE_HOURS_S) <= 2, `Max-Age ${m[2]}`);
    assert.ok(Math.abs(Date.parse(body.expiresAt) - Date.now() - TWELVE_HOURS_S * 1000) < 60_000);
    assert.notEqual(m[1], body.csrf);
    cookie = `cairn_session=${m[1]}`;
    csrf = body.csrf;
    // a login without cookie: true stays as the CLI knows it
    const plain = await api.call('/api/login', { token: null, body: { user: 'admin', password: c.adminPassword } });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['set-cookie'], undefined);
    assert.match((plain.json as { token: string }).token, /^[A-Za-z0-9_-]{43}$/);
  });

  it('authenticates reads with the cookie alone, and GET /api/me repeats the CSRF token', async () => {
    const me = await api.call('/api/me', { token: null, headers: { cookie } });
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(me.json, { user: 'admin', role: 'admin', kind: 'session', csrf });
    const bearer = await api.call('/api/me');
    assert.equal((bearer.json as { csrf?: string }).csrf, undefined, 'a Bearer caller gets no CSRF token');
    assert.equal((await api.call('/api/jobs', { token: null, headers: { cookie } })).status, 200);
  });

  it('refuses a cookie-authenticated change without the X-CSRF-Token header, or with a wrong one (403, audited, nothing changed)', async () => {
    const message = /^POST \/api\/tokens with the session cookie needs the X-CSRF-Token header the login answered$/;
    const audit = { what: 'POST /api/tokens', result: 'E_FORBIDDEN', who: 'admin' };
    await httpRefused(api, '/api/tokens', { token: null, headers: { cookie }, body: { kind: 'api' } }, { status: 403, code: 'E_FORBIDDEN', message, audit });
    await httpRefused(api, '/api/tokens', { token: null, headers: { cookie, 'x-csrf-token': `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}` }, body: { kind: 'api' } }, { status: 403, code: 'E_FORBIDDEN', message, audit });
    await httpRefused(api, '/api/tokens', { token: null, headers: { cookie, 'x-csrf-token': '' }, body: { kind: 'api' } }, { status: 403, code: 'E_FORBIDDEN', message, audit });
    await httpRefused(api, '/api/users/nobody', { method: 'DELETE', token: null, headers: { cookie } }, {
      status: 403,
      code: 'E_FORBIDDEN',
      message: /^DELETE \/api\/users\/:name with the session cookie needs the X-CSRF-Token header the login answered$/,
      audit: { what: 'DELETE /api/users/nobody', result: 'E_FORBIDDEN', who: 'admin' },
    });
  });

  it('acts on a cookie-authenticated change with the right header, and on a Bearer change with none', async () => {
    const withHeader = await api.call('/api/tokens', { token: null, headers: { cookie, 'x-csrf-token': csrf }, body: { kind: 'agent' } });
    assert.equal(withHeader.status, 201, withHeader.text);
    const bearer = await api.call('/api/tokens', { body: { kind: 'agent' } });
    assert.equal(bearer.status, 201, bearer.text);
  });

  it('refuses bad login bodies (400) and a wrong password (401) without setting a cookie', async () => {
    const cookieFlag = await api.call('/api/login', { token: null, body: { user: 'admin', password: c.adminPassword, cookie: 'yes' } });
    assert.equal(cookieFlag.status, 400);
    assert.match(errorOf(cookieFlag).message ?? '', /cookie/);
    assert.equal(cookieFlag.headers['set-cookie'], undefined);
    const wrong = await api.call('/api/login', { token: null, body: { user: 'admin', password: 'not the password', cookie: true } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers['set-cookie'], undefined);
  });

  it('logs out: the cookie is cleared and the session refused from then on', async () => {
    const refused = await api.call('/api/logout', { method: 'POST', token: null, headers: { cookie } });
    assert.equal(refused.status, 403, 'logout is a change too: without the header a page elsewhere could end the session');
    const out = await api.call('/api/logout', { method: 'POST', token: null, headers: { cookie, 'x-csrf-token': csrf } });
    assert.equal(out.status, 201, out.text);
    assert.deepEqual(out.headers['set-cookie'], ['cairn_session=; Path=/api; Max-Age=0; HttpOnly; Secure; SameSite=Strict']);
    const after = await api.call('/api/me', { token: null, headers: { cookie } });
    assert.equal(after.status, 401);
    assert.match(errorOf(after).message ?? '', /log in again/);
  });
});
