// Read an API with the apiconn component on Node.js, through jco.
//
//   npx jco transpile apiconn.wasm -o apiconn-js --name apiconn
//   node examples/node/read.mjs apiconn-js config.json > records.ndjson
//
// The same .wasm as the apiconn CLI uses; here Node's preview2 shim gives it
// wasi:http. The shim has no egress policy and no limits: only the apiconn
// host sandboxes a config.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, configPath] = process.argv.slice(2);
if (!dir || !configPath) {
  console.error('usage: node read.mjs TRANSPILED_DIR CONFIG.json');
  process.exit(2);
}
const { source } = await import(pathToFileURL(resolve(dir, 'apiconn.js')).href);
try {
  // config, environment, stream (none: the config's only stream), saved state
  const reader = source.Reader.open(readFileSync(configPath, 'utf8'), undefined, undefined, undefined);
  let batch;
  while ((batch = reader.nextBatch()) !== undefined) {
    process.stdout.write(batch.records);
  }
} catch (e) {
  // A component error: its variant and message.
  const payload = e.payload ?? e;
  console.error('error:', JSON.stringify(payload.val ?? payload), payload.tag ?? '');
  process.exit(1);
}
