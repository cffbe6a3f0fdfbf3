/** functions/env.ts: the one reader of the functions' environment variables. */
import { describe, expect, it } from 'vitest';
import { readEnv } from '../functions/env.js';

describe('readEnv', () => {
  it('returns the required and the optional variables that are set', () => {
    const env = readEnv(['DEST_URI'], ['CONFIG_JSON', 'ENGINE_MEMORY_LIMIT'], { DEST_URI: 's3://b/curated/', CONFIG_JSON: '{}', OTHER: 'x' });
    expect(env).toEqual({ DEST_URI: 's3://b/curated/', CONFIG_JSON: '{}' });
  });

  it('fails naming every required variable that is missing or empty', () => {
    expect(() => readEnv(['SOURCE_URI', 'DEST_URI', 'REPLAY_TABLE'], [], { SOURCE_URI: '', DEST_URI: 's3://b/' })).toThrow(
      'environment variables not set: SOURCE_URI, REPLAY_TABLE',
    );
  });

  it('leaves an empty optional variable unset', () => {
    expect(readEnv([], ['SCHEDULE_TIMEZONE'], { SCHEDULE_TIMEZONE: '' })).toEqual({});
  });
});
