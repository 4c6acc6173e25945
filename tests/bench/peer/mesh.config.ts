// The peer gateway of `make bench`: Hive Gateway serving GraphQL generated from our tickets proto, composed at
// bench time (tests/bench/peer.py sets TICKETS_ENDPOINT to the stack's tickets_svc).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadGrpcSubgraph } from '@omnigraph/grpc';

const here = dirname(fileURLToPath(import.meta.url));
const protoRoot = join(here, '..', '..', '..', 'proto'); // absolute: a relative file finds no services

export const composeConfig = defineConfig({
  subgraphs: [
    {
      sourceHandler: loadGrpcSubgraph('tickets', {
        endpoint: process.env.TICKETS_ENDPOINT ?? '127.0.0.1:50052',
        source: {
          file: join(protoRoot, 'ticketstore', 'tickets', 'v1', 'tickets.proto'),
          load: { defaults: true, includeDirs: [protoRoot] }, // defaults: zero values are not null
        },
      }),
    },
  ],
});
