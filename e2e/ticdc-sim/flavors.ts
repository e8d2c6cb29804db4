import type { Flavor, FlavorOptions } from './flavor.js';
import { NewArchFlavor } from './flavor-newarch.js';
import { StubFlavor } from './flavor-stub.js';
import { TiflowFlavor } from './flavor-tiflow.js';
import { V2Flavor } from './flavor-v2.js';
import type { Cluster, SimMode } from './model.js';

export function createFlavor(mode: SimMode, cluster: Cluster, opts: FlavorOptions): Flavor {
  switch (mode) {
    case 'newarch':
      return new NewArchFlavor(cluster, opts);
    case 'v2':
      return new V2Flavor(cluster, opts);
    case 'stub':
      return new StubFlavor(cluster, opts);
    case 'tiflow':
      return new TiflowFlavor(cluster, opts);
  }
}
