// A node API protected by Tessera access tokens, with revocations pushed over SSE.
// Node's standard library only (node 18+). Environment:
//   TESSERA_ISSUER      e.g. http://127.0.0.1:5000
//   API_AUDIENCE        the tokens' aud (default: TESSERA_ISSUER + '/api')
//   API_CLIENT_ID, API_CLIENT_SECRET   an app holding revocations:read
//   PORT                default 8090 (0: any free port)
// GET / with "Authorization: Bearer <token>": 200 {"client_id", "sub"}, or 401 with the reason.
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const { Revocations } = require('./revocations');

const issuer = process.env.TESSERA_ISSUER || 'http://127.0.0.1:5000';
const audience = process.env.API_AUDIENCE || issuer + '/api';
const ALGORITHMS = { ES256: 'sha256', RS256: 'sha256', EdDSA: null };

async function getJson(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
  return response.json();
}

const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

// Verify signature and claims (RFC 9068); returns the claims or throws with the reason.
function verify(token, keys) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('malformed token');
  const header = b64json(parts[0]);
  const key = keys.get(header.kid);
  if (!(header.alg in ALGORITHMS) || !key || key.alg !== header.alg) {
    throw new Error('unknown key or algorithm');
  }
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], 'base64url');
  const options = header.alg === 'ES256' ? { key: key.key, dsaEncoding: 'ieee-p1363' } : key.key;
  if (!crypto.verify(ALGORITHMS[header.alg], signed, options, signature)) {
    throw new Error('bad signature');
  }
  const claims = b64json(parts[1]);
  const now = Date.now() / 1000;
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== issuer || !aud.includes(audience)) throw new Error('not for this API');
  if (!(claims.exp > now - 5) || claims.nbf > now + 5) throw new Error('expired');
  return claims;
}

async function main() {
  const meta = await getJson(issuer + '/.well-known/openid-configuration');
  const jwks = await getJson(meta.jwks_uri);
  const keys = new Map(
    jwks.keys.map((jwk) => [
      jwk.kid,
      { alg: jwk.alg || (jwk.kty === 'OKP' ? 'EdDSA' : null), key: crypto.createPublicKey({ key: jwk, format: 'jwk' }) },
    ]),
  );
  const revocations = new Revocations({
    stream: meta.tessera_revocation_events_endpoint,
    feed: meta.revocation_feed_endpoint,
    clientId: process.env.API_CLIENT_ID,
    clientSecret: process.env.API_CLIENT_SECRET,
  });
  revocations.on('disconnected', (why) => console.error('revocation stream:', why.message));
  revocations.on('warning', (why) => console.error('revocation stream:', why.message));
  revocations.start();

  const server = http.createServer((req, res) => {
    const answer = (status, body) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization || '');
    if (!match) return answer(401, { error: 'invalid_token', error_description: 'no token' });
    let claims;
    try {
      claims = verify(match[1], keys);
    } catch (error) {
      return answer(401, { error: 'invalid_token', error_description: error.message });
    }
    const reason = revocations.revokedReason(claims);
    if (reason) return answer(401, { error: 'invalid_token', error_description: reason });
    return answer(200, { client_id: claims.client_id, sub: claims.sub });
  });
  revocations.once('event', () => {
    server.listen(Number(process.env.PORT ?? 8090), '127.0.0.1', () => {
      console.log(`node API listening on http://127.0.0.1:${server.address().port}`);
    });
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
