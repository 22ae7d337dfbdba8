// A relay process sitting between the bench client and a CRI runtime.

import type { ChildHandle } from "./child-process.js";
import type { RelayName } from "./targets.js";

export interface RunningRelay {
  readonly name: RelayName;
  /** Where clients connect to reach the runtime through the relay. */
  readonly socketPath: string;
  readonly child: ChildHandle;
}
