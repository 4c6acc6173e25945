// Hive Gateway for `make bench` (tests/bench/peer.py): serves the supergraph that mesh.config.ts composed.
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  // defaults: protobuf zero values (price 0, version 0) come back as 0, not null
  transportEntries: { tickets: { options: { loadOptions: { defaults: true } } } },
  logging: 'error',
});
