// Tessera's revocation events (docs/revocation-events.md, version 1) over Server-Sent Events,
// applied to access tokens a node resource server has verified. Node's standard library only.
//
//   const revocations = new Revocations({ stream, feed, clientId, clientSecret });
//   revocations.start();
//   ...after verifying a token's signature and claims:
//   const reason = revocations.revokedReason(claims);   // null, or why it is revoked
'use strict';

const http = require('node:http');
const https = require('node:https');
const { EventEmitter } = require('node:events');

const VERSION = 1;

class Revocations extends EventEmitter {
  // stream: the event stream's URL, the discovery document's
  // tessera_revocation_events_endpoint; without it (an older Tessera) feed + '/stream', feed
  // being its revocation_feed_endpoint. clientId/clientSecret: an app holding revocations:read.
  constructor({ stream, feed, clientId, clientSecret, maxBackoffMs = 30000 }) {
    super();
    this.stream = new URL(stream || feed.replace(/\/$/, '') + '/stream');
    const pair = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
    this.auth = 'Basic ' + Buffer.from(pair).toString('base64');
    this.maxBackoffMs = maxBackoffMs;
    this.lastId = null; // the last seq applied: sent back as Last-Event-ID on reconnection
    this.lastSync = null; // ms timestamp of the last event or keep-alive
    this.jti = new Map(); // jti -> until (Unix seconds, Infinity for null)
    this.gid = new Map();
    this.suspended = new Set();
    this.cutoffs = new Map(); // client_id -> {issuedBefore, until}
    this.request = null;
    this.stopped = false;
  }

  revokedReason(claims) {
    const now = Date.now() / 1000;
    if ((this.jti.get(claims.jti) ?? 0) > now) return 'the token has been revoked';
    if (claims.gid && (this.gid.get(claims.gid) ?? 0) > now) {
      return "the user's authorization of this app has been revoked";
    }
    if (this.suspended.has(claims.client_id)) return 'the app has been suspended';
    const cutoff = this.cutoffs.get(claims.client_id);
    if (cutoff && cutoff.until > now && claims.iat < cutoff.issuedBefore) {
      return 'the token was revoked when its app was suspended';
    }
    return null;
  }

  start() {
    this.stopped = false;
    this.connect(500);
  }

  stop() {
    this.stopped = true;
    if (this.request) this.request.destroy();
  }

  connect(delayMs) {
    const headers = { Accept: 'text/event-stream', Authorization: this.auth };
    if (this.lastId !== null) headers['Last-Event-ID'] = String(this.lastId);
    const client = this.stream.protocol === 'https:' ? https : http;
    const retry = (why) => {
      if (this.stopped) return;
      this.emit('disconnected', why);
      setTimeout(() => this.connect(Math.min(delayMs * 2, this.maxBackoffMs)), delayMs);
    };
    this.request = client.get(this.stream, { headers }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        retry(new Error(`event stream answered HTTP ${response.statusCode}`));
        return;
      }
      this.emit('connected');
      delayMs = 500;
      let buffer = '';
      let fields = {};
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline).replace(/\r$/, '');
          buffer = buffer.slice(newline + 1);
          if (line === '') {
            this.dispatch(fields);
            fields = {};
          } else if (line.startsWith(':')) {
            this.lastSync = Date.now(); // keep-alive
          } else {
            const colon = line.indexOf(':');
            const name = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            fields[name] = name === 'data' && 'data' in fields ? `${fields.data}\n${value}` : value;
          }
        }
      });
      // The server ends each stream after a few minutes: reconnect at once with Last-Event-ID.
      response.on('end', () => (this.stopped ? null : this.connect(500)));
      response.on('error', retry);
    });
    this.request.on('error', retry);
  }

  dispatch(fields) {
    if (fields.data === undefined) return;
    let data;
    try {
      data = JSON.parse(fields.data);
    } catch {
      this.emit('warning', new Error('undecodable event'));
      return;
    }
    if (fields.event === 'snapshot') {
      this.applySnapshot(data);
      this.lastId = Number(fields.id);
    } else if (fields.event === 'revocation') {
      if (data.v !== VERSION) {
        this.emit('warning', new Error(`revocation event of unknown version ${data.v}`));
        return;
      }
      if (this.lastId !== null && data.seq <= this.lastId) return; // a duplicate
      this.applyEvent(data);
      this.lastId = data.seq;
    }
    this.lastSync = Date.now();
    this.emit('event', fields.event, data);
  }

  applySnapshot(doc) {
    const until = (value) => (typeof value === 'number' ? value : Infinity);
    this.jti = new Map((doc.revoked_tokens || []).map((e) => [e.jti, until(e.exp)]));
    this.gid = new Map((doc.revoked_grants || []).map((e) => [e.gid, until(e.until)]));
    this.suspended = new Set(doc.suspended_clients || []);
    this.cutoffs = new Map(
      (doc.client_cutoffs || []).map((c) => [
        c.client_id,
        { issuedBefore: c.issued_before, until: until(c.until) },
      ]),
    );
  }

  applyEvent(event) {
    const until = typeof event.until === 'number' ? event.until : Infinity;
    switch (event.type) {
      case 'token':
        this.jti.set(event.subject, until);
        break;
      case 'grant':
        this.gid.set(event.subject, until);
        break;
      case 'client_suspended':
        this.suspended.add(event.subject);
        break;
      case 'client_restored':
        this.suspended.delete(event.subject);
        break;
      case 'client_cutoff': {
        const old = this.cutoffs.get(event.subject);
        this.cutoffs.set(event.subject, {
          issuedBefore: Math.max(event.at, old ? old.issuedBefore : 0),
          until: Math.max(until, old ? old.until : 0),
        });
        break;
      }
      default:
        break; // a type added after this code was written: skip it
    }
  }
}

module.exports = { Revocations };
