// Measures policy's evaluation in a process of its own (bench/policy-cost.ts starts it with
// criscope's NODE_OPTIONS): the figure is then what criscope's heap settings give, not the bench
// process's, which by the end has run every client of the run. Prints the report as one JSON line.
// argv: [policy file]

import { policyCostReport } from "./policy-cost.js";

const report = await policyCostReport(process.argv[2]);
process.stdout.write(`${JSON.stringify(report)}\n`);
