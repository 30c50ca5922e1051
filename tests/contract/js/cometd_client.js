// The official CometD JavaScript client (npm `cometd`, run in Node through
// `cometd-nodejs-client`) against the simulator's Streaming API.
//
// Environment: SF_URL, SF_TOKEN (an access token), SF_VERSION, SF_CHANNEL, SF_WANTED (events to
// wait for); TLS trust from NODE_EXTRA_CA_CERTS. Prints JSON lines: "handshake", "subscribed",
// then "event" per event received, then "done"; {"step": "error"} and exit 1 on failure.
'use strict';

require('cometd-nodejs-client').adapt();
const lib = require('cometd');

const env = process.env;
const channel = env.SF_CHANNEL || '/data/AccountChangeEvent';
const wanted = Number(env.SF_WANTED || '1');

function say(step, fields) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
}

function fail(message) {
  say('error', { message });
  process.exit(1);
}

const cometd = new lib.CometD();
// Salesforce's Streaming API offers long polling only.
cometd.websocketEnabled = false;
cometd.unregisterTransport('websocket');
cometd.configure({
  url: `${env.SF_URL}/cometd/${env.SF_VERSION || '59.0'}`,
  requestHeaders: { Authorization: `Bearer ${env.SF_TOKEN}` },
  appendMessageTypeToURL: false,
  logLevel: 'warn',
});

let received = 0;
const timer = setTimeout(() => fail(`only ${received} of ${wanted} events within 20 s`), 20000);

cometd.handshake((reply) => {
  if (!reply.successful) {
    fail(`handshake refused: ${JSON.stringify(reply)}`);
    return;
  }
  say('handshake', { clientId: reply.clientId, ext: reply.ext || null });
  const replay = { replay: { [channel]: Number(env.SF_REPLAY || '-1') } };
  cometd.subscribe(
    channel,
    (message) => {
      received += 1;
      say('event', { channel: message.channel, data: message.data });
      if (received >= wanted) {
        clearTimeout(timer);
        cometd.disconnect(() => {
          say('done', { received });
          process.exit(0);
        });
      }
    },
    { ext: replay },
    (subscribed) => {
      if (!subscribed.successful) {
        fail(`subscribe refused: ${JSON.stringify(subscribed)}`);
        return;
      }
      say('subscribed', { channel });
    },
  );
});
