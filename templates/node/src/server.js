'use strict';

const http = require('node:http');
const net = require('node:net');

const port = Number(process.env.PORT) || 3000;
const dbUrl = new URL(process.env.DATABASE_URL || 'postgres://localhost:5432/app');

// A TCP connect is enough to tell whether the database is up, and needs no driver.
function checkDb(timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: dbUrl.hostname, port: Number(dbUrl.port) || 5432 });
    const done = (up) => {
      socket.destroy();
      resolve(up ? 'up' : 'down');
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const server = http.createServer(async (req, res) => {
  const body = {
    message: 'Hello from devstack! Edit src/server.js to change this.',
    time: new Date().toISOString(),
    db: await checkDb(),
  };
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body) + '\n');
});

server.listen(port, () => console.log(`listening on :${port}`));

// As PID 1 in a container, node ignores SIGTERM unless told otherwise: exit at
// once so that stops and restarts are quick.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
