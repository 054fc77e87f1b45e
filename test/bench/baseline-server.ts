import { WebSocketServer } from 'ws';

/**
 * Baseline for the benchmark: a bare `ws` WebSocketServer (no handshake, no database, no fastify), configured like
 * Steward's gateway (perMessageDeflate off, no client tracking), that accepts connections and reads frames.
 * Started with `node --import tsx` like the Steward server, so both carry the same loader overhead.
 */
const port = Number(process.env.PORT);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: false, maxPayload: 4 * 1024 * 1024 });
let open = 0;
wss.on('connection', (ws) => {
  open++;
  ws.on('message', () => {});
  ws.on('error', () => {});
  ws.on('close', () => open--);
});
wss.on('listening', () => process.stdout.write(`baseline listening on ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 60_000).unref();
void open;
