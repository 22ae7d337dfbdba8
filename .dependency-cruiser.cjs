// criscope's rooms (the top-level folders and files of src/), highest first. A room may
// import from the rooms below it, and from its own; never from one above, and nothing in a
// cycle. Rooms on one line are peers: they may import each other (still without cycles).
// `npm run lint` fails on any import that breaks this, naming both files.
const LAYERS = [
  ['cli'],
  ['install', 'http'],
  ['runtime'],
  ['relay'],
  ['telemetry', 'config'],
  ['policy'],
  ['cri'],
  ['errors', 'wire-codes', 'packaged-files'],
];

/** A path pattern for the given rooms: a folder of src/, or a file of src/ itself. */
const rooms = (names) => `^src/(${names.join('|')})(/|\\.ts$)`;

const layerRules = LAYERS.slice(1).map((layer, index) => {
  const above = LAYERS.slice(0, index + 1).flat();
  return {
    name: `layer-order:${layer.join('+')}`,
    comment: `${layer.join(' and ')} may not import from a room above (${above.join(', ')}); the order is LAYERS in .dependency-cruiser.cjs`,
    severity: 'error',
    from: { path: rooms(layer) },
    to: { path: rooms(above) },
  };
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'a cycle of imports: each room and module must depend one way only',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'an import that resolves to no file: the rules above could not see where it points',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'room-not-in-layers',
      comment: 'a part of src/ that is in no room of LAYERS in .dependency-cruiser.cjs: add it where it belongs',
      severity: 'error',
      from: { path: '^src/', pathNot: rooms(LAYERS.flat()) },
      to: {},
    },
    {
      name: 'room-not-in-layers',
      comment: 'an import of a part of src/ that is in no room of LAYERS in .dependency-cruiser.cjs: add it where it belongs',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: rooms(LAYERS.flat()) },
    },
    {
      name: 'src-only',
      comment: 'criscope imports nothing from the tests, the benchmark, the demo or the scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|demo|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are dependencies too: a type from a room above is a back-arrow all the same.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
