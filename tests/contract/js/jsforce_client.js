// jsforce against the Salesforce simulator: logins, query, create, CDC with replay.
//
// Configuration comes from the environment (SF_URL, SF_CLIENT_ID, SF_CLIENT_SECRET,
// SF_USERNAME, SF_PASSWORD, SF_VERSION); TLS trust from NODE_EXTRA_CA_CERTS. Each step prints one
// JSON line on stdout ({"step": ..., ...}) for the pytest side to check; a failure prints
// {"step": "error", ...} and exits 1.
'use strict';

const jsforce = require('jsforce');
const { StreamingExtension } = require('jsforce/api/streaming');

const env = process.env;
const version = env.SF_VERSION || '59.0';
const channel = '/data/AccountChangeEvent';

function say(step, fields) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
}

function oauth2() {
  return { clientId: env.SF_CLIENT_ID, clientSecret: env.SF_CLIENT_SECRET, loginUrl: env.SF_URL };
}

async function refusedLogin() {
  const conn = new jsforce.Connection({ oauth2: oauth2(), loginUrl: env.SF_URL, version });
  try {
    await conn.login(env.SF_USERNAME, 'not-the-password');
    return { refused: false };
  } catch (err) {
    return { refused: true, error: err.name, description: err.message };
  }
}

function streamUntil(conn, replayFrom, wanted) {
  // Subscribe with the replay extension; resolve with the events once `wanted` have arrived.
  return new Promise((resolve, reject) => {
    const events = [];
    const replay = new StreamingExtension.Replay(channel, replayFrom);
    const failure = new StreamingExtension.AuthFailure(() => reject(new Error('auth failure')));
    const client = conn.streaming.createClient([replay, failure]);
    const timer = setTimeout(() => {
      client.disconnect();
      resolve(events);
    }, 15000);
    const subscription = client.subscribe(channel, (message) => {
      events.push({
        replayId: message.event.replayId,
        header: message.payload.ChangeEventHeader,
        name: message.payload.Name,
      });
      if (events.length >= wanted) {
        clearTimeout(timer);
        client.disconnect();
        resolve(events);
      }
    });
    subscription.errback((err) => reject(err));
  });
}

async function main() {
  const app = new jsforce.Connection({ oauth2: oauth2(), version });
  const info = await app.authorize({ grant_type: 'client_credentials' });
  say('client_credentials', { instanceUrl: app.instanceUrl, userId: info.id, orgId: info.organizationId });

  const conn = new jsforce.Connection({ oauth2: oauth2(), loginUrl: env.SF_URL, version });
  const user = await conn.login(env.SF_USERNAME, env.SF_PASSWORD);
  say('password', { instanceUrl: conn.instanceUrl, userId: user.id });
  say('refused', await refusedLogin());

  const names = ['jsforce one', 'jsforce two', 'jsforce three'];
  const ids = [];
  for (const name of names) {
    const result = await conn.sobject('Account').create({ Name: name, Type: 'Customer' });
    ids.push(result.id);
  }
  say('create', { ids, success: true });

  const found = await app.query("SELECT Id, Name FROM Account WHERE Name LIKE 'jsforce%' ORDER BY Name");
  say('query', { totalSize: found.totalSize, names: found.records.map((r) => r.Name) });

  // An expired session: jsforce must recognise the 401 INVALID_SESSION_ID, log in again with
  // the password and repeat the call.
  const stale = '00Dexpired!session';
  conn.accessToken = stale;
  const again = await conn.query("SELECT Id FROM Account WHERE Name = 'jsforce one'");
  say('refresh', { totalSize: again.totalSize, renewed: conn.accessToken !== stale });

  const all = await streamUntil(conn, -2, names.length);
  say('replay_all', { events: all });
  const later = await streamUntil(conn, all[0].replayId, names.length - 1);
  say('replay_from', { from: all[0].replayId, events: later });
}

main().then(
  () => process.exit(0),
  (err) => {
    say('error', { name: err.name, message: String(err.message || err) });
    process.exit(1);
  },
);
