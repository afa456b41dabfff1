// Where the .proto files are: proto/ at the package root, read at runtime (they ship beside the
// compiled code: package files and the Docker image's COPY proto).
import { fileURLToPath } from 'node:url';

/** From dist/src/grpc/ (compiled) up to the package root's proto/. */
export const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));
