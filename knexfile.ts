// For the knex CLI (`npm run knex -- migrate:status`): the same database and migrations the service uses.
import { loadConfig } from './src/config';
import { createDatabaseFolder, knexConfig } from './src/store/db';

const config = loadConfig();
createDatabaseFolder(config.database);
export default knexConfig(config.database, { timeoutMs: config.dbTimeoutMs });
