// Loopback OpenID provider for PhotoGate tests and the demo families.
//
// A real, certified implementation (panva's oidc-provider) configured the way PhotoGate
// expects a family's provider to behave: authorization code flow only, PKCE S256 required,
// exact redirect URIs, RFC 9207 `iss` in authorization responses, RS256 ID tokens.
// With `test_hooks` it can also misbehave on purpose, so the relying party's defences are
// tested against a provider that really does the wrong thing.
//
//   node idp/server.mjs --config FILE [--exit-with-stdin]
//
// Prints one JSON line `{"issuer": ..., "port": ...}` on stdout once it accepts connections.

import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

// The other issuer used by the tamper modes. `.invalid` never resolves (RFC 6761), so a
// relying party that follows it instead of rejecting it fails loudly.
const TAMPERED_ISSUER = 'https://other-issuer.invalid';

const TAMPER_MODES = new Set([
  'none',
  'wrong_nonce',
  'wrong_aud',
  'expired',
  'alg_none',
  'hs256_pubkey',
  'bad_signature',
  'no_id_token',
  'wrong_iss_param',
  'metadata_issuer_mismatch',
  'other_sub',
]);

const MAX_FORM_BYTES = 16 * 1024;

function fail(message) {
  process.stderr.write(`idp: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- configuration

function readConfig() {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      'exit-with-stdin': { type: 'boolean', default: false },
    },
  });
  if (!values.config) {
    fail('usage: node server.mjs --config FILE [--exit-with-stdin]');
  }
  let raw;
  try {
    raw = JSON.parse(readFileSync(values.config, 'utf8'));
  } catch (err) {
    fail(`cannot read config ${values.config}: ${err.message}`);
  }
  return { config: validateConfig(raw), exitWithStdin: values['exit-with-stdin'] };
}

function isNonEmptyString(value) {
  return typeof value === 'string' && value.length > 0;
}

function validateConfig(raw) {
  if (raw === null || typeof raw !== 'object') fail('config must be a JSON object');
  const port = raw.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('port must be 0..65535');
  if (raw.issuer != null) {
    if (!isNonEmptyString(raw.issuer)) fail('issuer must be a string');
    // Our interaction routes and the provider share one Koa app mounted at the root, so an
    // issuer with a path would advertise endpoints that are not served.
    const { pathname, search, hash } = new URL(raw.issuer);
    if (pathname !== '/' || search || hash || raw.issuer.endsWith('/')) {
      fail('issuer must be an origin without path, query or trailing slash');
    }
  }
  if (!Array.isArray(raw.clients) || raw.clients.length === 0) fail('clients must be a non-empty list');
  for (const c of raw.clients) {
    if (!isNonEmptyString(c?.client_id) || !isNonEmptyString(c?.client_secret)) {
      fail('each client needs client_id and client_secret');
    }
    if (!Array.isArray(c.redirect_uris) || !c.redirect_uris.every(isNonEmptyString)) {
      fail(`client ${c.client_id}: redirect_uris must be a list of strings`);
    }
  }
  if (!Array.isArray(raw.users)) fail('users must be a list');
  const usernames = new Set();
  const subs = new Set();
  for (const u of raw.users) {
    for (const key of ['sub', 'username', 'password', 'email', 'name']) {
      if (!isNonEmptyString(u?.[key])) fail(`each user needs a non-empty ${key}`);
    }
    if (usernames.has(u.username) || subs.has(u.sub)) fail(`duplicate user ${u.username}`);
    usernames.add(u.username);
    subs.add(u.sub);
  }
  return {
    port,
    issuer: raw.issuer ?? null,
    clients: raw.clients,
    users: raw.users,
    testHooks: raw.test_hooks === true,
  };
}

// ---------------------------------------------------------------- storage

// In-memory adapter. The bundled one is an LRU of 1000 entries, which could evict a client
// registration during a long demo; here only expired entries are dropped, and clients
// (stored without expiry) stay until replaced.
const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

const store = new Map();

function storeGet(key) {
  const entry = store.get(key);
  if (entry === undefined) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.value;
}

function storeSet(key, value, expiresIn) {
  const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
  store.set(key, { value, expiresAt });
}

setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of store) {
    if (entry.expiresAt !== undefined && entry.expiresAt <= now) store.delete(key);
  }
}, 60_000).unref();

class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    if (this.model === 'Session') storeSet(`sessionUid:${payload.uid}`, id, expiresIn);
    if (payload.userCode) storeSet(`userCode:${payload.userCode}`, id, expiresIn);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      const members = storeGet(grantKey) ?? new Set();
      members.add(key);
      // The index lives as long as the grant may still hold tokens; an hour covers our TTLs.
      storeSet(grantKey, members, 3600);
    }
    storeSet(key, payload, expiresIn);
  }

  async find(id) {
    return storeGet(this.key(id));
  }

  async findByUid(uid) {
    const id = storeGet(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = storeGet(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = storeGet(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const grantKey = `grant:${grantId}`;
    for (const key of storeGet(grantKey) ?? []) store.delete(key);
    store.delete(grantKey);
  }
}

// ---------------------------------------------------------------- keys and tokens

function b64url(input) {
  return Buffer.from(input).toString('base64url');
}

function makeSigningKey() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  // RFC 7638 thumbprint as kid: stable for the key, needs no counter.
  const thumbprint = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  const kid = crypto.hash('sha256', thumbprint, 'base64url');
  return {
    privateKey,
    kid,
    jwk: { ...jwk, kid, alg: 'RS256', use: 'sig' },
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }),
  };
}

function decodeJwt(token) {
  const [h, p, s] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    signature: Buffer.from(s, 'base64url'),
  };
}

function signRs256(key, header, payload) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = crypto.sign('sha256', Buffer.from(input), key.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

// Returns the token response body with its ID token altered as `mode` says.
function tamperTokenResponse(mode, body, key, users) {
  if (mode === 'no_id_token') {
    const { id_token: _dropped, ...rest } = body;
    return rest;
  }
  const { header, payload, signature } = decodeJwt(body.id_token);
  const now = Math.floor(Date.now() / 1000);
  let idToken;
  switch (mode) {
    case 'wrong_nonce':
      idToken = signRs256(key, header, { ...payload, nonce: `tampered-${crypto.randomUUID()}` });
      break;
    case 'wrong_aud':
      idToken = signRs256(key, header, { ...payload, aud: 'another-client' });
      break;
    case 'expired':
      // Well past any clock-skew leeway a relying party might allow.
      idToken = signRs256(key, header, {
        ...payload,
        iat: now - 7200,
        exp: now - 3600,
        ...(payload.auth_time === undefined ? {} : { auth_time: now - 7200 }),
      });
      break;
    case 'other_sub': {
      const other = users.find((u) => u.sub !== payload.sub);
      idToken = signRs256(key, header, { ...payload, sub: other ? other.sub : 'other-subject' });
      break;
    }
    case 'alg_none': {
      const h = b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }));
      idToken = `${h}.${b64url(JSON.stringify(payload))}.`;
      break;
    }
    case 'hs256_pubkey': {
      // Key confusion: a verifier that takes the algorithm from the token and hands the RSA
      // public key PEM to an HMAC accepts this as genuine.
      const input = `${b64url(JSON.stringify({ ...header, alg: 'HS256' }))}.${b64url(JSON.stringify(payload))}`;
      const mac = crypto.createHmac('sha256', key.publicPem).update(input).digest('base64url');
      idToken = `${input}.${mac}`;
      break;
    }
    case 'bad_signature': {
      const flipped = Buffer.from(signature);
      flipped[Math.floor(flipped.length / 2)] ^= 0x01;
      const [h, p] = body.id_token.split('.');
      idToken = `${h}.${p}.${flipped.toString('base64url')}`;
      break;
    }
    default:
      return body;
  }
  return { ...body, id_token: idToken };
}

// ---------------------------------------------------------------- pages

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (ch) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[ch]));
}

const PAGE_HEADERS = {
  // No scripts and no outside assets; form-action is left open because the login POST ends
  // in a redirect to the relying party, and browsers apply form-action to that redirect.
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

function renderPage(ctx, status, title, inner) {
  ctx.status = status;
  ctx.set(PAGE_HEADERS);
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#222}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a00}.note{color:#666;font-size:.85rem}
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${inner}
<p class="note">Local PhotoGate sign-in for demonstrations and tests. Not for real accounts.</p>
</body>
</html>
`;
}

function renderLogin(ctx, uid, clientId, { error = null, username = '' } = {}) {
  const message = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
  renderPage(ctx, error ? 401 : 200, 'Sign in', `
<p>Sign in to continue to <strong>${escapeHtml(clientId)}</strong>.</p>
${message}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label for="username">Username</label>
<input id="username" name="username" required autofocus value="${escapeHtml(username)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" required>
<button type="submit" id="login">Sign in</button>
</form>`);
}

async function readBody(ctx) {
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) ctx.throw(413, 'request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// Compares secrets through their digests so the time taken says nothing about the value.
function sameSecret(given, expected) {
  return crypto.timingSafeEqual(
    crypto.hash('sha256', String(given), 'buffer'),
    crypto.hash('sha256', String(expected), 'buffer'),
  );
}

// ---------------------------------------------------------------- provider

function buildProvider(issuer, config, key) {
  const users = config.users;
  const bySub = new Map(users.map((u) => [u.sub, u]));

  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    // Registered through the adapter rather than as static clients so that test hooks can
    // replace redirect URIs at runtime; oidc-provider caches clients by metadata hash.
    clients: [],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    responseTypes: ['code'],
    // v9 implements S256 only; requiring PKCE for confidential clients too is the point.
    pkce: { required: () => true },
    // OpenID Connect says redirect_uri is required; refuse the convenience default.
    allowOmittingSingleRegisteredRedirectUri: false,
    scopes: ['openid', 'email', 'profile'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // Put the scoped claims into the ID token as well, so a relying party does not need a
    // userinfo call to learn the guardian's e-mail and name.
    conformIdTokenClaims: false,
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    jwks: { keys: [key.jwk] },
    cookies: {
      keys: [crypto.randomBytes(32).toString('base64url')],
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      revocation: { enabled: false },
      introspection: { enabled: false },
      registration: { enabled: false },
      // Left out so that every authorization request passes the routes the tamper modes wrap.
      pushedAuthorizationRequests: { enabled: false },
      dPoP: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          renderPage(ctx, 200, 'Sign out', `${form}
<p>Sign out of the local provider?</p>
<button type="submit" form="op.logoutForm" name="logout" value="yes" id="logout">Sign out</button>
<button type="submit" form="op.logoutForm" id="stay">Stay signed in</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          renderPage(ctx, 200, 'Signed out', '<p>You are signed out of the local provider.</p>');
        },
      },
    },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    interactions: {
      url: async (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    findAccount: async (_ctx, sub) => {
      const user = bySub.get(sub);
      if (!user) return undefined;
      return {
        accountId: user.sub,
        claims: async () => ({
          sub: user.sub,
          email: user.email,
          // The demo accounts are configured by the operator, so their addresses are known.
          email_verified: true,
          name: user.name,
        }),
      };
    },
    renderError: async (ctx, out) => {
      const lines = Object.entries(out)
        .map(([k, v]) => `<p><strong>${escapeHtml(k)}</strong>: ${escapeHtml(v)}</p>`)
        .join('\n');
      renderPage(ctx, ctx.status || 400, 'Sign-in error', lines);
    },
  });
  return provider;
}

async function registerClient(provider, client) {
  const metadata = {
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: [...client.redirect_uris],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  };
  // Validation throws InvalidClientMetadata with a readable message for bad URIs.
  await provider.Client.validate(metadata);
  await provider.Client.adapter.upsert(client.client_id, metadata);
}

// Login and consent pages: the provider hands the browser to /interaction/:uid whenever it
// needs the user; we answer and send the browser back to the provider.
function interactionRoutes(provider, config) {
  const byUsername = new Map(config.users.map((u) => [u.username, u]));
  const route = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/;

  async function handle(ctx, uid, login) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) {
      return renderPage(ctx, 400, 'Sign-in error', '<p>This sign-in page does not match the current attempt.</p>');
    }
    const { prompt, params } = details;

    if (!login && ctx.method === 'GET') {
      if (prompt.name === 'login') return renderLogin(ctx, uid, params.client_id);
      if (prompt.name === 'consent') {
        // Every client of this provider is PhotoGate itself, so consent is implied.
        const returnTo = await grantConsent(provider, ctx, details);
        ctx.status = 303;
        return ctx.redirect(returnTo);
      }
      return renderPage(ctx, 400, 'Sign-in error', `<p>Unsupported prompt ${escapeHtml(prompt.name)}.</p>`);
    }

    if (login && ctx.method === 'POST') {
      if (prompt.name !== 'login') {
        return renderPage(ctx, 400, 'Sign-in error', '<p>This sign-in attempt does not expect a password.</p>');
      }
      if (!ctx.is('application/x-www-form-urlencoded')) {
        return renderPage(ctx, 415, 'Sign-in error', '<p>Unsupported form encoding.</p>');
      }
      const form = new URLSearchParams(await readBody(ctx));
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      const user = byUsername.get(username);
      // Compare against a dummy when the user is unknown so both failures take as long.
      const ok = sameSecret(password, user ? user.password : crypto.randomUUID()) && user;
      if (!ok) {
        return renderLogin(ctx, uid, params.client_id, {
          error: 'Unknown username or wrong password.', username,
        });
      }
      const returnTo = await provider.interactionResult(
        ctx.req, ctx.res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false },
      );
      ctx.status = 303;
      return ctx.redirect(returnTo);
    }

    ctx.status = 405;
    ctx.set(PAGE_HEADERS);
    ctx.body = 'method not allowed';
    return undefined;
  }

  return async (ctx, next) => {
    const match = route.exec(ctx.path);
    if (!match) return next();
    try {
      return await handle(ctx, match[1], Boolean(match[2]));
    } catch (err) {
      if (err.name === 'SessionNotFound') {
        return renderPage(ctx, 400, 'Sign-in error',
          '<p>This sign-in attempt has expired or is unknown. Start again from PhotoGate.</p>');
      }
      // Client errors (a body too large, a bad request) are shown; anything else is a bug.
      if (!err.expose) throw err;
      return renderPage(ctx, err.status ?? 400, 'Sign-in error',
        `<p>${escapeHtml(err.error_description ?? err.message)}</p>`);
    }
  };
}

async function grantConsent(provider, ctx, details) {
  const { prompt: { details: missing }, params, session } = details;
  let grant;
  if (details.grantId) grant = await provider.Grant.find(details.grantId);
  grant ??= new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  const consent = details.grantId ? {} : { grantId };
  return provider.interactionResult(ctx.req, ctx.res, { consent }, { mergeWithLastSubmission: true });
}

// ---------------------------------------------------------------- test hooks

function testHookRoutes(provider, config, state) {
  const known = new Set(config.clients.map((c) => c.client_id));

  async function readJson(ctx) {
    // Requiring JSON keeps browsers from reaching these routes with a cross-site form post.
    if (!ctx.is('application/json')) ctx.throw(415, 'expected application/json');
    const text = await readBody(ctx);
    try {
      return JSON.parse(text);
    } catch {
      return ctx.throw(400, 'invalid JSON');
    }
  }

  return async (ctx, next) => {
    if (!ctx.path.startsWith('/__test__/')) return next();
    if (ctx.method !== 'POST') ctx.throw(405);
    ctx.set('Cache-Control', 'no-store');
    const body = await readJson(ctx);

    if (ctx.path === '/__test__/mode') {
      if (!TAMPER_MODES.has(body?.mode)) {
        ctx.status = 400;
        ctx.body = { error: 'unknown mode', modes: [...TAMPER_MODES] };
        return undefined;
      }
      state.mode = body.mode;
      ctx.body = { mode: state.mode, tampered_issuer: TAMPERED_ISSUER };
      return undefined;
    }

    if (ctx.path === '/__test__/clients') {
      const clientId = body?.client_id;
      const uris = body?.redirect_uris;
      if (!known.has(clientId)) {
        ctx.status = 404;
        ctx.body = { error: 'unknown client' };
        return undefined;
      }
      if (!Array.isArray(uris) || uris.length === 0 || !uris.every(isNonEmptyString)) {
        ctx.status = 400;
        ctx.body = { error: 'redirect_uris must be a non-empty list of strings' };
        return undefined;
      }
      const current = await provider.Client.adapter.find(clientId);
      try {
        await registerClient(provider, { ...current, redirect_uris: uris });
      } catch (err) {
        ctx.status = 400;
        ctx.body = { error: err.error ?? 'invalid', error_description: err.error_description ?? err.message };
        return undefined;
      }
      ctx.body = { client_id: clientId, redirect_uris: uris };
      return undefined;
    }

    ctx.throw(404);
    return undefined;
  };
}

function redirectUriBase(url) {
  return `${url.origin}${url.pathname}`;
}

// Wraps the provider's own endpoints and rewrites their answers as the current mode says.
function tamperMiddleware(provider, config, state, key) {
  const tokenPath = provider.pathFor('token');
  const discoveryPath = '/.well-known/openid-configuration';

  return async (ctx, next) => {
    await next();
    const { mode } = state;
    if (mode === 'none') return;

    if (ctx.path === tokenPath && ctx.method === 'POST' && ctx.status === 200
        && ctx.body && typeof ctx.body === 'object' && ctx.body.id_token) {
      ctx.body = tamperTokenResponse(mode, ctx.body, key, config.users);
      return;
    }

    if (mode === 'metadata_issuer_mismatch' && ctx.path === discoveryPath && ctx.status === 200
        && ctx.body && typeof ctx.body === 'object') {
      ctx.body = { ...ctx.body, issuer: TAMPERED_ISSUER };
      return;
    }

    if (mode === 'wrong_iss_param') {
      const location = ctx.response.get('Location');
      if (!location) return;
      let url;
      try {
        url = new URL(location, provider.issuer);
      } catch {
        return;
      }
      // Only the authorization response, a redirect to a registered client URI, carries `iss`.
      const clients = await Promise.all(
        config.clients.map((c) => provider.Client.adapter.find(c.client_id)),
      );
      const registered = new Set(
        clients.flatMap((c) => c?.redirect_uris ?? []).map((u) => redirectUriBase(new URL(u))),
      );
      if (!registered.has(redirectUriBase(url))) return;
      let changed = false;
      if (url.searchParams.has('iss')) {
        url.searchParams.set('iss', TAMPERED_ISSUER);
        changed = true;
      }
      if (url.hash.length > 1) {
        const fragment = new URLSearchParams(url.hash.slice(1));
        if (fragment.has('iss')) {
          fragment.set('iss', TAMPERED_ISSUER);
          url.hash = fragment.toString();
          changed = true;
        }
      }
      if (changed) ctx.set('Location', url.href);
    }
  };
}

// ---------------------------------------------------------------- main

async function main() {
  const { config, exitWithStdin } = readConfig();
  const key = makeSigningKey();
  const server = http.createServer();

  // Listen first so that port 0 can be resolved before the issuer is fixed; the caller
  // learns the port from the ready line instead of racing for a free one.
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const issuer = config.issuer ?? `http://127.0.0.1:${port}`;

  const provider = buildProvider(issuer, config, key);
  for (const client of config.clients) await registerClient(provider, client);

  const state = { mode: 'none' };
  provider.use(interactionRoutes(provider, config));
  if (config.testHooks) {
    provider.use(testHookRoutes(provider, config, state));
    provider.use(tamperMiddleware(provider, config, state, key));
  }
  provider.on('server_error', (_ctx, err) => {
    process.stderr.write(`idp: server error: ${err.stack ?? err}\n`);
  });

  server.on('request', provider.callback());

  const shutdown = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (exitWithStdin) {
    // The launcher keeps our stdin open; when it dies without stopping us, stdin closes
    // and we leave instead of holding the port.
    process.stdin.on('end', shutdown);
    process.stdin.on('error', shutdown);
    process.stdin.resume();
  }

  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
}

main().catch((err) => fail(err.stack ?? String(err)));
