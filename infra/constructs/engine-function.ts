import type { Size } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { NodeFunction, type NodeFunctionProps } from './node-function.js';

/** Share of the function's memory given to DuckDB; Node, the SDK and the fits need the rest. */
const ENGINE_MEMORY_SHARE = 0.6;

export interface EngineFunctionProps extends Omit<NodeFunctionProps, 'nativeEngine' | 'ephemeralStorageSize'> {
  /** Size of /tmp: it holds the engine's scratch files (extracts, the history's partitions, outputs). */
  readonly ephemeralStorageSize: Size;
}

/**
 * A function that runs the pipeline's engine (DuckDB): its native packages beside the bundle,
 * DuckDB given its share of the function's memory (ENGINE_MEMORY_LIMIT) and a home under /tmp.
 */
export class EngineFunction extends NodeFunction {
  constructor(scope: Construct, id: string, props: EngineFunctionProps) {
    super(scope, id, {
      ...props,
      nativeEngine: true,
      env: {
        ...props.env,
        ENGINE_MEMORY_LIMIT: `${Math.floor(props.memorySize * ENGINE_MEMORY_SHARE)}MB`,
        // DuckDB looks for a home directory; Lambda's file system is read-only outside /tmp.
        HOME: '/tmp',
      },
    });
  }
}
