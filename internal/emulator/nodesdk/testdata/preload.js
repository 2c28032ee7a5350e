'use strict';
// Loaded with `node -r ./preload.js`: sends every TLS connection to the
// Tencent Cloud API (*.tencentcloudapi.com) and COS (*.myqcloud.com) names
// to the emulator at 127.0.0.1:$VODWATCHD_EMULATOR_PORT, keeping the name
// for SNI and certificate checks, so the SDK runs unchanged (no endpoint
// setting, port 443 in its URLs). Anything else is refused, so that a test
// can never reach the network.
const tls = require('tls');
const net = require('net');

const port = Number(process.env.VODWATCHD_EMULATOR_PORT);
if (!port) {
  throw new Error('preload.js: VODWATCHD_EMULATOR_PORT is not set');
}
const emulated = (host) => /(^|\.)tencentcloudapi\.com$|(^|\.)myqcloud\.com$/.test(String(host || ''));

const connectTLS = tls.connect;
tls.connect = function (...args) {
  let options = {};
  if (typeof args[0] === 'object' && args[0] !== null) {
    options = Object.assign({}, args[0]);
    args[0] = options;
  } else {
    // tls.connect(port[, host][, options][, callback])
    const [p, h, o] = args;
    options = Object.assign({}, typeof o === 'object' ? o : {}, { port: p, host: typeof h === 'string' ? h : undefined });
    args = [options].concat(args.filter((a) => typeof a === 'function'));
  }
  const name = options.servername || options.host || 'localhost';
  if (!emulated(name)) {
    throw new Error('preload.js: refusing a connection to ' + name + ' (only the emulated services are reachable)');
  }
  options.servername = name;
  options.host = '127.0.0.1';
  options.port = port;
  delete options.path;
  return connectTLS.apply(tls, args);
};

const connectTCP = net.connect;
net.connect = net.createConnection = function (...args) {
  const o = typeof args[0] === 'object' && args[0] !== null ? args[0] : { host: args[1] };
  if (o.host && o.host !== '127.0.0.1' && o.host !== 'localhost' && !o.path) {
    throw new Error('preload.js: refusing a plain TCP connection to ' + o.host);
  }
  return connectTCP.apply(net, args);
};
