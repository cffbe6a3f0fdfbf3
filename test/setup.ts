/**
 * Property tests explore with a fixed seed so that CI is reproducible; set FC_SEED to explore other
 * inputs locally (a failure prints its seed and counterexample).
 */
import fc from 'fast-check';

fc.configureGlobal({ seed: Number(process.env['FC_SEED'] ?? 20241124) });
