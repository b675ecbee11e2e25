// The baseline for `npm run bench`: bare Koa + koa-bodyparser answering 201 with an id, no validation, no database.
import { randomUUID } from 'node:crypto';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';

const app = new Koa();
app.use(bodyParser());
app.use((ctx) => {
  const id = randomUUID();
  ctx.status = 201;
  ctx.set('Location', `/audits/${id}`);
  ctx.body = JSON.stringify(id);
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  // The same start-up line as the service's log, so both start the same way (spawnServer).
  console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
