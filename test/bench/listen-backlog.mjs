import net from 'node:net';

/**
 * Benchmark-only preload (`node --import ./test/bench/listen-backlog.mjs`, enabled by `--server-backlog N`): gives
 * every `server.listen(options)` in the process a listen backlog of $BENCH_LISTEN_BACKLOG (Node's default is 511;
 * the kernel caps it at net.core.somaxconn). Shows what a larger accept queue would change, without editing the server.
 */
const backlog = Number(process.env.BENCH_LISTEN_BACKLOG);
if (backlog > 0) {
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    const first = args[0];
    if (first && typeof first === 'object' && !('backlog' in first)) args[0] = { ...first, backlog };
    return listen.apply(this, args);
  };
}
