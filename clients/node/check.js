'use strict';
// Checks ioredis and node-redis against a raftkv node.
//
// Usage: node check.js ioredis|node-redis2|node-redis3 HOST PORT
//
// Prints "ok" and exits 0 when every assertion holds; prints the failure
// and exits 1 otherwise. Any warning or error the library logs on its own
// (stderr) is treated as a failure by the Go test that runs this script
// (compat's TestClients), since the usual handshake must pass silently.
const assert = require('node:assert/strict');

const [lib, host, portText] = process.argv.slice(2);
const port = Number(portText);
const prefix = `${lib}:${port}:`;

async function common(c) {
  // c: { cmd(args[]) -> reply, close() } over either library.
  assert.equal(await c.cmd(['PING']), 'PONG');
  assert.equal(await c.cmd(['SET', prefix + 's', 'v']), 'OK');
  assert.equal(String(await c.cmd(['GET', prefix + 's'])), 'v');
  assert.equal(await c.cmd(['INCRBY', prefix + 'n', '1']), 1);
  assert.equal(await c.cmd(['SET', prefix + 't', 'x', 'EX', '1000']), 'OK');
  const ttl = await c.cmd(['TTL', prefix + 't']);
  assert.ok(ttl > 990 && ttl <= 1000, `ttl ${ttl}`);
  assert.equal(await c.cmd(['HSET', prefix + 'h', 'a', '1', 'b', '2']), 2);
  assert.equal(await c.cmd(['EXISTS', prefix + 's', prefix + 'h', prefix + 'none']), 2);
  const info = String(await c.cmd(['INFO', 'server']));
  assert.match(info, /redis_version:7\./);
}

async function ioredisCheck() {
  const Redis = require('ioredis');
  const r = new Redis({ host, port, maxRetriesPerRequest: 0, enableOfflineQueue: true, lazyConnect: true });
  const errors = [];
  r.on('error', (e) => errors.push(e));
  await r.connect();
  try {
    await common({ cmd: (a) => r.call(...a) });
    assert.equal(await r.set(prefix + 'k', 'v'), 'OK');
    assert.equal(await r.get(prefix + 'k'), 'v');
    assert.equal(await r.incr(prefix + 'c'), 1);
    const bin = Buffer.from([0x61, 0x0d, 0x0a, 0x00, 0xff]);
    await r.set(prefix + 'bin', bin);
    assert.deepEqual(await r.getBuffer(prefix + 'bin'), bin);
    assert.deepEqual(await r.hgetall(prefix + 'h'), { a: '1', b: '2' });
    const pipe = r.pipeline();
    for (let i = 0; i < 50; i++) pipe.set(prefix + 'p' + i, String(i));
    pipe.get(prefix + 'p49');
    const res = await pipe.exec();
    assert.equal(res.length, 51);
    assert.deepEqual(res[50], [null, '49']);
    const tx = await r.multi().incr(prefix + 'tx').incr(prefix + 'tx').get(prefix + 'tx').exec();
    assert.deepEqual(tx, [[null, 1], [null, 2], [null, '2']]);
    // WATCH: a change by another connection aborts EXEC (null reply).
    const other = new Redis({ host, port, lazyConnect: true });
    await other.connect();
    await r.watch(prefix + 'w');
    await other.set(prefix + 'w', 'changed');
    const aborted = await r.multi().set(prefix + 'w', 'mine').exec();
    assert.equal(aborted, null);
    assert.equal(await r.get(prefix + 'w'), 'changed');
    await other.quit();
    await assert.rejects(r.incr(prefix + 'h'), /WRONGTYPE/);
    const keys = [];
    await new Promise((resolve, reject) => {
      const s = r.scanStream({ match: prefix + 'p1*', count: 5 });
      s.on('data', (ks) => keys.push(...ks));
      s.on('end', resolve);
      s.on('error', reject);
    });
    assert.equal(new Set(keys).size, 11); // p1, p10..p19
  } finally {
    await r.quit();
  }
  assert.deepEqual(errors, []);
}

async function nodeRedisCheck(resp) {
  const { createClient, WatchError } = require('redis');
  const opts = { socket: { host, port, reconnectStrategy: false } };
  if (resp === 3) opts.RESP = 3;
  const r = createClient(opts);
  const errors = [];
  r.on('error', (e) => errors.push(e));
  await r.connect();
  try {
    await common({ cmd: (a) => r.sendCommand(a) });
    assert.equal(await r.set(prefix + 'k', 'v'), 'OK');
    assert.equal(await r.get(prefix + 'k'), 'v');
    assert.equal(await r.incr(prefix + 'c'), 1);
    const h = await r.hGetAll(prefix + 'h');
    assert.equal(h.a, '1');
    assert.equal(h.b, '2');
    const multi = r.multi().incr(prefix + 'tx').incr(prefix + 'tx').get(prefix + 'tx');
    assert.deepEqual(await multi.exec(), [1, 2, '2']);
    const pipe = r.multi();
    for (let i = 0; i < 50; i++) pipe.set(prefix + 'p' + i, String(i));
    const res = await pipe.execAsPipeline();
    assert.equal(res.length, 50);
    // WATCH needs an isolated connection in node-redis 5.
    const iso = await r.duplicate().connect();
    try {
      await iso.watch(prefix + 'w');
      await r.set(prefix + 'w', 'changed');
      await assert.rejects(iso.multi().set(prefix + 'w', 'mine').exec(), WatchError);
    } finally {
      await iso.quit();
    }
    assert.equal(await r.get(prefix + 'w'), 'changed');
    await assert.rejects(r.incr(prefix + 'h'), /WRONGTYPE/);
  } finally {
    await r.quit();
  }
  assert.deepEqual(errors, []);
}

(async () => {
  switch (lib) {
    case 'ioredis': await ioredisCheck(); break;
    case 'node-redis2': await nodeRedisCheck(2); break;
    case 'node-redis3': await nodeRedisCheck(3); break;
    default: throw new Error(`unknown library ${lib}`);
  }
  console.log('ok');
  process.exit(0);
})().catch((e) => {
  console.log('FAIL:', e && e.stack ? e.stack : e);
  process.exit(1);
});
