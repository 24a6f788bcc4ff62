// SPDX-License-Identifier: Apache-2.0
// A real OAuth 2 / OpenID Connect authorization server for tests: oidc-provider (panva), configured here.
// Started by tests/peers/oauth_server.py; the protocol work is all oidc-provider's, this file only picks
// the features and supplies what a deployment must: keys, clients, accounts and the sign-in pages.
//
// Enabled: discovery (also at /.well-known/oauth-authorization-server, RFC 8414), JWKS, authorization
// code with PKCE (S256, required for every client), client credentials, device authorization (RFC 8628),
// refresh tokens (rotated on every use), revocation (RFC 7009), introspection (RFC 7662), dynamic client
// registration (RFC 7591/7592), resource indicators (RFC 8707: access tokens for a resource are JWTs with
// aud = that resource).
//
// The sign-in is plain HTML forms meant for a scripted "browser" (tests/peers/browser.py): GET
// /interaction/<uid> shows a login form (fields `login`, `password`) or a consent form (submit to
// /interaction/<uid>/confirm; /abort denies). No JavaScript, no external assets.
//
// Environment (all optional except OIDC_MODULES):
//   OIDC_MODULES            node_modules dir holding oidc-provider (scripts/peers/oidc.sh's cache)
//   OIDC_PORT               port on 127.0.0.1 (default 0: any free one; the URL is printed)
//   OIDC_ISSUER             issuer URL (default http://127.0.0.1:<port>)
//   OIDC_USERS              JSON {"login": "password", ...} (default {"alice": "alice-password"})
//   OIDC_CLIENTS            JSON array of client metadata registered at start (default: none)
//   OIDC_SCOPES             scopes a resource server accepts (default "read write")
//   OIDC_ACCESS_TOKEN_TTL   seconds (default 600); also for client-credentials tokens
//   OIDC_REFRESH_TOKEN_TTL  seconds (default 86400)
//   OIDC_DEFAULT_RESOURCE   resource used when a request names none (default: none -> opaque token
//                           usable at /me, the userinfo endpoint)
// On start it prints one JSON line: {"issuer": "...", "port": N}.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import { importFrom, modulesDirFromEnv } from '../resolve.mjs';

function env(name, fallback) {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

// The package lives in the peer cache, not next to this file.
const modules = modulesDirFromEnv('OIDC_MODULES', 'scripts/peers/oidc.sh');
const { default: Provider, errors } = await importFrom(modules, 'oidc-provider');

const port = Number(env('OIDC_PORT', '0'));
const users = JSON.parse(env('OIDC_USERS', '{"alice": "alice-password"}'));
const clients = JSON.parse(env('OIDC_CLIENTS', '[]'));
const resourceScopes = env('OIDC_SCOPES', 'read write');
const accessTokenTTL = Number(env('OIDC_ACCESS_TOKEN_TTL', '600'));
const refreshTokenTTL = Number(env('OIDC_REFRESH_TOKEN_TTL', '86400'));
const defaultResourceIndicator = env('OIDC_DEFAULT_RESOURCE');

// One RSA signing key per run: ID tokens and JWT access tokens are signed with it, /jwks publishes it.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };

function page(title, body) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>
${body}
</body></html>`;
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Listen first, so that the issuer can carry the real port when OIDC_PORT is 0.
const server = http.createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const actualPort = server.address().port;
const issuer = env('OIDC_ISSUER', `http://127.0.0.1:${actualPort}`);

const configuration = {
  clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', ...resourceScopes.split(' ')],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(_ctx, id) {
    if (!Object.hasOwn(users, id)) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true, name: id };
      },
    };
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  responseTypes: ['code'],
  clientDefaults: {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  // Every client allowed the refresh_token grant gets one (not only with offline_access + consent).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AccessToken: accessTokenTTL,
    ClientCredentials: accessTokenTTL,
    RefreshToken: refreshTokenTTL,
    DeviceCode: 600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 86400,
    Grant: 86400,
    IdToken: 3600,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    registration: { enabled: true },
    registrationManagement: { enabled: true },
    deviceFlow: {
      enabled: true,
      async userCodeInputSource(ctx, form, _out, err) {
        const message = err ? `<p class="error">${escapeHtml(err.message || err.name)}</p>` : '';
        ctx.body = page('Device sign-in', `${message}<p>Enter the code shown on your device.</p>
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`);
      },
      async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
        ctx.body = page('Confirm device', `<p>${escapeHtml(client.clientName || client.clientId)} shows the code
<code>${escapeHtml(userCode)}</code>.</p>
${form}
<button type="submit" form="op.deviceConfirmForm" name="confirm" value="yes">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`);
      },
      async successSource(ctx) {
        ctx.body = page('Device sign-in complete', '<p id="device-success">You can close this page.</p>');
      },
    },
    resourceIndicators: {
      enabled: true,
      async defaultResource(_ctx, _client, oneOf) {
        return oneOf ?? defaultResourceIndicator;
      },
      // A token request without `resource` gets the one resource the grant holds.
      useGrantedResource: async () => true,
      async getResourceServerInfo(_ctx, resourceIndicator) {
        return {
          scope: resourceScopes,
          audience: resourceIndicator,
          accessTokenTTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
};

const provider = new Provider(issuer, configuration);
// Plain http on loopback: oidc-provider only cares when behind a TLS-terminating proxy (provider.proxy).
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function loginPage(res, uid, details, error) {
  const client = await provider.Client.find(details.params.client_id);
  send(res, 200, page('Sign in', `${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<p>Sign in to continue to ${escapeHtml(client?.clientName || details.params.client_id)}.</p>
<form method="post" action="/interaction/${uid}/login">
<input type="text" name="login" autocomplete="username">
<input type="password" name="password" autocomplete="current-password">
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`));
}

async function consentPage(res, uid, details) {
  const { missingOIDCScope = [], missingResourceScopes = {} } = details.prompt.details;
  const asked = [...missingOIDCScope];
  for (const [resource, scopes] of Object.entries(missingResourceScopes)) {
    asked.push(...scopes.map((s) => `${s} (${resource})`));
  }
  send(res, 200, page('Authorize', `<p>Allow ${escapeHtml(details.params.client_id)} access?</p>
<ul>${asked.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Deny</button></form>`));
}

// The consent step: record what the client asked for in a Grant (oidc-provider's own model).
async function grantConsent(details) {
  const { prompt: { details: missing }, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return details.grantId ? {} : { grantId };
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction uid mismatch');
  const prompt = details.prompt.name;
  if (req.method === 'GET' && !action) {
    if (prompt === 'login') return loginPage(res, uid, details);
    return consentPage(res, uid, details);
  }
  if (req.method !== 'POST') return send(res, 405, page('Method not allowed', ''));
  const form = await readForm(req);
  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the user denied the request',
    }, { mergeWithLastSubmission: false });
  }
  if (action === 'login' && prompt === 'login') {
    if (!Object.hasOwn(users, form.login ?? '') || users[form.login] !== form.password) {
      return loginPage(res, uid, details, 'Wrong login or password.');
    }
    return provider.interactionFinished(req, res, { login: { accountId: form.login } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (action === 'confirm' && prompt === 'consent') {
    const consent = await grantConsent(details);
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  return send(res, 400, page('Unexpected step', `<p>${escapeHtml(action)} during ${escapeHtml(prompt)}</p>`));
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    // RFC 8414 clients look here; oidc-provider serves the same document at openid-configuration.
    if (url.pathname === '/.well-known/oauth-authorization-server') {
      req.url = '/.well-known/openid-configuration';
      return callback(req, res);
    }
    const match = url.pathname.match(/^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    return callback(req, res);
  } catch (err) {
    console.error('interaction error', err);
    if (!res.headersSent) send(res, err.statusCode || 500, page('Error', `<p>${escapeHtml(err.message)}</p>`));
  }
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
console.log(JSON.stringify({ issuer, port: actualPort }));
