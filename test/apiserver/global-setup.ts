// Says once, for the whole run, that the real-API-server suite is skipped and how to run it.
import { controlPlaneAssets, SKIP_MESSAGE } from '../support/control-plane.js';

export default function setup(): void {
  if (!controlPlaneAssets()) process.stdout.write(`${SKIP_MESSAGE}\n`);
}
