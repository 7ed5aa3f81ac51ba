// A real OAuth 2.0 server (npm oauth2-mock-server 8.2.3) and a protected API
// that accepts only its RS256 tokens, for the end-to-end auth tests.
//
//   node oauth2.mjs OAUTH_PORT API_PORT CLIENT_ID CLIENT_SECRET [--ttl S] [--nested]
//
// oauth2-mock-server issues tokens to anyone; the hooks below make it
// enforce the client id and secret (Basic header or form fields), give
// tokens a chosen lifetime, and (--nested) wrap the token response as
// {"data": {"access_token", "expires_in"}}. Its token endpoint takes POST
// only: GET /token on the API port relays a GET token request to it
// unchanged but for the method, so `method: GET` meets the same issuer.
//
// The API verifies each bearer token against the issuer's /jwks with Node's
// own crypto (not the mock's code): GET /records?page=N answers two records
// per page for pages 1..3 (or ?pages=N); GET /stats counts tokens issued and 401s sent.
import { OAuth2Server } from 'oauth2-mock-server';
import http from 'node:http';
import crypto from 'node:crypto';

const [oauthPort, apiPort, clientId, clientSecret] = process.argv.slice(2, 6).map(String);
const ttl = process.argv.includes('--ttl') ? Number(process.argv[process.argv.indexOf('--ttl') + 1]) : 3600;
const nested = process.argv.includes('--nested');
const stats = { issued: 0, refused_clients: 0, unauthorized: 0, scopes: [], client_auth: [] };

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

function clientOf(req) {
  const auth = req.headers.authorization || '';
  if (auth.startsWith('Basic ')) {
    const [id, ...rest] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
    return { id, secret: rest.join(':'), how: 'header' };
  }
  return { id: req.body?.client_id, secret: req.body?.client_secret, how: 'body' };
}

server.service.on('beforeTokenSigning', (token) => {
  token.payload.exp = Math.floor(Date.now() / 1000) + ttl;
});
server.service.on('beforeResponse', (resp, req) => {
  const c = clientOf(req);
  if (c.id !== clientId || c.secret !== clientSecret) {
    stats.refused_clients += 1;
    resp.statusCode = 401;
    resp.body = { error: 'invalid_client', error_description: `unknown client ${c.id}` };
    return;
  }
  stats.issued += 1;
  stats.scopes.push(req.body?.scope ?? null);
  stats.client_auth.push(c.how);
  resp.body.expires_in = ttl;
  if (nested) resp.body = { code: 0, data: { access_token: resp.body.access_token, expires_in: ttl } };
});
await server.start(Number(oauthPort), '127.0.0.1');

async function verify(token) {
  const [h, p, s] = token.split('.');
  if (!s) return null;
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const jwks = await (await fetch(`http://127.0.0.1:${oauthPort}/jwks`)).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk || header.alg !== 'RS256') return null;
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const ok = crypto.verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
  const payload = JSON.parse(Buffer.from(p, 'base64url'));
  return ok && payload.exp > Date.now() / 1000 ? payload : null;
}

const api = http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://127.0.0.1:${apiPort}`);
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (url.pathname === '/stats') return send(200, stats);
  if (url.pathname === '/token' && req.method === 'GET') {
    const upstream = await fetch(`http://127.0.0.1:${oauthPort}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      },
      body: url.searchParams.toString(),
    });
    res.writeHead(upstream.status, { 'content-type': 'application/json' });
    return res.end(await upstream.text());
  }
  const auth = req.headers.authorization || '';
  const claims = auth.startsWith('Bearer ') ? await verify(auth.slice(7)) : null;
  if (!claims) {
    stats.unauthorized += 1;
    return send(401, { error: 'invalid or expired token' });
  }
  if (url.pathname === '/records') {
    const page = Number(url.searchParams.get('page') || 1);
    const delay = Number(url.searchParams.get('delay_ms') || 0);
    await new Promise((r) => setTimeout(r, delay));
    const pages = Number(url.searchParams.get('pages') || 3);
    const records = page <= pages ? [0, 1].map((i) => ({ id: page * 10 + i, scope: claims.scope ?? null })) : [];
    return send(200, { records });
  }
  send(404, { error: 'no such endpoint' });
});
api.listen(Number(apiPort), '127.0.0.1');
